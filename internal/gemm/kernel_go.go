package gemm

// goKernels is the pure-Go fallback, for CPUs without the assembly kernels.
var goKernels = &kernelSet{
	name:    "go",
	kernels: []*kernel{&goKernel3x2},
	pick:    func(m, n int) *kernel { return &goKernel3x2 },
	shifted: &shiftedKernel{mr: 4, nr: 4, run: shiftedGo},
}

var goKernel3x2 = kernel{name: "go-3x2", mr: 3, nr: 2, kc: 256, mc: 129, nc: 2048, run: kernelGo3x2}

// kernelGo3x2 is the pure-Go micro-kernel. Its tile is small because the
// compiler keeps the accumulators, a column of A and a row of B in registers
// only up to about this size; larger tiles measured slower (amd64, Go 1.26).
func kernelGo3x2(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c10, c11, c20, c21 float32
	a = a[:3*k]
	b = b[:2*k]
	for len(a) >= 3 && len(b) >= 2 {
		b0, b1 := b[0], b[1]
		a0 := a[0]
		c00 += a0 * b0
		c01 += a0 * b1
		a1 := a[1]
		c10 += a1 * b0
		c11 += a1 * b1
		a2 := a[2]
		c20 += a2 * b0
		c21 += a2 * b1
		a = a[3:]
		b = b[2:]
	}
	store2(c[0:2], c00, c01, alpha, beta)
	store2(c[ldc:ldc+2], c10, c11, alpha, beta)
	store2(c[2*ldc:2*ldc+2], c20, c21, alpha, beta)
}

// store2 sets c[0:2] to alpha*(v0, v1) + beta*c[0:2], not reading c when beta is 0.
func store2(c []float32, v0, v1, alpha, beta float32) {
	c = c[:2]
	if beta == 0 {
		c[0], c[1] = alpha*v0, alpha*v1
		return
	}
	c[0], c[1] = alpha*v0+beta*c[0], alpha*v1+beta*c[1]
}
