package gemm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPanels checks every kernel set's panel packing, fast paths included,
// against the definition, and that it writes nothing past the panel.
func TestPanels(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	sets := append([]*kernelSet{goKernels}, asmKernels...)
	for range 300 {
		w := 1 + rng.IntN(40)
		n := 1 + rng.IntN(w)
		if rng.IntN(2) == 0 {
			n = w
		}
		kb := 1 + rng.IntN(70)
		ld := max(n, kb) + rng.IntN(5)
		src := random(rng, max(n, kb)*ld)
		name := fmt.Sprintf("w=%d n=%d kb=%d ld=%d", w, n, kb, ld)

		wantT := make([]float32, kb*w+guard)
		wantC := make([]float32, kb*w+guard)
		for p := range kb {
			for i := range n {
				wantT[p*w+i] = src[i*ld+p]
				wantC[p*w+i] = src[p*ld+i]
			}
		}
		for i := kb * w; i < len(wantT); i++ {
			wantT[i], wantC[i] = sentinel, sentinel
		}
		for _, ks := range sets {
			got := filled(kb*w+guard, sentinel)
			transposePanel(ks, w, n, kb, src, ld, got)
			if !slices.Equal(got, wantT) {
				t.Errorf("%s: transposePanel %s: got %v, want %v", ks.name, name, got, wantT)
			}
			got = filled(kb*w+guard, sentinel)
			copyPanel(ks, w, n, kb, src, ld, got)
			if !slices.Equal(got, wantC) {
				t.Errorf("%s: copyPanel %s: got %v, want %v", ks.name, name, got, wantC)
			}
		}
	}
}

func filled(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}
