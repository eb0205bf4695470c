package train

import (
	"slices"
	"testing"
)

// TestColourChannels: a colour set's planes go to a graph of [C, H, W] as
// they are and to one of [H, W, C] interleaved, pixel by pixel; a graph
// of another shape, or of one channel, does not take them.
func TestColourChannels(t *testing.T) {
	const h, w = 2, 2
	// two images, planes R G B of 4 pixels each: value = 100*image + 10*plane + pixel
	x := make([]float32, 2*3*h*w)
	for i := range 2 {
		for p := range 3 {
			for k := range h * w {
				x[i*12+p*4+k] = float32(100*i + 10*p + k)
			}
		}
	}
	first, ok := fitChannels([]int{3, h, w}, h, w, 3)
	if !ok || first.last || first.px != 12 {
		t.Fatalf("[3, H, W]: %+v, %v", first, ok)
	}
	same := slices.Clone(x)
	first.spread(same, 2)
	if !slices.Equal(same, x) {
		t.Errorf("[3, H, W] changed the planes: %v", same)
	}
	last, ok := fitChannels([]int{h, w, 3}, h, w, 3)
	if !ok || !last.last {
		t.Fatalf("[H, W, 3]: %+v, %v", last, ok)
	}
	last.spread(x, 2)
	want := []float32{0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23, 100, 110, 120, 101, 111, 121, 102, 112, 122, 103, 113, 123}
	if !slices.Equal(x, want) {
		t.Errorf("[H, W, 3]: %v, want %v", x, want)
	}
	for _, image := range [][]int{{1, h, w}, {3, h + 1, w}, {h * w * 3}} {
		if c, ok := fitChannels(image, h, w, 3); ok {
			t.Errorf("%v took a colour set: %+v", image, c)
		}
	}
}
