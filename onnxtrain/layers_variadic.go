package onnxtrain

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/onnx"
)

func init() { register(computed(buildVariadic), "Sum", "Mean", "Max", "Min") }

// variadic is Sum, Mean, Max or Min of any number of tensors broadcast to
// one shape (from opset 8; of one shape before it). idx[k] maps each
// output element to the element of input k it reads (nil where input k
// has the output's shape). Max and Min send each output's gradient to
// the first input that holds the extreme value, a subgradient.
type variadic struct {
	op  string
	idx [][]int32
	arg []int32 // Max, Min: the input each output came from
}

func buildVariadic(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	var shapes [][]int
	for _, v := range in {
		if v == nil || v.node == nil {
			return nil, nil, fmt.Errorf("every input must be a float tensor")
		}
		if b.opset < 8 && !slices.Equal(v.shape, in[0].shape) {
			return nil, nil, fmt.Errorf("before opset 8 the inputs have one shape, not %v and %v", in[0].shape, v.shape)
		}
		shapes = append(shapes, v.shape)
	}
	out := shapes[0]
	for _, s := range shapes[1:] {
		var err error
		if out, err = broadcastShape(out, s); err != nil {
			return nil, nil, err
		}
	}
	l := &variadic{op: n.OpType, idx: make([][]int32, len(shapes))}
	for k, s := range shapes {
		if !slices.Equal(s, out) {
			l.idx[k] = broadcastIndex(s, out)
		}
	}
	if l.op == "Max" || l.op == "Min" {
		l.arg = make([]int32, size(out))
	}
	return l, out, nil
}

func (l *variadic) forward(y []float32, in [][]float32) {
	for e := range y {
		acc := at(in[0], l.idx[0], e)
		arg := int32(0)
		for k := 1; k < len(in); k++ {
			v := at(in[k], l.idx[k], e)
			switch {
			case l.op == "Sum" || l.op == "Mean":
				acc += v
			case v != v || acc != acc:
				// NaN wins, as in the backend's kernels.
				if acc == acc {
					acc, arg = v, int32(k)
				}
			case l.op == "Max" && v > acc, l.op == "Min" && v < acc:
				acc, arg = v, int32(k)
			}
		}
		if l.op == "Mean" {
			acc /= float32(len(in))
		}
		y[e] = acc
		if l.arg != nil {
			l.arg[e] = arg
		}
	}
}

func (l *variadic) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	for _, d := range dx {
		clear(d)
	}
	scale := float32(1)
	if l.op == "Mean" {
		scale = 1 / float32(len(dx))
	}
	for e, g := range dy {
		for k, d := range dx {
			if d == nil || (l.arg != nil && l.arg[e] != int32(k)) {
				continue
			}
			d[index(l.idx[k], e)] += g * scale
		}
	}
}
