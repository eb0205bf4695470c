package dataset

import (
	"errors"
	"slices"
	"testing"
)

// TestOrientation: each step moves pixels as torchvision's transpose,
// hflip and vflip do, steps compose in order, and a transpose needs a
// square.
func TestOrientation(t *testing.T) {
	// 0 1 2
	// 3 4 5
	wide := []float32{0, 1, 2, 3, 4, 5}
	// 0 1 2
	// 3 4 5
	// 6 7 8
	square := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8}
	cases := []struct {
		orient string
		h, w   int
		in     []float32
		want   []float32
	}{
		{"mirror", 2, 3, wide, []float32{2, 1, 0, 5, 4, 3}},
		{"flip", 2, 3, wide, []float32{3, 4, 5, 0, 1, 2}},
		{"mirror,flip", 2, 3, wide, []float32{5, 4, 3, 2, 1, 0}},
		{"transpose", 3, 3, square, []float32{0, 3, 6, 1, 4, 7, 2, 5, 8}},
		// transpose then mirror: a quarter turn clockwise
		{"transpose,mirror", 3, 3, square, []float32{6, 3, 0, 7, 4, 1, 8, 5, 2}},
		{"transpose,transpose", 3, 3, square, square},
		{"none", 2, 3, wide, wide},
	}
	for _, c := range cases {
		o, err := ParseOrientation(c.orient)
		if err != nil {
			t.Fatalf("%s: %v", c.orient, err)
		}
		// two images of one plane each, and the orientation applies to both
		x := append(slices.Clone(c.in), c.in...)
		o.For(c.h, c.w).Planes(x, nil)
		if want := append(slices.Clone(c.want), c.want...); !slices.Equal(x, want) {
			t.Errorf("%s of %v: %v, want %v", c.orient, c.in, x, want)
		}
		if c.orient != "none" && o.String() != c.orient {
			t.Errorf("%s reads back as %q", c.orient, o)
		}
	}
	if o, _ := ParseOrientation("mirror,transpose"); o.Fits(2, 3) || !o.Fits(3, 3) {
		t.Error("a transpose fits a 2x3 image, or not a 3x3 one")
	}
	for _, bad := range []string{"rotate", "transpose,", "Mirror"} {
		if _, err := ParseOrientation(bad); !errors.Is(err, ErrOption) {
			t.Errorf("%q: %v, want ErrOption", bad, err)
		}
	}
}

// TestFillOriented: Fill turns each image after padding it, and refuses
// a transpose of images that are not square.
func TestFillOriented(t *testing.T) {
	st := &store{pix: []byte{0, 255, 0, 0}, labels: []int32{0}}
	s := newSet(2, 2, []string{"a"}, st)
	x := make([]float32, 16)
	o, _ := ParseOrientation("transpose")
	if err := s.Fill([]int{0}, x, nil, FillOptions{Pad: 1, Orient: o}); err != nil {
		t.Fatal(err)
	}
	// the 255 at (0, 1) of the image is (1, 2) padded, (2, 1) transposed
	want := make([]float32, 16)
	want[2*4+1] = 1
	if !slices.Equal(x, want) {
		t.Errorf("%v, want %v", x, want)
	}
	wide := newSet(2, 3, []string{"a"}, &store{pix: make([]byte, 6), labels: []int32{0}})
	if err := wide.Fill([]int{0}, make([]float32, 6), nil, FillOptions{Orient: o}); !errors.Is(err, ErrOption) {
		t.Errorf("a transpose of 2x3 images: %v, want ErrOption", err)
	}
}

// TestOrienterEmpty: no Orienter, and one of images of no pixels, leave
// what they are given.
func TestOrienterEmpty(t *testing.T) {
	x := []float32{1, 2}
	var none *Orienter
	none.Planes(x, nil)
	o, _ := ParseOrientation("mirror")
	o.For(0, 3).Planes(x, nil)
	if !slices.Equal(x, []float32{1, 2}) {
		t.Errorf("%v", x)
	}
}
