// Package gemm multiplies float32 matrices: the one kernel that convolution
// (through im2col) and the fully connected layers spend their time in.
//
// Sgemm packs panels of A and B into contiguous buffers and runs a
// register-blocked micro-kernel over them. On amd64 the micro-kernels are
// written in assembly (AVX-512 or AVX2+FMA, picked at run time); elsewhere,
// or when built with the tag purego, a blocked pure-Go kernel is used.
// Sgemm runs on the calling goroutine only and may be called from several
// goroutines at once.
//
// GemvT multiplies one row by a matrix kept transposed, several outputs a
// pass over the row, and Dot is one such output: a dense layer for one
// image, where a tile of Sgemm's micro-kernels would be mostly empty. They
// dispatch likewise, to AVX-512, AVX2+FMA or pure-Go kernels.
package gemm

import "fmt"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n;
// lda, ldb, ldc are the row strides of A, B and C as stored.
// When beta is 0, C is overwritten without being read.
//
// Like the BLAS routine it mirrors, Sgemm panics when a dimension is
// negative or a slice or stride is too small for the shape it is given: such
// a call is a bug in the caller, and the assembly kernels must never be
// handed memory outside the slices.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err)
	}
	gemm(defaultKernels, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkArgs reports whether the slices and strides hold the matrices the
// shape describes.
func checkArgs(transA, transB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("gemm: negative dimension m=%d n=%d k=%d", m, n, k)
	}
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	if err := checkMatrix("A", aRows, aCols, lenA, lda); err != nil {
		return err
	}
	if err := checkMatrix("B", bRows, bCols, lenB, ldb); err != nil {
		return err
	}
	return checkMatrix("C", m, n, lenC, ldc)
}

// checkMatrix reports whether a row-major rows x cols matrix with row stride
// ld fits in a slice of length n.
func checkMatrix(name string, rows, cols, n, ld int) error {
	if ld < max(1, cols) {
		return fmt.Errorf("gemm: %s has %d columns but stride %d", name, cols, ld)
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if need := (rows-1)*ld + cols; n < need {
		return fmt.Errorf("gemm: %s is %dx%d with stride %d, needs %d elements, has %d", name, rows, cols, ld, need, n)
	}
	return nil
}

// KernelName names the kernel set Sgemm runs on this CPU: "avx512",
// "avx2" or "go" (lenetkit bench reports it).
func KernelName() string { return defaultKernels.name }

// TileRows is the rows of the tile Sgemm's wide kernel computes on this
// CPU: 8 with AVX-512, 6 with AVX2. A product of a multiple of them
// leaves no tile part-empty.
func TileRows() int { return defaultKernels.kernels[0].mr }
