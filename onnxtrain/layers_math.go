package onnxtrain

import (
	"fmt"
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/vmath"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(buildUnary, "Relu", "LeakyRelu", "Tanh", "Sigmoid", "Clip", "Elu")
	register(buildBinary, "Add", "Sub", "Mul", "Div")
}

// unary is an elementwise activation. Relu and Tanh, the common ones, run
// as vmath's vector kernels; the others call f for y and df for the
// derivative from x and y.
type unary struct {
	relu, tanh bool // the common ones
	f          func(x float32) float32
	df         func(x, y float32) float32
}

func buildUnary(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	switch n.OpType {
	case "Relu":
		return &unary{relu: true}, in[0].shape, nil
	case "LeakyRelu":
		a, err := n.Attrs.Float("alpha", 0.01)
		if err != nil {
			return nil, nil, err
		}
		return &unary{f: func(x float32) float32 { return max(x, 0) + a*min(x, 0) },
			df: func(x, _ float32) float32 { return step(x > 0) + a*step(x <= 0) }}, in[0].shape, nil
	case "Elu":
		a, err := n.Attrs.Float("alpha", 1)
		if err != nil {
			return nil, nil, err
		}
		return &unary{f: func(x float32) float32 {
			if x > 0 {
				return x
			}
			return a * float32(math.Expm1(float64(x)))
		}, df: func(x, y float32) float32 {
			if x > 0 {
				return 1
			}
			return y + a
		}}, in[0].shape, nil
	case "Tanh":
		return &unary{tanh: true}, in[0].shape, nil
	case "Sigmoid":
		return &unary{f: func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) },
			df: func(_, y float32) float32 { return y * (1 - y) }}, in[0].shape, nil
	}
	lo, hi, err := clipBounds(b, n, in)
	if err != nil {
		return nil, nil, err
	}
	return &unary{f: func(x float32) float32 { return min(max(x, lo), hi) },
		df: func(x, _ float32) float32 { return step(x > lo && x < hi) }}, in[0].shape, nil
}

// clipBounds reads Clip's bounds: attributes before opset 11, constant
// inputs from it on.
func clipBounds(b *builder, n *onnx.Node, in []*value) (lo, hi float32, err error) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if b.opset < 11 {
		if lo, err = n.Attrs.Float("min", lo); err != nil {
			return 0, 0, err
		}
		hi, err = n.Attrs.Float("max", hi)
		return lo, hi, err
	}
	for i, dst := range []*float32{&lo, &hi} {
		if len(in) > i+1 && in[i+1] != nil {
			k := in[i+1].konst
			if k == nil || len(k.Float) != 1 {
				return 0, 0, fmt.Errorf("its bounds must be constant scalars")
			}
			*dst = k.Float[0]
		}
	}
	return lo, hi, nil
}

func step(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// vectorGrain is the fewest elements of a vmath kernel worth handing to a
// worker of kernel.Parallel: Tanh takes about half a nanosecond an
// element, so smaller pieces cost more to hand out than to compute. The
// scalar functions of the other activations split at 4096.
const vectorGrain = 1 << 14

func (u *unary) forward(y []float32, in [][]float32) {
	x := in[0][:len(y)]
	switch {
	case u.relu:
		vmath.Relu(y, x)
	case u.tanh:
		inChunks(len(y), vectorGrain, func(lo, hi int) { vmath.Tanh(y[lo:hi], x[lo:hi]) })
	default:
		inChunks(len(y), 4096, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				y[i] = u.f(x[i])
			}
		})
	}
}

func (u *unary) backward(dx [][]float32, dy, y []float32, in [][]float32) {
	d, x := dx[0][:len(dy)], in[0][:len(dy)]
	switch {
	case u.relu:
		vmath.ReluGrad(d, dy, x)
	case u.tanh:
		inChunks(len(dy), vectorGrain, func(lo, hi int) { vmath.TanhGrad(d[lo:hi], dy[lo:hi], y[lo:hi]) })
	default:
		inChunks(len(dy), 4096, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				d[i] = dy[i] * u.df(x[i], y[i])
			}
		})
	}
}

