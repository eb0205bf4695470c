package backend

// Gather: of shape arithmetic and weights, folded at load, and of run-time
// values by constant indices along any axis.

import (
	"fmt"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{"Gather": compileGather})
}

func compileGather(c *compiler, o op) error {
	data, err := c.in(o, 0)
	if err != nil {
		return err
	}
	idx, err := c.constIn(o, 1)
	if err != nil {
		return fmt.Errorf("%w: %w", err, onnx.ErrUnsupported)
	}
	a, err := o.attrs.Int("axis", 0)
	if err != nil {
		return err
	}
	ax, err := axis(a, len(data.shape))
	if err != nil {
		return modelfile.FormatErrorf("Gather on %v: %w", data.shape, err)
	}
	n := data.shape[ax]
	rows := make([]int, len(idx.ints()))
	for k, i := range idx.ints() {
		if i < 0 {
			i += int64(n)
		}
		if i < 0 || i >= int64(n) {
			return modelfile.FormatErrorf("Gather index %d out of range for %d values", idx.ints()[k], n)
		}
		rows[k] = int(i)
	}
	shape := append(append(append([]int(nil), data.shape[:ax]...), idx.shape...), data.shape[ax+1:]...)
	if _, err := elements(shape); err != nil {
		return fmt.Errorf("Gather to %v: %w", shape, err)
	}
	g := gatherStep{outer: numel(data.shape[:ax]), n: n, inner: numel(data.shape[ax+1:]), rows: rows}
	if data.c != nil {
		out, err := c.folded(shape, data.c.isInt())
		if err != nil {
			return err
		}
		if out.i != nil {
			gather(out.i, data.c.ints(), g)
		} else {
			gather(out.f, data.c.floats(), g)
		}
		return c.set(o, 0, &val{shape: out.shape, c: out})
	}
	if ax == 0 && !c.whole {
		return fmt.Errorf("Gather along axis 0 mixes the images of a batch: %w", onnx.ErrUnsupported)
	}
	x, err := c.chw(data)
	if err != nil {
		return err
	}
	y, err := c.computed(shape)
	if err != nil {
		return err
	}
	g.in, g.out = x.buf, y.buf
	c.steps = append(c.steps, g)
	return c.set(o, 0, y)
}

// gatherStep copies, for each of outer blocks, the rows named by rows of
// the block's n, each inner values long.
type gatherStep struct {
	outer, n, inner int
	rows            []int
	in, out         int
}

func (s gatherStep) run(b [][]float32) { gather(b[s.out], b[s.in], s) }

func gather[T any](y, x []T, s gatherStep) {
	at := 0
	for o := 0; o < s.outer; o++ {
		block := x[o*s.n*s.inner:]
		for _, r := range s.rows {
			at += copy(y[at:at+s.inner], block[r*s.inner:(r+1)*s.inner])
		}
	}
}
