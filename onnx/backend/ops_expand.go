package backend

// Expand and ConstantOfShape: values broadcast to a shape.

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
)

func init() {
	register(map[string]handler{"Expand": compileExpand, "ConstantOfShape": compileConstantOfShape})
}

// shapeOf reads a constant shape, each dimension checked.
func shapeOf(o op, k *constant) ([]int, error) {
	dims := k.ints()
	if len(k.shape) > 1 {
		return nil, modelfile.FormatErrorf("%s: shape of %v dimensions, not 1", o.typ, k.shape)
	}
	if _, err := elements(dims); err != nil {
		return nil, fmt.Errorf("%s to %v: %w", o.typ, dims, err)
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = int(d)
	}
	return shape, nil
}

// compileExpand broadcasts its input to a constant shape, both ways as
// numpy does: a dimension of 1 in the shape keeps the input's.
func compileExpand(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	k, err := c.constIn(o, 1)
	if err != nil {
		return err
	}
	target, err := shapeOf(o, k)
	if err != nil {
		return err
	}
	shape, err := nchw.BroadcastShape(x.shape, target)
	if err != nil {
		return modelfile.FormatErrorf("Expand of %v to %v: %w", x.shape, target, err)
	}
	if err := c.batchAxis(o, x, shape); err != nil {
		return err
	}
	// The input's strides, aligned at the last dimension, 0 where it is
	// broadcast.
	in := nchw.RowMajor(x.shape)
	strides := make([]int, len(shape))
	lead := len(shape) - len(x.shape)
	for i, d := range x.shape {
		if d == shape[lead+i] {
			strides[lead+i] = in[i]
		}
	}
	return c.copyStrided(o, 0, x, shape, nchw.NewStrided(shape, 0, strides))
}

// compileConstantOfShape folds ConstantOfShape: its shape is a constant
// (shape arithmetic), and so is its value.
func compileConstantOfShape(c *compiler, o op) error {
	k, err := c.constIn(o, 0)
	if err != nil {
		return err
	}
	shape, err := shapeOf(o, k)
	if err != nil {
		return err
	}
	t, err := o.attrs.Tensor("value")
	if err != nil {
		return err
	}
	isInt, f, i := false, float32(0), int64(0)
	if t != nil {
		if t.Len() != 1 {
			return modelfile.FormatErrorf("ConstantOfShape: value holds %d elements, not 1", t.Len())
		}
		if isInt = !t.DType.IsFloat(); isInt {
			i = t.Ints()[0]
		} else {
			f = t.Floats()[0]
		}
	}
	out, err := c.folded(shape, isInt)
	if err != nil {
		return err
	}
	for j := range out.f {
		out.f[j] = f
	}
	for j := range out.i {
		out.i[j] = i
	}
	return c.set(o, 0, &val{shape: shape, c: out})
}
