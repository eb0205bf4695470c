package onnxtrain

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/onnx"
)

// noGradient are the operators of lenetkit's backend that have no
// gradient here, with why: their outputs are integers or do not depend on
// their inputs' values. They are evaluated while the graph is built when
// their inputs are constants (const.go); one fed by a trained weight's
// value is refused by name (builder.node, ErrNoGradient). Every operator
// the backend runs is a family of this package, a constant evaluation,
// or in this list (nograd_test.go holds the two registries to that).
var noGradient = map[string]string{
	"Shape":           "its output is its input's shape, not a function of its values",
	"ConstantOfShape": "its output is a constant whose shape its integer input gives",
	"Constant":        "it has no input",
	"Round":           whole,
	"Floor":           whole,
	"Ceil":            whole,
	// Quantized graphs are inference graphs: integer values have no
	// gradient. The way to a quantized model is to train the float one and
	// quantize it afterwards.
	"QuantizeLinear":        quantized,
	"DequantizeLinear":      quantized,
	"DynamicQuantizeLinear": quantized,
	"QLinearConv":           quantized,
	"QLinearMatMul":         quantized,
	"ConvInteger":           quantized,
	"MatMulInteger":         quantized,
}

const whole = "its output is a whole number, whose gradient is zero wherever it has one"

const quantized = "it works on integers (a quantized graph), which have no gradient; train the float model, then run lenetkit quantize"

func init() {
	constants["ConstantOfShape"] = evalConstantOfShape
	register(buildCast, "Cast")
}

// evalConstantOfShape fills the shape its constant input gives with the
// value attribute's one element, a float 0 by default.
func evalConstantOfShape(_ *builder, n *onnx.Node, in []*value) ([]*onnx.Tensor, error) {
	k := in[0].konst
	if k.DType.IsFloat() || len(k.Shape) > 1 {
		return nil, fmt.Errorf("the shape must be a 1-D integer tensor")
	}
	val, err := n.Attrs.Tensor("value")
	if err != nil {
		return nil, err
	}
	if val == nil {
		val = &onnx.Tensor{DType: onnx.Float, Float: []float32{0}}
	}
	if val.Len() != 1 {
		return nil, fmt.Errorf("value holds %d elements, not 1", val.Len())
	}
	out := &onnx.Tensor{DType: val.DType}
	for _, d := range k.Int {
		if d < 0 || d > 1<<30 {
			return nil, fmt.Errorf("dimension %d", d)
		}
		out.Shape = append(out.Shape, int(d))
	}
	if n := size(out.Shape); n > 1<<26 {
		return nil, fmt.Errorf("a constant of shape %v is too large", out.Shape)
	}
	if val.DType.IsFloat() {
		out.Float = slices.Repeat(val.Float, size(out.Shape))
	} else {
		out.Int = slices.Repeat(val.Int, size(out.Shape))
	}
	return []*onnx.Tensor{out}, nil
}

// buildCast: a cast between float types is the identity here (the graph
// computes in float32, as the backend does); a cast of a computed value
// to an integer type has no gradient, and no value lenetkit could keep.
func buildCast(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	to, err := n.Attrs.Int("to", int64(onnx.Float))
	if err != nil {
		return nil, nil, err
	}
	if onnx.DType(to).IsFloat() {
		return nil, nil, nil
	}
	if in[0].grad {
		return nil, nil, fmt.Errorf("%w for a Cast to %v (its output is an integer tensor): lenetkit cannot train through it; freeze the weights before it (--freeze) or train another graph", ErrNoGradient, onnx.DType(to))
	}
	return nil, nil, fmt.Errorf("a Cast of a computed value to %v is %w", onnx.DType(to), onnx.ErrUnsupported)
}

// computed wraps a family whose first input must be a float tensor the
// graph computes or holds: an integer constant there (shape arithmetic
// that const.go does not evaluate) has no node to read.
func computed(f family) family {
	return func(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
		if in[0].node == nil {
			return nil, nil, fmt.Errorf("input %q is an integer constant: %w as the input of a trained graph's %s", n.Inputs[0], onnx.ErrUnsupported, n.OpType)
		}
		return f(b, n, in)
	}
}
