package onnxtrain

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/gemm"
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

func (l *matmul) forward(y []float32, in [][]float32) {
	gemm.Sgemm(l.transA, l.transB, l.m, l.n, l.k, l.alpha, in[0], l.lda(), in[1], l.ldb(), 0, y, l.n)
	if l.c != nil {
		c := in[2]
		for e := range y {
			y[e] += l.beta * at(c, l.c.ib, e)
		}
	}
}

func (l *matmul) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	a, b := in[0], in[1]
	if dx[0] != nil {
		if l.transA { // dA [k, m] = op(B) dY^T
			gemm.Sgemm(l.transB, true, l.k, l.m, l.n, l.alpha, b, l.ldb(), dy, l.n, 0, dx[0], l.m)
		} else { // dA [m, k] = dY op(B)^T
			gemm.Sgemm(false, !l.transB, l.m, l.k, l.n, l.alpha, dy, l.n, b, l.ldb(), 0, dx[0], l.k)
		}
	}
	if dx[1] != nil {
		if l.transB { // dB [n, k] = dY^T op(A)
			gemm.Sgemm(true, l.transA, l.n, l.k, l.m, l.alpha, dy, l.n, a, l.lda(), 0, dx[1], l.k)
		} else { // dB [k, n] = op(A)^T dY
			gemm.Sgemm(!l.transA, false, l.k, l.n, l.m, l.alpha, a, l.lda(), dy, l.n, 0, dx[1], l.n)
		}
	}
	if l.c != nil && len(dx) > 2 && dx[2] != nil {
		clear(dx[2])
		for e, g := range dy {
			dx[2][index(l.c.ib, e)] += l.beta * g
		}
	}
}
