package onnxtrain

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/onnx"
)

// constants evaluate, while the graph is built, the nodes that compute
// shapes and axes: their inputs are all constants (or, for Shape, have a
// static shape), so their outputs are too. Exporters write such chains
// (Shape, Gather, Unsqueeze, Concat feeding a Reshape) for a flatten.
var constants = map[string]func(b *builder, n *onnx.Node, in []*value) ([]*onnx.Tensor, error){
	"Constant":  evalConstant,
	"Shape":     evalShape,
	"Gather":    evalGather,
	"Unsqueeze": evalReshapeConst,
	"Squeeze":   evalReshapeConst,
	"Reshape":   evalReshapeConst,
	"Flatten":   evalReshapeConst,
	"Identity":  evalIdentity,
	"Concat":    evalConcat,
	"Cast":      evalCast,
}

// shapeOnly are the constant evaluations that read no input's values.
var shapeOnly = map[string]bool{"Shape": true}

func evalConstant(_ *builder, n *onnx.Node, _ []*value) ([]*onnx.Tensor, error) {
	t, err := n.Attrs.ConstantValue()
	if err != nil {
		return nil, err
	}
	return []*onnx.Tensor{t}, nil
}

func evalShape(_ *builder, n *onnx.Node, in []*value) ([]*onnx.Tensor, error) {
	s := in[0].shape
	start, err := n.Attrs.Int("start", 0)
	if err != nil {
		return nil, err
	}
	end, err := n.Attrs.Int("end", int64(len(s)))
	if err != nil {
		return nil, err
	}
	lo, hi := clampAxis(int(start), len(s)), clampAxis(int(end), len(s))
	t := &onnx.Tensor{DType: onnx.Int64, Shape: []int{max(hi-lo, 0)}, Int: []int64{}}
	for _, d := range s[lo:max(hi, lo)] {
		t.Int = append(t.Int, int64(d))
	}
	return []*onnx.Tensor{t}, nil
}

func clampAxis(a, r int) int {
	if a < 0 {
		a += r
	}
	return min(max(a, 0), r)
}

func evalIdentity(_ *builder, _ *onnx.Node, in []*value) ([]*onnx.Tensor, error) {
	return []*onnx.Tensor{in[0].konst}, nil
}

func evalGather(_ *builder, n *onnx.Node, in []*value) ([]*onnx.Tensor, error) {
	data, idx := in[0].konst, in[1].konst
	axis, err := n.Attrs.Int("axis", 0)
	if err != nil {
		return nil, err
	}
	if len(data.Shape) != 1 || axis != 0 || idx.Int == nil {
		return nil, fmt.Errorf("lenetkit evaluates Gather of one axis of a 1-D constant only")
	}
	out := &onnx.Tensor{DType: data.DType, Shape: slices.Clone(idx.Shape)}
	for _, i := range idx.Int {
		if i < 0 {
			i += int64(data.Shape[0])
		}
		if i < 0 || i >= int64(data.Shape[0]) {
			return nil, fmt.Errorf("index %d outside %d elements", i, data.Shape[0])
		}
		if data.Int != nil {
			out.Int = append(out.Int, data.Int[i])
		} else {
			out.Float = append(out.Float, data.Float[i])
		}
	}
	return []*onnx.Tensor{out}, nil
}

func evalReshapeConst(b *builder, n *onnx.Node, in []*value) ([]*onnx.Tensor, error) {
	shape, err := reshaped(b, n, in)
	if err != nil {
		return nil, err
	}
	t := *in[0].konst
	t.Shape = shape
	if size(shape) != t.Len() {
		return nil, fmt.Errorf("%v cannot be reshaped to %v", in[0].konst.Shape, shape)
	}
	return []*onnx.Tensor{&t}, nil
}

func evalConcat(_ *builder, n *onnx.Node, in []*value) ([]*onnx.Tensor, error) {
	out := &onnx.Tensor{Shape: []int{0}}
	for _, v := range in {
		t := v.konst
		if len(t.Shape) != 1 {
			return nil, fmt.Errorf("lenetkit evaluates Concat of 1-D constants only")
		}
		out.DType = t.DType
		out.Int = append(out.Int, t.Int...)
		out.Float = append(out.Float, t.Float...)
		out.Shape[0] += t.Shape[0]
	}
	return []*onnx.Tensor{out}, nil
}

func evalCast(_ *builder, n *onnx.Node, in []*value) ([]*onnx.Tensor, error) {
	to, err := n.Attrs.Int("to", 0)
	if err != nil {
		return nil, err
	}
	src := in[0].konst
	out := &onnx.Tensor{DType: onnx.DType(to), Shape: slices.Clone(src.Shape)}
	switch {
	case out.DType.IsFloat():
		out.Float = src.Floats()
	default:
		out.Int = src.Ints()
	}
	return []*onnx.Tensor{out}, nil
}
