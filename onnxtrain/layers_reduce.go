package onnxtrain

import (
	"fmt"

	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(computed(buildReduce), "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin")
	register(computed(buildGlobalMaxPool), "GlobalMaxPool")
}

// reduce is ReduceSum, ReduceMean, ReduceMax or ReduceMin: out[i] is the
// output element input element i falls into. ReduceMax (ReduceMin) sends
// each output's gradient to the first input that holds the maximum (the
// minimum; a NaN, which wins as in the backend, or the first of equal
// ones), a subgradient.
type reduce struct {
	op    string
	out   []int32
	count float64   // inputs per output
	acc   []float64 // per output, the sums in float64
	arg   []int32   // ReduceMax, ReduceMin: the input each output came from
}

// buildReduce: the axes are an attribute up to opset 12 for ReduceSum and
// 17 for the others, a constant input from then on; none means all of
// them, or with noop_with_empty_axes none at all (the input itself).
func buildReduce(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	keep, err := n.Attrs.Int("keepdims", 1)
	if err != nil {
		return nil, nil, err
	}
	noop, err := n.Attrs.Int("noop_with_empty_axes", 0)
	if err != nil {
		return nil, nil, err
	}
	since := int64(18)
	if n.OpType == "ReduceSum" {
		since = 13
	}
	var axes []int64
	if b.opset < since {
		axes, err = n.Attrs.Ints("axes")
	} else {
		axes, err = constInts(in, 1, "axes")
	}
	if err != nil {
		return nil, nil, err
	}
	if len(axes) == 0 && noop != 0 {
		return nil, nil, nil
	}
	s := in[0].shape
	flags := make([]bool, len(s))
	for _, a := range axes {
		ax, err := normAxis(a, len(s))
		if err != nil {
			return nil, nil, err
		}
		if flags[ax] {
			return nil, nil, fmt.Errorf("axis %d repeated in %v", ax, axes)
		}
		flags[ax] = true
	}
	var shape, kept []int // kept: the output's shape with every axis
	for k, d := range s {
		switch {
		case len(axes) > 0 && !flags[k]:
			shape, kept = append(shape, d), append(kept, d)
		case keep != 0:
			shape, kept = append(shape, 1), append(kept, 1)
		default:
			kept = append(kept, 1)
		}
	}
	if len(shape) == 0 {
		return nil, nil, fmt.Errorf("a reduction of %v to a scalar is not supported in training", s)
	}
	l := &reduce{op: n.OpType, out: broadcastIndex(kept, s), count: float64(size(s) / size(shape)), acc: make([]float64, size(shape))}
	if l.op == "ReduceMax" || l.op == "ReduceMin" {
		l.arg = make([]int32, size(shape))
	}
	return l, shape, nil
}

func (l *reduce) forward(y []float32, in [][]float32) {
	x := in[0]
	if l.arg != nil {
		for i := range l.arg {
			l.arg[i] = -1
		}
		min := l.op == "ReduceMin"
		for i, o := range l.out {
			a := l.arg[o]
			if a < 0 || !min && x[i] > x[a] || min && x[i] < x[a] || x[i] != x[i] && x[a] == x[a] {
				l.arg[o] = int32(i)
			}
		}
		for o, a := range l.arg {
			y[o] = x[a]
		}
		return
	}
	clear(l.acc)
	for i, o := range l.out {
		l.acc[o] += float64(x[i])
	}
	for o, s := range l.acc {
		if l.op == "ReduceMean" {
			s /= l.count
		}
		y[o] = float32(s)
	}
}

func (l *reduce) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	if l.arg != nil {
		clear(dx[0])
		for o, a := range l.arg {
			dx[0][a] = dy[o]
		}
		return
	}
	scale := float32(1)
	if l.op == "ReduceMean" {
		scale = float32(1 / l.count)
	}
	for i, o := range l.out {
		dx[0][i] = dy[o] * scale
	}
}

// globalMaxPool is the largest value of each channel's plane; its
// gradient goes to the first pixel that holds it, as MaxPool's does.
type globalMaxPool struct {
	hw  int
	arg []int32
}

func buildGlobalMaxPool(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s := in[0].shape
	if len(s) < 3 {
		return nil, nil, fmt.Errorf("input of shape %v: want [N, C, spatial...]", s)
	}
	out := []int{s[0], s[1]}
	for range s[2:] {
		out = append(out, 1)
	}
	return &globalMaxPool{hw: size(s[2:]), arg: make([]int32, s[0]*s[1])}, out, nil
}

func (p *globalMaxPool) forward(y []float32, in [][]float32) {
	for pl := range p.arg {
		a := pl * p.hw
		for i := a + 1; i < (pl+1)*p.hw; i++ {
			if in[0][i] > in[0][a] {
				a = i
			}
		}
		p.arg[pl], y[pl] = int32(a), in[0][a]
	}
}

func (p *globalMaxPool) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	clear(dx[0])
	for pl, a := range p.arg {
		dx[0][a] = dy[pl]
	}
}
