package backend

// Operators that move or reinterpret values rather than compute: shape
// arithmetic folded at load, reshapes that alias a buffer, padding.

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{
		"Identity": compileIdentity, "Dropout": compileDropout, "Cast": compileCast,
		"Flatten": compileFlatten, "Reshape": compileReshape,
		"Squeeze": compileSqueeze, "Unsqueeze": compileSqueeze,
		"Shape": compileShape, "Constant": compileConstant,
		"Pad": compilePad,
	})
}

func compileIdentity(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	return c.set(o, 0, x)
}

// compileDropout: inference Dropout is the identity (checkInference
// refused the training ones).
func compileDropout(c *compiler, o op) error {
	if len(o.outputs) > 1 && o.outputs[1] != "" && c.uses[o.outputs[1]] > 0 {
		return fmt.Errorf("Dropout's mask is used; not supported")
	}
	return compileIdentity(c, o)
}

func compileCast(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	to, err := o.attrs.Int("to", 1)
	if err != nil {
		return err
	}
	isFloat := to == int64(onnx.TensorProto_FLOAT) || to == int64(onnx.TensorProto_DOUBLE) || to == int64(onnx.TensorProto_FLOAT16)
	if x.c != nil {
		if isFloat {
			return c.set(o, 0, &val{shape: x.shape, c: &constant{shape: x.shape, f: x.c.floats()}})
		}
		return c.set(o, 0, &val{shape: x.shape, c: &constant{shape: x.shape, i: x.c.ints()}})
	}
	if !isFloat {
		return fmt.Errorf("Cast of a run-time value to %s: only casts to float are supported", onnx.TensorProto_DataType(to))
	}
	return c.set(o, 0, x)
}

func compileConstant(c *compiler, o op) error {
	t, err := o.attrs.ConstantValue()
	if err != nil {
		return err
	}
	k, err := fromTensor(t)
	if err != nil {
		return err
	}
	if err := c.b.constBytes(k.bytes()); err != nil {
		return err
	}
	return c.set(o, 0, &val{shape: k.shape, c: k})
}

// axis resolves a possibly negative axis against a rank.
func axis(a int64, rank int) (int, error) {
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", a, rank)
	}
	return int(a), nil
}

func compileFlatten(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	a, err := o.attrs.Int("axis", 1)
	if err != nil {
		return err
	}
	ax := int(a)
	if a < 0 {
		ax = int(a) + len(x.shape)
	}
	if ax < 0 || ax > len(x.shape) {
		return fmt.Errorf("axis %d out of range for %v", a, x.shape)
	}
	if ax == 0 && x.c == nil && !c.whole {
		return fmt.Errorf("Flatten with axis 0 mixes the images of a batch; not supported")
	}
	return c.alias(o, x, []int{numel(x.shape[:ax]), numel(x.shape[ax:])})
}

func compileReshape(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	k, err := c.constIn(o, 1)
	if err != nil {
		return err
	}
	target := k.ints()
	if x.c == nil && !c.whole && c.fixedBatch > 0 && len(target) > 0 && target[0] == int64(c.fixedBatch) {
		// A shape the exporter folded from a fixed batch ([10, -1] from
		// x.view(x.size(0), -1)): its first dimension is the batch, one
		// image here.
		target = append([]int64{1}, target[1:]...)
	}
	allowZero, _ := o.attrs.Int("allowzero", 0)
	shape := make([]int, len(target))
	infer := -1
	for i, d := range target {
		switch {
		case d == 0 && allowZero == 0:
			if i >= len(x.shape) {
				return fmt.Errorf("shape %v copies dimension %d of %v", target, i, x.shape)
			}
			shape[i] = x.shape[i]
		case d == -1 && infer < 0:
			infer = i
		case d < 0 || d == 0:
			return fmt.Errorf("shape %v is not supported", target)
		case d > modelfile.MaxElements:
			return modelfile.LimitErrorf("Reshape to %v: dimension %d is more than %d, refused", target, d, modelfile.MaxElements)
		default:
			shape[i] = int(d)
		}
	}
	if infer >= 0 {
		shape[infer] = 1
		rest, err := elements(shape)
		if err != nil {
			return fmt.Errorf("Reshape to %v: %w", target, err)
		}
		if rest == 0 || numel(x.shape)%rest != 0 {
			return modelfile.FormatErrorf("cannot reshape %v to %v", x.shape, target)
		}
		shape[infer] = numel(x.shape) / rest
	}
	if x.c == nil && !c.whole && (len(shape) == 0 || shape[0] != 1) {
		return fmt.Errorf("Reshape of %v to %v moves the batch dimension; not supported", x.shape, target)
	}
	return c.alias(o, x, shape)
}

