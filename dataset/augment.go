package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Augment is a random affine transform of training images, as torchvision's
// RandomAffine(degrees, translate, scale) draws it: an angle uniform in
// [-Rotate, Rotate] degrees (counter-clockwise as seen), a translation of
// each axis uniform in [-Shift, Shift] pixels rounded to whole pixels, and a
// scale uniform in [ScaleMin, ScaleMax], about the image's centre. Pixels
// are sampled bilinearly; what comes from outside the image is 0, the
// background. The zero Augment does nothing.
type Augment struct {
	// Shift is the largest translation, in pixels, or as a fraction of
	// the width (x) and height (y) when ShiftFraction is set, as
	// torchvision's translate is.
	Shift         float64
	ShiftFraction bool
	Rotate        float64 // degrees, 0 to 180
	// ScaleMin and ScaleMax bound the scale; both 0 means no scaling.
	ScaleMin, ScaleMax float64
}

// DefaultAugment is what ParseAugment gives the names alone, torchvision's
// RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)).
var DefaultAugment = Augment{Shift: 0.1, ShiftFraction: true, Rotate: 10, ScaleMin: 0.9, ScaleMax: 1.1}

// Bounds of ParseAugment's values: past them an image is mostly gone.
const (
	maxShiftFraction = 0.5
	maxShiftPixels   = 1000
	maxScale         = 10
)

// ParseAugment reads --augment's value: comma-separated transforms, each a
// name alone (DefaultAugment's range for it) or name=range:
//
//	shift=2      up to 2 pixels each way; shift=10% a tenth of the side
//	rotate=10    up to 10 degrees either way
//	scale=0.9:1.1
//
// "" and "none" are no augmentation. Every error is one line.
func ParseAugment(s string) (Augment, error) {
	var a Augment
	if t := strings.TrimSpace(s); t == "" || t == "none" {
		return a, nil
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		name, val, hasVal := strings.Cut(strings.TrimSpace(item), "=")
		name = strings.TrimSpace(name)
		if seen[name] {
			return Augment{}, augError(s, fmt.Sprintf("%s given twice", name))
		}
		seen[name] = true
		var err error
		switch name {
		case "shift":
			a.Shift, a.ShiftFraction = DefaultAugment.Shift, DefaultAugment.ShiftFraction
			if hasVal {
				a.Shift, a.ShiftFraction, err = parseShift(val)
			}
		case "rotate":
			a.Rotate = DefaultAugment.Rotate
			if hasVal {
				a.Rotate, err = parseNumber(val, 0, 180, "degrees from 0 to 180")
			}
		case "scale":
			a.ScaleMin, a.ScaleMax = DefaultAugment.ScaleMin, DefaultAugment.ScaleMax
			if hasVal {
				a.ScaleMin, a.ScaleMax, err = parseScale(val)
			}
		default:
			return Augment{}, augError(s, fmt.Sprintf("unknown transform %q", name))
		}
		if err != nil {
			return Augment{}, augError(s, name+": "+err.Error())
		}
	}
	return a, nil
}

func augError(s, why string) error {
	return newError(ErrOption, "", fmt.Sprintf("augment %q: %s; want shift, rotate and scale with optional ranges, such as shift=2,rotate=10,scale=0.9:1.1", s, why))
}

func parseNumber(s string, lo, hi float64, want string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(f >= lo && f <= hi) {
		return 0, fmt.Errorf("%q is not %s", s, want)
	}
	return f, nil
}

func parseShift(s string) (float64, bool, error) {
	if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		f, err := parseNumber(p, 0, 100*maxShiftFraction, "a percentage from 0 to 50")
		return f / 100, true, err
	}
	f, err := parseNumber(s, 0, maxShiftPixels, "pixels from 0 to 1000 (or a percentage such as 10%)")
	return f, false, err
}

func parseScale(s string) (float64, float64, error) {
	lo, hi, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a range MIN:MAX", s)
	}
	a, err := parseNumber(lo, 1e-3, maxScale, "a scale from 0.001 to 10")
	if err != nil {
		return 0, 0, err
	}
	b, err := parseNumber(hi, a, maxScale, fmt.Sprintf("a scale from %g to 10", a))
	return a, b, err
}

