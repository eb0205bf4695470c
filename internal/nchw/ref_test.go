package nchw

import (
	"math"
	"math/rand/v2"
	"testing"
)

// newRand returns a generator with a fixed seed, so that a failure repeats.
func newRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// randn returns n normally distributed values times scale.
func randn(rng *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * scale)
	}
	return s
}

// poisoned returns n NaNs: an output buffer a kernel must overwrite in full.
func poisoned(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(math.NaN())
	}
	return s
}

// wide converts s to float64 for the references.
func wide(s []float32) []float64 {
	w := make([]float64, len(s))
	for i, v := range s {
		w[i] = float64(v)
	}
	return w
}

// checkClose fails t unless every got[i] is within 1e-5*(1+|want[i]|) of
// want[i] and the lengths agree. It reports the first mismatch only.
func checkClose(t *testing.T, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := float64(got[i])
		if !(math.Abs(g-w) <= 1e-5*(1+math.Abs(w))) {
			t.Errorf("element %d of %d: got %v, want %v", i, len(want), g, w)
			return
		}
	}
}
