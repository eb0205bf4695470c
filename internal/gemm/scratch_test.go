package gemm

import (
	"fmt"
	"testing"
)

func BenchmarkScratchBlocking(b *testing.B) {
	for _, s := range benchShapes {
		for _, base := range avx512Kernels.kernels[:2] {
			for _, kc := range []int{128, 256, 384, 512} {
				for _, mc := range []int{64, 128, 256} {
					kk := *base
					kk.kc, kk.mc = kc, mc
					b.Run(fmt.Sprintf("%s/%s/kc%d/mc%d", s.name, kk.name, kc, mc), func(b *testing.B) {
						benchmark(b, with(only(avx512Kernels, &kk)), s.transA, s.transB, s.m, s.n, s.k, s.beta)
					})
				}
			}
		}
	}
}