// String is the value ParseAugment reads back as a.
func (a Augment) String() string {
	var parts []string
	if a.Shift > 0 {
		if a.ShiftFraction {
			parts = append(parts, "shift="+strconv.FormatFloat(100*a.Shift, 'g', -1, 64)+"%")
		} else {
			parts = append(parts, "shift="+strconv.FormatFloat(a.Shift, 'g', -1, 64))
		}
	}
	if a.Rotate > 0 {
		parts = append(parts, "rotate="+strconv.FormatFloat(a.Rotate, 'g', -1, 64))
	}
	if a.scales() {
		parts = append(parts, "scale="+strconv.FormatFloat(a.ScaleMin, 'g', -1, 64)+":"+strconv.FormatFloat(a.ScaleMax, 'g', -1, 64))
	}
	if parts == nil {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Enabled tells whether a transforms images at all.
func (a Augment) Enabled() bool { return a.Shift > 0 || a.Rotate > 0 || a.scales() }

func (a Augment) scales() bool { return a.ScaleMin != 0 || a.ScaleMax != 0 }

// check refuses an Augment that ParseAugment would not give.
func (a Augment) check() error {
	ok := a.Shift >= 0 && a.Rotate >= 0 && a.Rotate <= 180 &&
		(!a.scales() || a.ScaleMin > 0 && a.ScaleMin <= a.ScaleMax && a.ScaleMax <= maxScale) &&
		(a.ShiftFraction && a.Shift <= maxShiftFraction || !a.ShiftFraction && a.Shift <= maxShiftPixels)
	if !ok {
		return newError(ErrOption, "", fmt.Sprintf("augmentation out of range: %+v", a))
	}
	return nil
}

// augmentStream keeps augmentation's draws apart from the split's and the
// shuffle's (package mnist's streams) of the same seed.
const augmentStream = 0x6175676d656e74 // "augment"

// rand is the generator of one image's parameters: a function of the seed,
// the epoch and the image alone, so that batching and order change nothing.
func (a Augment) rand(seed uint64, epoch, image int) *rand.Rand {
	key := mix(augmentStream ^ mix(uint64(epoch)) ^ mix(mix(uint64(image))+1))
	return rand.New(rand.NewPCG(seed, key))
}

// mix is SplitMix64's finaliser: nearby inputs give unrelated outputs.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Apply writes into dst the h x w image src transformed with parameters
// drawn from r, in torchvision's order (angle, translation, scale). dst and
// src hold h*w values and must not overlap.
func (a Augment) Apply(dst, src []float32, h, w int, r *rand.Rand) {
	angle, tx, ty, scale := 0.0, 0.0, 0.0, 1.0
	if a.Rotate > 0 {
		angle = (2*r.Float64() - 1) * a.Rotate
	}
	if a.Shift > 0 {
		mx, my := a.Shift, a.Shift
		if a.ShiftFraction {
			mx, my = a.Shift*float64(w), a.Shift*float64(h)
		}
		tx = math.Round((2*r.Float64() - 1) * mx)
		ty = math.Round((2*r.Float64() - 1) * my)
	}
	if a.scales() {
		scale = a.ScaleMin + r.Float64()*(a.ScaleMax-a.ScaleMin)
	}
	Affine(dst, src, h, w, angle, tx, ty, scale)
}

// Affine writes into dst the h x w image src rotated by angle degrees
// (counter-clockwise as seen, y pointing down), scaled by scale about the
// image's centre and moved by (tx, ty) pixels, sampling src bilinearly at
// each output pixel's preimage, with 0 outside src.
func Affine(dst, src []float32, h, w int, angle, tx, ty, scale float64) {
	sin, cos := math.Sincos(angle * math.Pi / 180)
	cx, cy := float64(w-1)/2, float64(h-1)/2
	inv := 1 / scale
	at := func(x, y int) float32 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0
		}
		return src[y*w+x]
	}
	for v := range h {
		for u := range w {
			dx, dy := float64(u)-cx-tx, float64(v)-cy-ty
			xs := (dx*cos-dy*sin)*inv + cx
			ys := (dx*sin+dy*cos)*inv + cy
			x0, y0 := math.Floor(xs), math.Floor(ys)
			fx, fy := float32(xs-x0), float32(ys-y0)
			if x0 < -1 || y0 < -1 || x0 >= float64(w) || y0 >= float64(h) {
				dst[v*w+u] = 0
				continue
			}
			i, j := int(x0), int(y0)
			top := at(i, j)*(1-fx) + at(i+1, j)*fx
			bottom := at(i, j+1)*(1-fx) + at(i+1, j+1)*fx
			dst[v*w+u] = top*(1-fy) + bottom*fy
		}
	}
}
