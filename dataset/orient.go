package dataset

import (
	"fmt"
	"strings"
)

// Orientation turns an upright image into the one a model was trained on:
// its steps, applied in order. EMNIST's files store each letter
// transposed, and torchvision's EMNIST gives them so: a model trained on
// them without turning them back takes its images transposed
// ("transpose"); one trained on them flipped after transposing
// (x.transpose(1, 2).flip(2)), mirrored ("mirror").
type Orientation []OrientStep

// OrientStep is one step of an Orientation.
type OrientStep uint8

const (
	// Transpose swaps rows and columns: pixel (r, c) goes to (c, r).
	Transpose OrientStep = iota + 1
	// Mirror flips left and right (torchvision's hflip).
	Mirror
	// Flip turns the image upside down (torchvision's vflip).
	Flip
)

var stepNames = map[OrientStep]string{Transpose: "transpose", Mirror: "mirror", Flip: "flip"}

// ParseOrientation reads --orient's value: steps named transpose, mirror
// or flip, separated by commas; "" or "none" is no step.
func ParseOrientation(s string) (Orientation, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var o Orientation
	for _, name := range strings.Split(s, ",") {
		step := OrientStep(0)
		for k, v := range stepNames {
			if v == strings.TrimSpace(name) {
				step = k
			}
		}
		if step == 0 {
			return nil, newError(ErrOption, "", fmt.Sprintf("orientation %q: want transpose, mirror or flip, or several separated by commas", s))
		}
		o = append(o, step)
	}
	return o, nil
}

func (o Orientation) String() string {
	names := make([]string, len(o))
	for i, s := range o {
		names[i] = stepNames[s]
	}
	return strings.Join(names, ",")
}

// Fits reports whether images of h x w keep their size through o: a
// transpose needs a square.
func (o Orientation) Fits(h, w int) bool {
	for _, s := range o {
		if s == Transpose && h != w {
			return false
		}
	}
	return true
}

// Orienter orients images of one size, as For made it; safe for
// concurrent use.
type Orienter struct {
	src  []int // for each oriented pixel, the upright pixel it takes
	h, w int
}

// For returns the Orienter of o for images of h x w, nil when o has no
// step. o must fit h x w (Fits).
func (o Orientation) For(h, w int) *Orienter {
	if len(o) == 0 {
		return nil
	}
	src, next := make([]int, h*w), make([]int, h*w)
	for i := range src {
		src[i] = i
	}
	for _, s := range o {
		for r := range h {
			for c := range w {
				switch s {
				case Transpose:
					next[c*h+r] = src[r*w+c]
				case Mirror:
					next[r*w+w-1-c] = src[r*w+c]
				case Flip:
					next[(h-1-r)*w+c] = src[r*w+c]
				}
			}
		}
		src, next = next, src
	}
	return &Orienter{src: src, h: h, w: w}
}

// Planes orients, in place, each of the h x w planes that x holds one
// after the other (an image's channels, or images); a nil Orienter leaves
// them. tmp, when it holds h*w floats, spares an allocation.
func (r *Orienter) Planes(x []float32, tmp []float32) {
	if r == nil || r.h*r.w == 0 {
		return
	}
	n := r.h * r.w
	if len(tmp) < n {
		tmp = make([]float32, n)
	}
	for p := 0; p+n <= len(x); p += n {
		plane := x[p : p+n]
		copy(tmp[:n], plane)
		for i, s := range r.src {
			plane[i] = tmp[s]
		}
	}
}
