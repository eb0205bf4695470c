package backend

// Concat: of shape arithmetic, folded at load, and of run-time values
// along any axis.

import (
	"fmt"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{"Concat": compileConcat})
}

func compileConcat(c *compiler, o op) error {
	a, err := o.attrs.Int("axis", 0)
	if err != nil {
		return err
	}
	var ins []*val
	folded := true
	for i := range o.inputs {
		v, err := c.in(o, i)
		if err != nil {
			return err
		}
		ins = append(ins, v)
		folded = folded && v.c != nil
	}
	if len(ins) == 0 {
		return modelfile.FormatErrorf("Concat of no inputs")
	}
	ax, err := axis(a, len(ins[0].shape))
	if err != nil {
		return err
	}
	shape := append([]int(nil), ins[0].shape...)
	shape[ax] = 0
	for _, v := range ins {
		if len(v.shape) != len(shape) {
			return modelfile.FormatErrorf("Concat of %v and %v: ranks differ", ins[0].shape, v.shape)
		}
		for d := range shape {
			if d != ax && v.shape[d] != shape[d] {
				return modelfile.FormatErrorf("Concat along axis %d of %v and %v", ax, ins[0].shape, v.shape)
			}
		}
		if shape[ax], err = addChecked(shape[ax], v.shape[ax], modelfile.MaxElements); err != nil {
			return fmt.Errorf("Concat: %w", err)
		}
	}
	if folded {
		return c.foldConcat(o, ins, ax, shape)
	}
	if ax == 0 && !c.whole {
		return fmt.Errorf("Concat along axis 0 mixes the images of a batch: %w", onnx.ErrUnsupported)
	}
	s := concatStep{outer: numel(shape[:ax])}
	for _, v := range ins {
		part := concatPart{size: numel(v.shape[ax:])}
		if v.c != nil {
			part.c = v.c.floats()
		} else {
			w, err := c.chw(v)
			if err != nil {
				return err
			}
			part.buf = w.buf
		}
		s.parts = append(s.parts, part)
	}
	y, err := c.computed(shape)
	if err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// foldConcat concatenates constants: integers stay integers (shape
// arithmetic) unless a float is among them.
func (c *compiler) foldConcat(o op, ins []*val, ax int, shape []int) error {
	isInt := true
	for _, v := range ins {
		isInt = isInt && v.c.isInt()
	}
	out, err := c.folded(shape, isInt)
	if err != nil {
		return err
	}
	outer, at := numel(shape[:ax]), 0
	for r := 0; r < outer; r++ {
		for _, v := range ins {
			size := numel(v.shape[ax:])
			if isInt {
				at += copy(out.i[at:], v.c.ints()[r*size:(r+1)*size])
			} else {
				at += copy(out.f[at:], v.c.floats()[r*size:(r+1)*size])
			}
		}
	}
	return c.set(o, 0, &val{shape: out.shape, c: out})
}

// concatStep writes, for each of outer rows, each part's row in turn.
type concatStep struct {
	outer int
	parts []concatPart
	out   int
}

// concatPart is one input: a constant, or a buffer, size floats a row.
type concatPart struct {
	c    []float32
	buf  int
	size int
}

func (s concatStep) run(b [][]float32) {
	y, at := b[s.out], 0
	for r := 0; r < s.outer; r++ {
		for _, p := range s.parts {
			x := p.c
			if x == nil {
				x = b[p.buf]
			}
			at += copy(y[at:], x[r*p.size:(r+1)*p.size])
		}
	}
}
