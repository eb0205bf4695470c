package onnxtrain

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(buildGemm, "Gemm")
	register(buildMatMul, "MatMul")
}

// matmul is Gemm, y = alpha op(A) op(B) + beta C with C broadcast to
// [m, n], and MatMul, whose A's leading dimensions are rows and whose B is
// a matrix. Its gradients are the two matrix products of dY with the other
// operand, and dC the sum of beta dY over what C was broadcast along.
type matmul struct {
	m, n, k        int
	transA, transB bool
	alpha, beta    float32
	c              *binary // the broadcast add of C, nil without C
}

func buildGemm(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	ta, err := n.Attrs.Int("transA", 0)
	if err != nil {
		return nil, nil, err
	}
	tb, err := n.Attrs.Int("transB", 0)
	if err != nil {
		return nil, nil, err
	}
	alpha, err := n.Attrs.Float("alpha", 1)
	if err != nil {
		return nil, nil, err
	}
	beta, err := n.Attrs.Float("beta", 1)
	if err != nil {
		return nil, nil, err
	}
	a, bb := in[0].shape, shapeOf(in[1])
	if len(a) != 2 || len(bb) != 2 || in[1].node == nil {
		return nil, nil, fmt.Errorf("operands of shapes %v and %v: want two float matrices", a, bb)
	}
	l := &matmul{m: a[0], k: a[1], n: bb[1], transA: ta != 0, transB: tb != 0, alpha: alpha, beta: beta}
	if l.transA {
		l.m, l.k = a[1], a[0]
	}
	kb := bb[0]
	if l.transB {
		l.n, kb = bb[0], bb[1]
	}
	if kb != l.k {
		return nil, nil, fmt.Errorf("operands of shapes %v and %v (transA %d, transB %d) do not multiply", a, bb, ta, tb)
	}
	out := []int{l.m, l.n}
	if len(in) > 2 && in[2] != nil {
		if in[2].node == nil {
			return nil, nil, fmt.Errorf("C must be a float tensor")
		}
		add, _, err := buildBinary(b, &onnx.Node{OpType: "Add"}, []*value{{shape: out, node: in[0].node}, in[2]})
		if err != nil {
			return nil, nil, fmt.Errorf("C: %w", err)
		}
		l.c = add.(*binary)
	}
	return l, out, nil
}

func buildMatMul(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	a, bb := in[0].shape, shapeOf(in[1])
	if len(a) < 2 || len(bb) != 2 || in[1].node == nil {
		return nil, nil, fmt.Errorf("operands of shapes %v and %v: lenetkit trains [..., K] x [K, N] products only", a, bb)
	}
	k := a[len(a)-1]
	if bb[0] != k {
		return nil, nil, fmt.Errorf("operands of shapes %v and %v do not multiply", a, bb)
	}
	out := append(append([]int{}, a[:len(a)-1]...), bb[1])
	return &matmul{m: size(a) / k, k: k, n: bb[1], alpha: 1}, out, nil
}

func (l *matmul) lda() int {
	if l.transA {
		return l.m
	}
	return l.k
}

func (l *matmul) ldb() int {
	if l.transB {
		return l.k
	}
	return l.n
}

// parallelRows runs rows(lo, hi) over the rows [0, m) of a product of work
// multiply-adds, split between the CPUs in blocks of 16 rows where each
// gets enough work to pay for the hand-over, else at once. The products of
// a graph's dense layers would otherwise run on one CPU while the others
// wait (Keras's 784 to 16: about a tenth of its training step on two).
func parallelRows(m, work int, rows func(lo, hi int)) {
	const minWork = 1 << 18 // multiply-adds, some tens of microseconds
	const block = 16
	blocks := (m + block - 1) / block
	if min(kernel.Workers(), blocks, work/minWork) <= 1 {
		rows(0, m)
		return
	}
	kernel.Parallel(blocks, func(_, lo, hi int) {
		rows(lo*block, min(hi*block, m))
	})
}

// The row blocks of an operand: rows lo.. of X as stored (ld apart), or,
// of X transposed, its columns lo...
func rowsFrom(x []float32, trans bool, lo, ld int) []float32 {
	if trans {
		return x[lo:]
	}
	return x[lo*ld:]
}

func (l *matmul) forward(y []float32, in [][]float32) {
	parallelRows(l.m, l.m*l.n*l.k, func(lo, hi int) {
		gemm.Sgemm(l.transA, l.transB, hi-lo, l.n, l.k, l.alpha, rowsFrom(in[0], l.transA, lo, l.lda()), l.lda(), in[1], l.ldb(), 0, y[lo*l.n:], l.n)
	})
	if l.c != nil {
		c := in[2]
		for e := range y {
			y[e] += l.beta * at(c, l.c.ib, e)
		}
	}
}

func (l *matmul) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	a, b := in[0], in[1]
	work := l.m * l.n * l.k
	if dx[0] != nil {
		if l.transA { // dA [k, m] = op(B) dY^T
			parallelRows(l.k, work, func(lo, hi int) {
				gemm.Sgemm(l.transB, true, hi-lo, l.m, l.n, l.alpha, rowsFrom(b, l.transB, lo, l.ldb()), l.ldb(), dy, l.n, 0, dx[0][lo*l.m:], l.m)
			})
		} else { // dA [m, k] = dY op(B)^T
			parallelRows(l.m, work, func(lo, hi int) {
				gemm.Sgemm(false, !l.transB, hi-lo, l.k, l.n, l.alpha, dy[lo*l.n:], l.n, b, l.ldb(), 0, dx[0][lo*l.k:], l.k)
			})
		}
	}
	if dx[1] != nil {
		if l.transB { // dB [n, k] = dY^T op(A)
			parallelRows(l.n, work, func(lo, hi int) {
				gemm.Sgemm(true, l.transA, hi-lo, l.k, l.m, l.alpha, dy[lo:], l.n, a, l.lda(), 0, dx[1][lo*l.k:], l.k)
			})
		} else { // dB [k, n] = op(A)^T dY
			parallelRows(l.k, work, func(lo, hi int) {
				gemm.Sgemm(!l.transA, false, hi-lo, l.n, l.m, l.alpha, rowsFrom(a, !l.transA, lo, l.lda()), l.lda(), dy, l.n, 0, dx[1][lo*l.n:], l.n)
			})
		}
	}
	if l.c != nil && len(dx) > 2 && dx[2] != nil {
		clear(dx[2])
		for e, g := range dy {
			dx[2][index(l.c.ib, e)] += l.beta * g
		}
	}
}