// compileSqueeze handles Squeeze and Unsqueeze, axes as an attribute
// (before opset 13) or an input.
func compileSqueeze(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	var axes []int64
	if c.opset < 13 {
		axes, err = o.attrs.Ints("axes")
	} else if a, e := c.optional(o, 1); e != nil {
		err = e
	} else if a != nil {
		if a.c == nil {
			return fmt.Errorf("axes must be a constant")
		}
		axes = a.c.ints()
	}
	if err != nil {
		return err
	}
	var shape []int
	if o.typ == "Squeeze" {
		drop := map[int]bool{}
		for _, a := range axes {
			ax, err := axis(a, len(x.shape))
			if err != nil {
				return err
			}
			if x.shape[ax] != 1 {
				return fmt.Errorf("cannot squeeze axis %d of %v", ax, x.shape)
			}
			drop[ax] = true
		}
		for i, d := range x.shape {
			if drop[i] || axes == nil && d == 1 && (x.c != nil || c.whole || i > 0) {
				continue
			}
			shape = append(shape, d)
		}
	} else {
		rank := len(x.shape) + len(axes)
		ins := map[int]bool{}
		for _, a := range axes {
			ax, err := axis(a, rank)
			if err != nil {
				return err
			}
			ins[ax] = true
		}
		j := 0
		for i := 0; i < rank; i++ {
			if ins[i] {
				shape = append(shape, 1)
			} else if j < len(x.shape) {
				shape = append(shape, x.shape[j])
				j++
			}
		}
	}
	return c.alias(o, x, shape)
}

// compileShape folds Shape: the per-image shape, with the batch dimension
// 1, is what every later operator of the plan sees.
func compileShape(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	start, _ := o.attrs.Int("start", 0)
	end, _ := o.attrs.Int("end", int64(len(x.shape)))
	r := int64(len(x.shape))
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	s, e := clamp(start), clamp(end)
	k, err := c.folded([]int{int(max(s, e) - s)}, true)
	if err != nil {
		return err
	}
	for i, d := range x.shape[s:max(s, e)] {
		k.i[i] = int64(d)
	}
	return c.set(o, 0, &val{shape: k.shape, c: k})
}

// compilePad pads the height and width of a map with a constant, as
// exporters write in front of pooling.
func compilePad(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	mode, err := o.attrs.Str("mode", "constant")
	if err != nil {
		return err
	}
	if mode != "constant" {
		return fmt.Errorf("Pad mode %q: only constant is %w", mode, onnx.ErrUnsupported)
	}
	var pads []int64
	value := float32(0)
	if c.opset < 11 {
		if pads, err = o.attrs.Ints("pads"); err != nil {
			return err
		}
		if value, err = o.attrs.Float("value", 0); err != nil {
			return err
		}
	} else {
		k, err := c.constIn(o, 1)
		if err != nil {
			return err
		}
		pads = k.ints()
		if v, err := c.optional(o, 2); err != nil {
			return err
		} else if v != nil {
			if v.c == nil || len(v.c.floats()) != 1 {
				return fmt.Errorf("Pad's constant_value must be a scalar constant: %w", onnx.ErrUnsupported)
			}
			value = v.c.floats()[0]
		}
		if a, err := c.optional(o, 3); err != nil || a != nil {
			return fmt.Errorf("Pad with axes is %w", onnx.ErrUnsupported)
		}
	}
	if x.c != nil || len(x.shape) != 4 || len(pads) != 8 {
		return fmt.Errorf("Pad of %v by %v: only of 2-D maps is %w", x.shape, pads, onnx.ErrUnsupported)
	}
	if pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 || slices.ContainsFunc(pads, func(p int64) bool { return p < 0 || p > 1024 }) {
		return fmt.Errorf("Pad %v: only non-negative padding of height and width: %w", pads, onnx.ErrUnsupported)
	}
	t, l, b, r := int(pads[2]), int(pads[3]), int(pads[6]), int(pads[7])
	if t+l+b+r == 0 {
		return c.set(o, 0, x)
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	// Each pad is at most 1024 and each size at most MaxElements: the sums
	// cannot overflow, and runtime bounds the result.
	n, ch, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	y, err := c.runtime([]int{n, ch, h + t + b, w + l + r})
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(y.shape)); err != nil {
		return err
	}
	c.steps = append(c.steps, padStep{c: n * ch, h: h, w: w, top: t, left: l, bottom: b, right: r, value: value, in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}
