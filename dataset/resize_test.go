package dataset

import (
	"slices"
	"testing"
)

func TestResize(t *testing.T) {
	// A 4x2 image: columns 10, 30, 50, 70 on both rows.
	src := []byte{10, 30, 50, 70, 10, 30, 50, 70}
	tests := []struct {
		name   string
		dw, dh int
		area   bool
		want   []byte
	}{
		{"same size", 4, 2, false, src},
		{"halve, area", 2, 1, true, []byte{20, 60}},
		// PIL's bilinear halving: a triangle two pixels wide each side,
		// weights 3/8, 3/8, 1/8 (and 1/8 beyond the edge, dropped), renormalised:
		// 42.5/1.75 and 97.5/1.75 rounded, as PIL gives them.
		{"halve, bilinear", 2, 1, false, []byte{24, 56}},
		{"double width, area", 8, 2, true, []byte{10, 10, 30, 30, 50, 50, 70, 70, 10, 10, 30, 30, 50, 50, 70, 70}},
		{"double width, bilinear", 8, 1, false, []byte{10, 15, 25, 35, 45, 55, 65, 70}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := resize(src, 4, 2, tc.dw, tc.dh, tc.area)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Any size of a uniform picture stays uniform.
	grey := slices.Repeat([]byte{77}, 13*7)
	for _, area := range []bool{false, true} {
		for _, size := range [][2]int{{1, 1}, {28, 28}, {5, 40}} {
			if got := resize(grey, 13, 7, size[0], size[1], area); slices.Min(got) != 77 || slices.Max(got) != 77 || len(got) != size[0]*size[1] {
				t.Errorf("uniform 13x7 to %v (area %v): %d values in [%d, %d]", size, area, len(got), slices.Min(got), slices.Max(got))
			}
		}
	}
}

// TestResizeRefuses: Resize returns an error, and no image, for sizes no
// image has and for too few bytes.
func TestResizeRefuses(t *testing.T) {
	for _, c := range []struct {
		src            []byte
		sw, sh, dw, dh int
	}{
		{make([]byte, 4), 2, 2, 0, 3},
		{make([]byte, 4), 2, 2, 3, 5000},
		{make([]byte, 3), 2, 2, 3, 3},
		{nil, -1, 2, 3, 3},
	} {
		if out, err := Resize(c.src, c.sw, c.sh, c.dw, c.dh, false); err == nil || out != nil {
			t.Errorf("%d bytes, %dx%d to %dx%d: %d bytes, error %v", len(c.src), c.sw, c.sh, c.dw, c.dh, len(out), err)
		}
	}
	if out, err := Resize([]byte{10, 30, 50, 70}, 2, 2, 1, 1, true); err != nil || len(out) != 1 || out[0] != 40 {
		t.Errorf("2x2 to 1x1 by area: %v, %v; want [40]", out, err)
	}
}
