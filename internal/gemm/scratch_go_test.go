package gemm

import (
	"testing"
)

func kernelGo3x4(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	a = a[:3*k]
	b = b[:4*k]
	for len(a) >= 3 && len(b) >= 4 {
		a0, a1, a2 := a[0], a[1], a[2]
		b0 := b[0]
		c00 += a0 * b0
		c10 += a1 * b0
		c20 += a2 * b0
		b1 := b[1]
		c01 += a0 * b1
		c11 += a1 * b1
		c21 += a2 * b1
		b2 := b[2]
		c02 += a0 * b2
		c12 += a1 * b2
		c22 += a2 * b2
		b3 := b[3]
		c03 += a0 * b3
		c13 += a1 * b3
		c23 += a2 * b3
		a = a[3:]
		b = b[4:]
	}
	store4(c[0:4], c00, c01, c02, c03, alpha, beta)
	store4(c[ldc:ldc+4], c10, c11, c12, c13, alpha, beta)
	store4(c[2*ldc:2*ldc+4], c20, c21, c22, c23, alpha, beta)
}

func kernelGo2x4(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	a = a[:2*k]
	b = b[:4*k]
	for len(a) >= 2 && len(b) >= 4 {
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c10 += a1 * b0
		c01 += a0 * b1
		c11 += a1 * b1
		c02 += a0 * b2
		c12 += a1 * b2
		c03 += a0 * b3
		c13 += a1 * b3
		a = a[2:]
		b = b[4:]
	}
	store4(c[0:4], c00, c01, c02, c03, alpha, beta)
	store4(c[ldc:ldc+4], c10, c11, c12, c13, alpha, beta)
}

func kernelGo4x4i(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a = a[:4*k]
	b = b[:4*k]
	for p := 0; p < k; p++ {
		aa := a[4*p : 4*p+4 : 4*p+4]
		bb := b[4*p : 4*p+4 : 4*p+4]
		b0 := bb[0]
		c00 += aa[0] * b0
		c10 += aa[1] * b0
		c20 += aa[2] * b0
		c30 += aa[3] * b0
		b1 := bb[1]
		c01 += aa[0] * b1
		c11 += aa[1] * b1
		c21 += aa[2] * b1
		c31 += aa[3] * b1
		b2 := bb[2]
		c02 += aa[0] * b2
		c12 += aa[1] * b2
		c22 += aa[2] * b2
		c32 += aa[3] * b2
		b3 := bb[3]
		c03 += aa[0] * b3
		c13 += aa[1] * b3
		c23 += aa[2] * b3
		c33 += aa[3] * b3
	}
	store4(c[0:4], c00, c01, c02, c03, alpha, beta)
	store4(c[ldc:ldc+4], c10, c11, c12, c13, alpha, beta)
	store4(c[2*ldc:2*ldc+4], c20, c21, c22, c23, alpha, beta)
	store4(c[3*ldc:3*ldc+4], c30, c31, c32, c33, alpha, beta)
}

func BenchmarkScratchGo(b *testing.B) {
	ks := []*kernel{
		&goKernel4x4,
		{name: "go3x4", mr: 3, nr: 4, kc: 256, mc: 129, nc: 2048, run: kernelGo3x4},
		{name: "go2x4", mr: 2, nr: 4, kc: 256, mc: 128, nc: 2048, run: kernelGo2x4},
		{name: "go4x4i", mr: 4, nr: 4, kc: 256, mc: 128, nc: 2048, run: kernelGo4x4i},
	}
	for _, s := range benchShapes[:3] {
		for _, k := range ks {
			b.Run(s.name+"/"+k.name, func(b *testing.B) {
				benchmark(b, with(only(goKernels, k)), s.transA, s.transB, s.m, s.n, s.k, s.beta)
			})
		}
	}
}
