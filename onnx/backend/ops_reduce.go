package backend

// Reductions: ReduceSum, ReduceMean, ReduceMax and ReduceMin over any axes.

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
)

func init() {
	register(map[string]handler{
		"ReduceSum":  reduce(nchw.ReduceSum, 13),
		"ReduceMean": reduce(nchw.ReduceMean, 18),
		"ReduceMax":  reduce(nchw.ReduceMax, 18),
		"ReduceMin":  reduce(nchw.ReduceMin, 18),
	})
}

type reduceStep struct {
	op      nchw.ReduceOp
	shape   []int
	axes    []bool
	in, out int
}

func (s reduceStep) run(b [][]float32) { nchw.Reduce(s.op, b[s.out], b[s.in], s.shape, s.axes) }

// reduce compiles a reduction whose axes are an input from opset
// axesInput on, an attribute before.
func reduce(rop nchw.ReduceOp, axesInput int64) handler {
	return func(c *compiler, o op) error {
		x, err := c.in(o, 0)
		if err != nil {
			return err
		}
		keep, err := o.attrs.Int("keepdims", 1)
		if err != nil {
			return err
		}
		noop, err := o.attrs.Int("noop_with_empty_axes", 0)
		if err != nil {
			return err
		}
		var axes []int64
		if c.opset < axesInput {
			axes, err = o.attrs.Ints("axes")
		} else {
			axes, err = c.constInts(o, 1)
		}
		if err != nil {
			return err
		}
		if len(axes) == 0 && noop != 0 {
			return c.set(o, 0, x)
		}
		rank := len(x.shape)
		flags := make([]bool, rank)
		for _, a := range axes {
			ax, err := axis(a, rank)
			if err != nil {
				return err
			}
			if flags[ax] {
				return modelfile.FormatErrorf("%s: axis %d repeated in %v", o.typ, ax, axes)
			}
			flags[ax] = true
		}
		if len(axes) == 0 {
			for k := range flags {
				flags[k] = true
			}
		}
		shape := []int{}
		for k, d := range x.shape {
			switch {
			case !flags[k]:
				shape = append(shape, d)
			case keep != 0:
				shape = append(shape, 1)
			}
		}
		if err := c.batchAxis(o, x, shape); err != nil {
			return err
		}
		if rank > 0 && flags[0] && keep == 0 && x.c == nil && !c.whole {
			return c.batchAxis(o, x, nil)
		}
		if x.c != nil {
			k, err := c.folded(shape, x.c.isInt())
			if err != nil {
				return err
			}
			if k.i != nil {
				nchw.Reduce(rop, k.i, x.c.ints(), x.shape, flags)
			} else {
				nchw.Reduce(rop, k.f, x.c.floats(), x.shape, flags)
			}
			return c.set(o, 0, &val{shape: shape, c: k})
		}
		if x, err = c.chw(x); err != nil {
			return err
		}
		y, err := c.runtime(shape)
		if err != nil {
			return fmt.Errorf("%s: %w", o.typ, err)
		}
		if err := c.b.ops(numel(x.shape)); err != nil {
			return err
		}
		c.steps = append(c.steps, reduceStep{op: rop, shape: x.shape, axes: flags, in: x.buf, out: y.buf})
		return c.set(o, 0, y)
	}
}
