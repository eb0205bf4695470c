package backend

// Softmax and LogSoftmax.

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{"Softmax": compileSoftmax, "LogSoftmax": compileSoftmax})
}

func compileSoftmax(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	def := int64(-1)
	if c.opset < 13 {
		def = 1
	}
	a, err := o.attrs.Int("axis", def)
	if err != nil {
		return err
	}
	ax, err := axis(a, len(x.shape))
	if err != nil {
		return err
	}
	if x.c != nil || ax == 0 && !c.whole {
		return fmt.Errorf("%s over axis %d of %v: only over the features of each image", o.typ, ax, x.shape)
	}
	cols := numel(x.shape[ax:])
	if inner := numel(x.shape[ax+1:]); c.opset >= 13 && inner != 1 {
		return c.softmaxAxis(o, x, ax)
	} else if c.opset >= 13 {
		cols = x.shape[ax]
	}
	// runtime refuses values of no elements, so neither is 0; an
	// empty softmax would write nothing where a classifier reads.
	if cols == 0 || numel(x.shape) == 0 {
		return fmt.Errorf("%s over axis %d of %v: no values; not supported", o.typ, ax, x.shape)
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.runtime(x.shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape), 2); err != nil {
		return err
	}
	// A classifier reads log-probabilities as logits: softmax of them is
	// the probabilities, and the cross-entropy is -log p of the label. A
	// graph's own Softmax is computed as LogSoftmax when it is the output,
	// which keeps the loss finite where p underflows.
	log := o.typ == "LogSoftmax"
	if !log && c.isOutput(o.outputs[0]) {
		log, y.logProb = true, true
	}
	c.steps = append(c.steps, softmaxStep{rows: numel(x.shape) / cols, cols: cols, log: log, in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

// isOutput reports whether value name is a classifier's output, directly
// or through a chain of Identity nodes (keras2onnx ends Softmax, Identity,
// Identity).
func (c *compiler) isOutput(name string) bool {
	if c.whole || len(c.g.Outputs) == 0 {
		return false
	}
	for range c.g.Nodes { // a chain is at most every node long
		if c.g.Outputs[0].Name == name {
			return true
		}
		i, ok := c.next(name)
		if !ok || c.g.Nodes[i].OpType != "Identity" {
			return false
		}
		name = c.g.Nodes[i].Outputs[0]
	}
	return false
}

// softmaxAxis is Softmax or LogSoftmax over one axis that is not the last
// (opset 13 on): each column of the axis, its elements inner apart.
func (c *compiler) softmaxAxis(o op, x *val, ax int) error {
	if !c.whole {
		return fmt.Errorf("%s over axis %d of %v, not the last: %w", o.typ, ax, x.shape, onnx.ErrUnsupported)
	}
	y, err := c.runtime(x.shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape), 2); err != nil {
		return err
	}
	c.steps = append(c.steps, softmaxAxisStep{outer: numel(x.shape[:ax]), n: x.shape[ax], inner: numel(x.shape[ax+1:]),
		log: o.typ == "LogSoftmax", in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

// softmaxAxisStep gathers each column into a row, runs the row kernels on
// it and scatters the result back.
type softmaxAxisStep struct {
	outer, n, inner int
	log             bool
	in, out         int
}

func (s softmaxAxisStep) run(b [][]float32) {
	x, y := b[s.in], b[s.out]
	row := make([]float32, s.n)
	for o := 0; o < s.outer; o++ {
		base := o * s.n * s.inner
		for i := 0; i < s.inner; i++ {
			for k := range row {
				row[k] = x[base+k*s.inner+i]
			}
			if s.log {
				nchw.LogSoftmax(row, row, 1, s.n)
			} else {
				nchw.Softmax(row, row, 1, s.n)
			}
			for k, v := range row {
				y[base+k*s.inner+i] = v
			}
		}
	}
}
