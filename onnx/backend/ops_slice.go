package backend

// Slice and Split: strided copies of part of a value.

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{"Slice": compileSlice, "Split": compileSplit})
}

// sliceRange clamps a Slice's start and end on a dimension of size d as
// ONNX specifies and returns the first index and the number of elements.
func sliceRange(start, end, step int64, d int) (first int64, n int) {
	dd := int64(d)
	if start < 0 {
		start += dd
	}
	if end < 0 {
		end += dd
	}
	var span int64
	if step > 0 {
		start, end = min(max(start, 0), dd), min(max(end, 0), dd)
		span = end - start
	} else {
		start, end = min(max(start, 0), dd-1), min(max(end, -1), dd-1)
		span, step = start-end, -max(step, -math.MaxInt64)
	}
	if span <= 0 {
		return start, 0
	}
	k := span / step
	if span%step != 0 {
		k++
	}
	return start, int(k)
}

// constInts reads input i of o as integers, or nil when it is absent.
func (c *compiler) constInts(o op, i int) ([]int64, error) {
	v, err := c.optional(o, i)
	if err != nil || v == nil {
		return nil, err
	}
	if v.c == nil {
		return nil, fmt.Errorf("%s: input %d (%s) must be a constant (a weight or folded shape arithmetic)", o.typ, i, o.inputs[i])
	}
	return v.c.ints(), nil
}

// batchAxis refuses, in a classifier's plan, an operator that changes
// dimension 0 of a run-time value: it would mix or drop the images of a
// batch, which the plan runs one at a time.
func (c *compiler) batchAxis(o op, x *val, shape []int) error {
	if x.c != nil || c.whole || len(x.shape) == 0 {
		return nil
	}
	if len(shape) == 0 || shape[0] != 1 {
		return fmt.Errorf("%s of %v to %v changes the batch dimension, which would mix the images of a batch: %w", o.typ, x.shape, shape, onnx.ErrUnsupported)
	}
	return nil
}

func compileSlice(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	var starts, ends, axes, steps []int64
	if c.opset < 10 {
		if starts, err = o.attrs.Ints("starts"); err != nil {
			return err
		}
		if ends, err = o.attrs.Ints("ends"); err != nil {
			return err
		}
		if axes, err = o.attrs.Ints("axes"); err != nil {
			return err
		}
	} else {
		for i, p := range []*[]int64{&starts, &ends, &axes, &steps} {
			if *p, err = c.constInts(o, i+1); err != nil {
				return err
			}
		}
	}
	rank := len(x.shape)
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || steps != nil && len(steps) != len(starts) {
		return modelfile.FormatErrorf("Slice: %d starts, %d ends, %d axes and %d steps", len(starts), len(ends), len(axes), len(steps))
	}
	shape := append([]int(nil), x.shape...)
	in := nchw.RowMajor(x.shape)
	strides := append([]int(nil), in...)
	off := 0
	seen := make([]bool, rank)
	for j, a := range axes {
		ax, err := axis(a, rank)
		if err != nil {
			return err
		}
		if seen[ax] {
			return modelfile.FormatErrorf("Slice: axis %d repeated in %v", ax, axes)
		}
		seen[ax] = true
		step := int64(1)
		if steps != nil {
			step = steps[j]
		}
		if step == 0 {
			return modelfile.FormatErrorf("Slice: step 0")
		}
		first, n := sliceRange(starts[j], ends[j], step, x.shape[ax])
		shape[ax] = n
		if n > 0 {
			off += int(first) * in[ax]
		}
		strides[ax] = 0
		if n > 1 {
			// |step| < the dimension here: the product does not overflow.
			strides[ax] = int(step) * in[ax]
		}
	}
	if err := c.batchAxis(o, x, shape); err != nil {
		return err
	}
	return c.copyStrided(o, 0, x, shape, nchw.NewStrided(shape, off, strides))
}

func compileSplit(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	a, err := o.attrs.Int("axis", 0)
	if err != nil {
		return err
	}
	ax, err := axis(a, len(x.shape))
	if err != nil {
		return err
	}
	d := x.shape[ax]
	if ax == 0 && len(o.outputs) > 1 && x.c == nil && !c.whole {
		return fmt.Errorf("Split of %v along the batch dimension would mix the images of a batch: %w", x.shape, onnx.ErrUnsupported)
	}
	var split []int64
	if c.opset < 13 {
		split, err = o.attrs.Ints("split")
	} else {
		split, err = c.constInts(o, 1)
	}
	if err != nil {
		return err
	}
	if split == nil {
		n := int64(len(o.outputs))
		if c.opset >= 18 {
			if n, err = o.attrs.Int("num_outputs", n); err != nil {
				return err
			}
		}
		if n < 1 || n != int64(len(o.outputs)) {
			return modelfile.FormatErrorf("Split into %d parts with %d outputs", n, len(o.outputs))
		}
		chunk := int64(d) / n
		if int64(d)%n != 0 {
			if c.opset < 18 {
				return modelfile.FormatErrorf("Split of %d into %d equal parts", d, n)
			}
			chunk++ // the last one smaller
		}
		for i, left := int64(0), int64(d); i < n; i++ {
			split = append(split, min(chunk, left))
			left -= min(chunk, left)
		}
	}
	if len(split) != len(o.outputs) {
		return modelfile.FormatErrorf("Split into %d parts with %d outputs", len(split), len(o.outputs))
	}
	sum := int64(0)
	for _, s := range split {
		if s < 0 || s > int64(d) {
			return modelfile.FormatErrorf("Split %v of a dimension of %d", split, d)
		}
		sum += s
	}
	if sum != int64(d) {
		return modelfile.FormatErrorf("Split %v does not add up to the dimension's %d", split, d)
	}
	in := nchw.RowMajor(x.shape)
	at := 0
	for i, s := range split {
		shape := append([]int(nil), x.shape...)
		shape[ax] = int(s)
		if err := c.batchAxis(o, x, shape); err != nil {
			return err
		}
		if o.outputs[i] != "" {
			if err := c.copyStrided(o, i, x, shape, nchw.NewStrided(shape, at*in[ax], in)); err != nil {
				return err
			}
		}
		at += int(s)
	}
	return nil
}
