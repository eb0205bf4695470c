package backend

// Elementwise operators: activations and broadcasting arithmetic.

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
)

func init() {
	register(map[string]handler{
		"Relu": compileRelu, "Tanh": unary(nchw.Tanh), "Sigmoid": unary(nchw.Sigmoid),
		"LeakyRelu": compileLeakyRelu,
		"Add":       elementwise(nchw.Add), "Sub": elementwise(nchw.Sub), "Mul": elementwise(nchw.Mul), "Div": elementwise(nchw.Div),
	})
}

func unary(fn func(y, x []float32)) func(*compiler, op) error {
	return func(c *compiler, o op) error {
		x, err := c.in(o, 0)
		if err != nil {
			return err
		}
		if x.c != nil {
			y, err := c.folded(x.shape, false)
			if err != nil {
				return err
			}
			fn(y.f, x.c.floats())
			return c.set(o, 0, &val{shape: x.shape, c: y})
		}
		y, err := c.computed(x.shape)
		if err != nil {
			return err
		}
		y.nhwc = x.nhwc // elementwise: any layout
		c.steps = append(c.steps, unaryStep{fn: fn, in: x.buf, out: y.buf})
		return c.set(o, 0, y)
	}
}

func compileLeakyRelu(c *compiler, o op) error {
	alpha, err := o.attrs.Float("alpha", 0.01)
	if err != nil {
		return err
	}
	return unary(func(y, x []float32) { nchw.LeakyRelu(y, x, alpha) })(c, o)
}

func elementwise(bop nchw.BinaryOp) func(*compiler, op) error {
	return func(c *compiler, o op) error {
		a, b, err := c.two(o)
		if err != nil {
			return err
		}
		shape, err := nchw.BroadcastShape(a.shape, b.shape)
		if err != nil {
			return modelfile.FormatErrorf("%s of %v and %v: %w", o.typ, a.shape, b.shape, err)
		}
		if a.c != nil && b.c != nil {
			return c.fold(o, bop, a.c, b.c, shape)
		}
		if a.c == nil && b.c == nil && numel(a.shape) != numel(shape) && numel(b.shape) != numel(shape) {
			return fmt.Errorf("%s of %v and %v: broadcasting both run-time operands is not supported", o.typ, a.shape, b.shape)
		}
		if !c.whole && mixesImages(shape, a, b) {
			return fmt.Errorf("%s of %v and %v mixes images of a batch", o.typ, a.shape, b.shape)
		}
		if ok, err := c.channelsLastPair(o, bop, a, b); ok || err != nil {
			return err
		}
		s := binaryStep{op: bop, aShape: a.shape, bShape: b.shape, yShape: shape}
		if s.a, s.ia, err = c.operand(a); err != nil {
			return err
		}
		if s.b, s.ib, err = c.operand(b); err != nil {
			return err
		}
		y, err := c.computed(shape)
		if err != nil {
			return err
		}
		s.out = y.buf
		c.steps = append(c.steps, s)
		return c.set(o, 0, y)
	}
}

// mixesImages reports whether a run-time operand of an elementwise
// operator whose result has shape holds more than one image: its first
// axis, the batch's where it has the result's rank, is not 1. An operand
// of a lower rank broadcasts along the result's trailing axes, one
// image's own (a dynamically quantized layer's scales, [128], times its
// [1, 128] sums).
func mixesImages(shape []int, vals ...*val) bool {
	for _, v := range vals {
		if v.c == nil && len(v.shape) == len(shape) && len(v.shape) > 0 && v.shape[0] != 1 {
			return true
		}
	}
	return false
}

