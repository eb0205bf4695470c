package testtool

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// SameLogitsWhateverTheBatch checks that logits (a classifier's, for n
// images of px floats, classes a row) gives 300 random images the same
// bits in batches of 1, 3, 7 and 128 as in one batch of all of them:
// alone, split between the CPUs, or among others in chunks of any size.
func SameLogitsWhateverTheBatch(t *testing.T, logits func(out, x []float32, n int) error, px, classes int) {
	t.Helper()
	const n = 300
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*px)
	for i := range x {
		x[i] = rng.Float32()
	}
	in := func(batch int) []float32 {
		out := make([]float32, n*classes)
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			if err := logits(out[lo*classes:hi*classes], x[lo*px:hi*px], hi-lo); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	want := in(n)
	for _, batch := range []int{1, 3, 7, 128} {
		if got := in(batch); !slices.Equal(got, want) {
			t.Errorf("batch %d: the logits differ from those of one batch of %d", batch, n)
		}
	}
}
