package nchw

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/gemm"
)

// Gemm is ONNX Gemm on one matrix: Y = alpha*op(A)*op(B) + beta*C, where
// Y is [m][n], A is [m][k] or, with transA, [k][m], and B is [k][n] or,
// with transB, [n][k], all row-major.
//
// C is broadcast to [m][n] from its shape cShape, one of [], [1], [n],
// [1,n], [m,1] or [m,n] (more generally a shape of rank at most 2 that
// broadcasts to [m,n]). A nil c, or beta 0, adds no C term; the latter
// means NaN or Inf in C do not reach y, which ONNX leaves unspecified.
// y must not overlap a, b or c.
func Gemm(y []float32, m, n, k int, transA, transB bool, alpha float32, a, b []float32, beta float32, c []float32, cShape []int) {
	y = y[:m*n]
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	if c == nil || beta == 0 {
		gemm.Sgemm(transA, transB, m, n, k, alpha, a, max(lda, 1), b, max(ldb, 1), 0, y, max(n, 1))
		return
	}
	// Spread C over y, then let the GEMM scale it by beta as it adds the
	// product: Sgemm computes alpha*op(A)*op(B) + beta*Y.
	broadcastMatrix(y, m, n, c, cShape)
	gemm.Sgemm(transA, transB, m, n, k, alpha, a, max(lda, 1), b, max(ldb, 1), beta, y, max(n, 1))
}

// GemmPacked is Gemm with B packed once (gemm.PackB): constant weights.
func GemmPacked(y []float32, m, n, k int, transA bool, alpha float32, a []float32, b *gemm.PackedB, beta float32, c []float32, cShape []int) {
	y = y[:m*n]
	lda := k
	if transA {
		lda = m
	}
	if c == nil || beta == 0 {
		b.Sgemm(transA, m, alpha, a, max(lda, 1), 0, y, max(n, 1))
		return
	}
	broadcastMatrix(y, m, n, c, cShape)
	b.Sgemm(transA, m, alpha, a, max(lda, 1), beta, y, max(n, 1))
}

// broadcastMatrix writes into y, [m][n], the matrix c of shape cShape
// broadcast to [m][n].
func broadcastMatrix(y []float32, m, n int, c []float32, cShape []int) {
	if len(cShape) > 2 {
		panic(fmt.Sprintf("nchw: Gemm's C has rank %d, more than 2", len(cShape)))
	}
	cm, cn := dimAt(cShape, 0, 2), dimAt(cShape, 1, 2)
	for i := range m {
		row := y[i*n : (i+1)*n]
		off := 0
		if cm != 1 {
			off = i * cn
		}
		if cn == 1 {
			fill(row, c[off])
		} else {
			copy(row, c[off:off+n])
		}
	}
}

// MatMul multiplies the row-major matrices a, [m][k], and b, [k][n], into
// y, [m][n]. It covers ONNX MatMul once the compiler has reshaped its
// operands to two dimensions. y must not overlap a or b.
func MatMul(y, a, b []float32, m, k, n int) {
	gemm.Sgemm(false, false, m, n, k, 1, a, max(k, 1), b, max(n, 1), 0, y, max(n, 1))
}