// channelsLastPair compiles an elementwise operator of two run-time maps
// of one shape, either channels-last (a ResNet's shortcut Add of two
// convolutions' outputs), in that layout: element for element, the
// operator does not care which, and turning both channels-first to add
// them, then back for the next convolution, cost more than the Add.
func (c *compiler) channelsLastPair(o op, bop nchw.BinaryOp, a, b *val) (bool, error) {
	if a.c != nil || b.c != nil || len(a.shape) != 4 || !slices.Equal(a.shape, b.shape) || !a.nhwc && !b.nhwc ||
		a.dt != 0 || b.dt != 0 || a.relu || b.relu || a.flatC != 0 || b.flatC != 0 {
		return false, nil
	}
	a, err := c.hwc(a)
	if err != nil {
		return false, err
	}
	if b, err = c.hwc(b); err != nil {
		return false, err
	}
	y, err := c.computed(a.shape)
	if err != nil {
		return false, err
	}
	y.nhwc = true
	c.steps = append(c.steps, binaryStep{op: bop, ia: a.buf, ib: b.buf, aShape: a.shape, bShape: b.shape, yShape: a.shape, out: y.buf})
	return true, c.set(o, 0, y)
}

// fold computes an elementwise operator on two constants: integer shape
// arithmetic stays integer.
func (c *compiler) fold(o op, bop nchw.BinaryOp, a, b *constant, shape []int) error {
	if _, err := elements(shape); err != nil {
		return fmt.Errorf("%s of %v and %v: %w", o.typ, a.shape, b.shape, err)
	}
	if a.isInt() && b.isInt() {
		ai, bi := a.ints(), b.ints()
		if numel(a.shape) != numel(shape) && numel(a.shape) != 1 || numel(b.shape) != numel(shape) && numel(b.shape) != 1 {
			return fmt.Errorf("%s of integer constants %v and %v: only equal shapes or scalars", o.typ, a.shape, b.shape)
		}
		k, err := c.folded(shape, true)
		if err != nil {
			return err
		}
		out := k.i
		for i := range out {
			x, y := ai[min(i, len(ai)-1)], bi[min(i, len(bi)-1)]
			switch bop {
			case nchw.Add:
				out[i] = x + y
			case nchw.Sub:
				out[i] = x - y
			case nchw.Mul:
				out[i] = x * y
			case nchw.Div:
				if y == 0 {
					return fmt.Errorf("integer division by zero")
				}
				out[i] = x / y
			}
		}
		return c.set(o, 0, &val{shape: shape, c: k})
	}
	k, err := c.folded(shape, false)
	if err != nil {
		return err
	}
	nchw.Binary(bop, k.f, a.floats(), a.shape, b.floats(), b.shape, shape)
	return c.set(o, 0, &val{shape: shape, c: k})
}

// unidirectional reports whether shape broadcasts to target without
// changing it, as ONNX's unidirectional broadcasting (Gemm's C) requires:
// aligned at the last dimension, each size equal to target's or 1.
func unidirectional(shape, target []int) bool {
	if len(shape) > len(target) {
		return false
	}
	off := len(target) - len(shape)
	for i, d := range shape {
		if d != target[off+i] && d != 1 {
			return false
		}
	}
	return true
}

// compileRelu defers a Relu whose only reader is a MaxPool to the pooling,
// which applies it to a quarter as many values (for 2x2 windows) in the
// same pass.
func compileRelu(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if i, ok := c.next(o.outputs[0]); ok && c.g.Nodes[i].OpType == "MaxPool" && x.c == nil && !x.nhwc && !x.relu && len(o.outputs) == 1 {
		return c.set(o, 0, &val{shape: x.shape, buf: x.buf, relu: true})
	}
	return unary(nchw.Relu)(c, o)
}

// materialize applies a deferred Relu (val.relu) into a buffer of its own,
// for a reader that cannot apply it.
func (c *compiler) materialize(v *val) (*val, error) {
	if !v.relu {
		return v, nil
	}
	y, err := c.computed(v.shape)
	if err != nil {
		return nil, err
	}
	c.steps = append(c.steps, unaryStep{fn: nchw.Relu, in: v.buf, out: y.buf})
	return y, nil
}
