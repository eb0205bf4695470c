package dataset

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestParseAugment(t *testing.T) {
	tests := []struct {
		in   string
		want Augment
		err  string // part of the error; "" for none
	}{
		{"", Augment{}, ""},
		{"none", Augment{}, ""},
		{"shift,rotate,scale", DefaultAugment, ""},
		{"shift=2,rotate=10,scale=0.9:1.1", Augment{Shift: 2, Rotate: 10, ScaleMin: 0.9, ScaleMax: 1.1}, ""},
		{" rotate = 15 , shift=12.5% ", Augment{Shift: 0.125, ShiftFraction: true, Rotate: 15}, ""},
		{"scale=1:1", Augment{ScaleMin: 1, ScaleMax: 1}, ""},
		{"flip", Augment{}, `unknown transform "flip"`},
		{"rotate=200", Augment{}, "degrees from 0 to 180"},
		{"rotate=-1", Augment{}, "degrees from 0 to 180"},
		{"shift=60%", Augment{}, "percentage from 0 to 50"},
		{"shift=x", Augment{}, "pixels"},
		{"scale=1.1", Augment{}, "MIN:MAX"},
		{"scale=1.1:0.9", Augment{}, "from 1.1 to 10"},
		{"scale=0:1", Augment{}, "from 0.001"},
		{"rotate,rotate=5", Augment{}, "rotate given twice"},
		{"rotate=NaN", Augment{}, "degrees"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAugment(tc.in)
			if tc.err != "" {
				if !errors.Is(err, ErrOption) {
					t.Fatalf("got %+v, %v; want an option error", got, err)
				}
				oneLine(t, err, tc.err, tc.in, "shift=2,rotate=10,scale=0.9:1.1")
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			back, err := ParseAugment(got.String())
			if err != nil || back != got {
				t.Errorf("String %q reads back as %+v, %v", got.String(), back, err)
			}
		})
	}
}

// ramp is an h x w image whose pixel (x, y) is a distinct value.
func ramp(h, w int) []float32 {
	img := make([]float32, h*w)
	for i := range img {
		img[i] = float32(i+1) / float32(h*w)
	}
	return img
}

func TestAffine(t *testing.T) {
	const h, w = 5, 7
	src := ramp(h, w)
	at := func(img []float32, x, y int) float32 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0
		}
		return img[y*w+x]
	}
	tests := []struct {
		name                 string
		angle, tx, ty, scale float64
		want                 func(x, y int) float32
	}{
		{"identity", 0, 0, 0, 1, func(x, y int) float32 { return at(src, x, y) }},
		{"shift right 2, up 1", 0, 2, -1, 1, func(x, y int) float32 { return at(src, x-2, y+1) }},
		// 180 degrees about the centre (3, 2) maps (x, y) to (6-x, 4-y).
		{"half turn", 180, 0, 0, 1, func(x, y int) float32 { return at(src, w-1-x, h-1-y) }},
		// Doubling about the centre: output (x, y) reads (3+(x-3)/2, 2+(y-2)/2).
		{"double, at odd offsets", 0, 0, 0, 2, func(x, y int) float32 {
			if (x-3)%2 != 0 || (y-2)%2 != 0 {
				return float32(math.NaN()) // between pixels: not checked
			}
			return at(src, 3+(x-3)/2, 2+(y-2)/2)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, h*w)
			Affine(dst, src, h, w, tc.angle, tc.tx, tc.ty, tc.scale)
			for y := range h {
				for x := range w {
					want := tc.want(x, y)
					if !math.IsNaN(float64(want)) && math.Abs(float64(dst[y*w+x]-want)) > 1e-5 {
						t.Errorf("(%d, %d) = %g, want %g", x, y, dst[y*w+x], want)
					}
				}
			}
		})
	}
	// A quarter turn counter-clockwise as seen takes the pixel right of
	// the centre of a square to above it.
	sq := make([]float32, 25)
	sq[2*5+4] = 1
	dst := make([]float32, 25)
	Affine(dst, sq, 5, 5, 90, 0, 0, 1)
	if dst[0*5+2] < 0.999 || slices.Max(dst[5:]) > 1e-6 {
		t.Errorf("quarter turn moved (4, 2) elsewhere than (2, 0): %v", dst)
	}
}

// TestFillAugmentDeterministic: the same seed and epoch give the same
// images whatever the batch; another epoch or seed, others.
func TestFillAugmentDeterministic(t *testing.T) {
	const n, h, w = 6, 12, 12
	pix := make([]byte, n*h*w)
	for i := range pix {
		pix[i] = byte(i * 37)
	}
	s := newSet(h, w, []string{"a", "b"}, &store{pix: pix, labels: make([]int32, n), idxPath: "x"})
	aug := DefaultAugment
	fill := func(idx []int, seed uint64, epoch int) []float32 {
		x := make([]float32, len(idx)*h*w)
		if err := s.Fill(idx, x, nil, FillOptions{Augment: aug, Seed: seed, Epoch: epoch}); err != nil {
			t.Fatal(err)
		}
		return x
	}
	all := fill([]int{0, 1, 2, 3, 4, 5}, 7, 0)
	if !slices.Equal(all, fill([]int{0, 1, 2, 3, 4, 5}, 7, 0)) {
		t.Error("the same seed gave other images")
	}
	if !slices.Equal(all[3*h*w:4*h*w], fill([]int{5, 3}, 7, 0)[h*w:]) {
		t.Error("image 3 differs when batched with others")
	}
	for _, other := range [][]float32{fill([]int{3}, 7, 1), fill([]int{3}, 8, 0)} {
		if slices.Equal(all[3*h*w:4*h*w], other) {
			t.Error("another epoch or seed gave the same image")
		}
	}
	plain := make([]float32, h*w)
	if err := s.Fill([]int{3}, plain, nil, FillOptions{}); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(all[3*h*w:4*h*w], plain) {
		t.Error("augmentation left the image as it was")
	}
	// The draws span the ranges: over many images, angles near both ends.
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := 0.0, 0.0
	for range 200 {
		v := (2*r.Float64() - 1) * aug.Rotate
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo > -9 || hi < 9 {
		t.Errorf("angles in [%g, %g], want near ±10", lo, hi)
	}
}

func TestFillPad(t *testing.T) {
	s := newSet(2, 3, []string{"a", "b"}, &store{pix: []byte{0, 51, 255, 102, 0, 0, 9, 9, 9, 9, 9, 9}, labels: []int32{1, 0}, idxPath: "x"})
	x := make([]float32, 4*5)
	y := make([]int64, 1)
	if err := s.Fill([]int{0}, x, y, FillOptions{Pad: 1}); err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 0, 0, 0, 0, 0, 0, 0.2, 1, 0, 0, 0.4, 0, 0, 0, 0, 0, 0, 0, 0}
	if !slices.Equal(x, want) || y[0] != 1 {
		t.Errorf("got %v label %d, want %v label 1", x, y[0], want)
	}
	bad := []struct {
		name string
		idx  []int
		x    []float32
		opt  FillOptions
	}{
		{"index out of range", []int{2}, make([]float32, 6), FillOptions{}},
		{"x too short", []int{0}, make([]float32, 5), FillOptions{}},
		{"negative pad", []int{0}, make([]float32, 6), FillOptions{Pad: -1}},
		{"bad augment", []int{0}, make([]float32, 6), FillOptions{Augment: Augment{Rotate: 500}}},
	}
	for _, b := range bad {
		if err := s.Fill(b.idx, b.x, nil, b.opt); !errors.Is(err, ErrOption) {
			t.Errorf("%s: %v, want an option error", b.name, err)
		}
	}
}
