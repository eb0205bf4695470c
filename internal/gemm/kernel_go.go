package gemm

// goKernels is the pure-Go fallback, for CPUs without the assembly kernels.
var goKernels = &kernelSet{
	name:    "go",
	kernels: []*kernel{&goKernel4x4},
	pick: func(m, n int) *kernel { return &goKernel4x4 },
}

var goKernel4x4 = kernel{name: "go4x4", mr: 4, nr: 4, kc: 256, mc: 128, nc: 2048, run: kernelGo4x4}

// kernelGo4x4 is the pure-Go micro-kernel: sixteen accumulators are about
// as many as the compiler keeps in registers.
func kernelGo4x4(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a = a[:4*k]
	b = b[:4*k]
	for len(a) >= 4 && len(b) >= 4 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		a = a[4:]
		b = b[4:]
	}
	store4(c[0:4], c00, c01, c02, c03, alpha, beta)
	store4(c[ldc:ldc+4], c10, c11, c12, c13, alpha, beta)
	store4(c[2*ldc:2*ldc+4], c20, c21, c22, c23, alpha, beta)
	store4(c[3*ldc:3*ldc+4], c30, c31, c32, c33, alpha, beta)
}

// store4 sets c[0:4] to alpha*(v0..v3) + beta*c[0:4], not reading c when beta is 0.
func store4(c []float32, v0, v1, v2, v3, alpha, beta float32) {
	c = c[:4]
	if beta == 0 {
		c[0] = alpha * v0
		c[1] = alpha * v1
		c[2] = alpha * v2
		c[3] = alpha * v3
		return
	}
	c[0] = alpha*v0 + beta*c[0]
	c[1] = alpha*v1 + beta*c[1]
	c[2] = alpha*v2 + beta*c[2]
	c[3] = alpha*v3 + beta*c[3]
}
