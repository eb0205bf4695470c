package backend

// Transpose, and the strided copy that Transpose, Slice, Split and Expand
// all compile to.

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{"Transpose": compileTranspose})
}

// stridedStep copies a strided view of a buffer into another.
type stridedStep struct {
	s       nchw.Strided
	in, out int
}

func (s stridedStep) run(b [][]float32) { nchw.CopyStrided(b[s.out], b[s.in], s.s) }

// copyStrided makes output i of o the strided copy s of x, of the given
// shape: folded when x is a constant, a step otherwise. s reads x
// channels-first.
func (c *compiler) copyStrided(o op, i int, x *val, shape []int, s nchw.Strided) error {
	n, err := elements(shape)
	if err != nil {
		return fmt.Errorf("%s to %v: %w", o.typ, shape, err)
	}
	if x.c != nil {
		k, err := c.folded(shape, x.c.isInt())
		if err != nil {
			return err
		}
		if k.i != nil {
			nchw.CopyStrided(k.i, x.c.ints(), s)
		} else {
			nchw.CopyStrided(k.f, x.c.floats(), s)
		}
		return c.set(o, i, &val{shape: shape, c: k})
	}
	if n == 0 {
		return fmt.Errorf("%s of %v gives %v, which holds no values: %w", o.typ, x.shape, shape, onnx.ErrUnsupported)
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.runtime(shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(n); err != nil {
		return err
	}
	c.steps = append(c.steps, stridedStep{s: s, in: x.buf, out: y.buf})
	return c.set(o, i, y)
}

// perm reads Transpose's perm, which defaults to reversing the axes, and
// checks that it is a permutation of rank axes.
func perm(o op, rank int) ([]int, error) {
	p, err := o.attrs.Ints("perm")
	if err != nil {
		return nil, err
	}
	out := make([]int, rank)
	if p == nil {
		for k := range out {
			out[k] = rank - 1 - k
		}
		return out, nil
	}
	if len(p) != rank {
		return nil, fmt.Errorf("perm %v for a value of rank %d", p, rank)
	}
	seen := make([]bool, rank)
	for k, a := range p {
		if a < 0 || a >= int64(rank) || seen[a] {
			return nil, fmt.Errorf("perm %v is not a permutation of %d axes", p, rank)
		}
		seen[a], out[k] = true, int(a)
	}
	return out, nil
}

var (
	toNHWC = []int{0, 2, 3, 1}
	toNCHW = []int{0, 3, 1, 2}
)

// transposed returns node o's permutation of a value of shape x and the
// shape it gives; a nil permutation for one that keeps every axis where
// it is, which needs no step.
func transposed(o op, x []int) (p, shape []int, err error) {
	if p, err = perm(o, len(x)); err != nil {
		return nil, nil, err
	}
	shape = make([]int, len(p))
	identity := true
	for k, a := range p {
		shape[k] = x[a]
		identity = identity && a == k
	}
	if identity {
		return nil, shape, nil
	}
	return p, shape, nil
}

func compileTranspose(c *compiler, o op) error {
	// A channels-last image input's Transpose: imageInput made the
	// buffer the caller fills its output.
	if !c.whole && len(c.g.Inputs) > 0 && len(o.inputs) > 0 && o.inputs[0] == c.g.Inputs[0].Name &&
		c.vals[o.inputs[0]] == nil && c.vals[o.outputs[0]] != nil {
		return nil
	}
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	p, shape, err := transposed(o, x.shape)
	if err != nil {
		return err
	}
	if p == nil {
		return c.set(o, 0, x)
	}
	if x.c == nil && !c.whole && p[0] != 0 {
		return fmt.Errorf("Transpose %v of %v moves the batch dimension, which would mix the images of a batch: %w", p, x.shape, onnx.ErrUnsupported)
	}
	if x.c == nil && len(x.shape) == 4 && x.shape[0] == 1 {
		// NCHW <-> NHWC of one image: the other layout of the same
		// bytes, when the value is already stored that way.
		switch {
		case x.nhwc && slices.Equal(p, toNHWC):
			return c.set(o, 0, &val{shape: shape, buf: x.buf})
		case !x.nhwc && slices.Equal(p, toNCHW):
			return c.set(o, 0, &val{shape: shape, buf: x.buf, nhwc: true})
		}
	}
	return c.copyStrided(o, 0, x, shape, nchw.TransposeStrided(x.shape, p))
}