// inChunks runs fn over [0, n) split among kernel.Parallel's workers in
// pieces of a multiple of grain elements.
func inChunks(n, grain int, fn func(lo, hi int)) {
	kernel.Parallel(n/grain+1, func(_, lo, hi int) {
		if lo, hi = lo*grain, min(hi*grain, n); lo < hi {
			fn(lo, hi)
		}
	})
}

// binary is Add, Sub, Mul or Div with NumPy broadcasting. ia and ib map
// each output element to the element of a and b it reads (nil where the
// operand has the output's shape); the gradient of an operand sums over
// the outputs that read each of its elements.
type binary struct {
	op     string
	ia, ib []int32
	na, nb int
}

func buildBinary(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	if len(in) != 2 || in[0] == nil || in[1] == nil || in[0].node == nil || in[1].node == nil {
		return nil, nil, fmt.Errorf("want two float inputs")
	}
	as, bs := in[0].shape, in[1].shape
	out, err := broadcastShape(as, bs)
	if err != nil {
		return nil, nil, err
	}
	l := &binary{op: n.OpType, na: size(as), nb: size(bs)}
	if !slices.Equal(as, out) {
		l.ia = broadcastIndex(as, out)
	}
	if !slices.Equal(bs, out) {
		l.ib = broadcastIndex(bs, out)
	}
	return l, out, nil
}

func broadcastShape(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range r {
		da, db := dimFromEnd(a, r-1-i), dimFromEnd(b, r-1-i)
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

func dimFromEnd(s []int, k int) int {
	if k < len(s) {
		return s[len(s)-1-k]
	}
	return 1
}

// broadcastIndex maps each element of a tensor of shape out to the element
// of a tensor of shape s broadcast to it.
func broadcastIndex(s, out []int) []int32 {
	r := len(out)
	strides := make([]int, r)
	st := 1
	for i := r - 1; i >= 0; i-- {
		if d := dimFromEnd(s, r-1-i); d != 1 {
			strides[i] = st
			st *= d
		}
	}
	idx := make([]int32, size(out))
	coord := make([]int, r)
	for e := range idx {
		off := 0
		for i, c := range coord {
			off += c * strides[i]
		}
		idx[e] = int32(off)
		for i := r - 1; i >= 0; i-- {
			if coord[i]++; coord[i] < out[i] {
				break
			}
			coord[i] = 0
		}
	}
	return idx
}

func at(x []float32, idx []int32, e int) float32 {
	if idx == nil {
		return x[e]
	}
	return x[idx[e]]
}

func (l *binary) forward(y []float32, in [][]float32) {
	a, b := in[0], in[1]
	for e := range y {
		av, bv := at(a, l.ia, e), at(b, l.ib, e)
		switch l.op {
		case "Add":
			y[e] = av + bv
		case "Sub":
			y[e] = av - bv
		case "Mul":
			y[e] = av * bv
		default:
			y[e] = av / bv
		}
	}
}

func (l *binary) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	a, b := in[0], in[1]
	if dx[0] != nil {
		clear(dx[0])
	}
	if dx[1] != nil {
		clear(dx[1])
	}
	for e, g := range dy {
		av, bv := at(a, l.ia, e), at(b, l.ib, e)
		var ga, gb float32
		switch l.op {
		case "Add":
			ga, gb = g, g
		case "Sub":
			ga, gb = g, -g
		case "Mul":
			ga, gb = g*bv, g*av
		default:
			ga, gb = g/bv, -g*av/(bv*bv)
		}
		if dx[0] != nil {
			dx[0][index(l.ia, e)] += ga
		}
		if dx[1] != nil {
			dx[1][index(l.ib, e)] += gb
		}
	}
}

func index(idx []int32, e int) int {
	if idx == nil {
		return e
	}
	return int(idx[e])
}
