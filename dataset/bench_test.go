package dataset

import "testing"

// BenchmarkFill measures a batch of 128 MNIST-sized images converted to
// floats, as they are and augmented with DefaultAugment.
func BenchmarkFill(b *testing.B) {
	const n, side = 1024, 28
	pix := make([]byte, n*side*side)
	for i := range pix {
		pix[i] = byte(i * 31)
	}
	s := newSet(side, side, []string{"0"}, &store{pix: pix, labels: make([]int32, n), idxPath: "x"})
	idx := make([]int, 128)
	for i := range idx {
		idx[i] = i * 7 % n
	}
	x := make([]float32, len(idx)*side*side)
	for _, bc := range []struct {
		name string
		aug  Augment
	}{{"plain", Augment{}}, {"augmented", DefaultAugment}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := s.Fill(idx, x, nil, FillOptions{Augment: bc.aug, Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
