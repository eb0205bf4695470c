package backend

// The variadic operators Sum, Max, Min and Mean, and the broadcasting
// binary step they share with Pow and PRelu.

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{
		"Sum": variadic(binPair(nchw.Add), false), "Mean": variadic(binPair(nchw.Add), true),
		"Max": variadic(extPair(nchw.Max), false), "Min": variadic(extPair(nchw.Min), false),
	})
}

// pair is a broadcasting binary operation: one of nchw.Binary's or one of
// nchw.BinaryExt's.
type pair struct {
	bin   nchw.BinaryOp
	ext   nchw.ExtOp
	isExt bool
}

func binPair(op nchw.BinaryOp) pair { return pair{bin: op} }
func extPair(op nchw.ExtOp) pair    { return pair{ext: op, isExt: true} }

func (p pair) apply(y, a []float32, aShape []int, b []float32, bShape []int, yShape []int) {
	if p.isExt {
		nchw.BinaryExt(p.ext, y, a, aShape, b, bShape, yShape)
	} else {
		nchw.Binary(p.bin, y, a, aShape, b, bShape, yShape)
	}
}

// applyInt is p on integers (shape arithmetic), for Add, Max and Min; ok
// is false for the others.
func (p pair) applyInt(a, b int64) (v int64, ok bool) {
	switch {
	case !p.isExt && p.bin == nchw.Add:
		return a + b, true
	case p.isExt && p.ext == nchw.Max:
		return max(a, b), true
	case p.isExt && p.ext == nchw.Min:
		return min(a, b), true
	}
	return 0, false
}

// pairStep applies a pair to two operands, each a buffer or a constant.
type pairStep struct {
	p                      pair
	a, b                   []float32 // constants, or nil for buffers ia, ib
	ia, ib, out            int
	aShape, bShape, yShape []int
}

func (s pairStep) run(b [][]float32) {
	x, y := s.a, s.b
	if x == nil {
		x = b[s.ia]
	}
	if y == nil {
		y = b[s.ib]
	}
	s.p.apply(b[s.out], x, s.aShape, y, s.bShape, s.yShape)
}

// pairwise compiles p(a, b) with multidirectional broadcasting and returns
// its value: a constant folded at load when both operands are, else a
// step's buffer. inPlace says a is a buffer of o's own, which the step may
// overwrite when it has the result's shape.
func (c *compiler) pairwise(o op, p pair, a, b *val, inPlace bool) (*val, error) {
	shape, err := nchw.BroadcastShape(a.shape, b.shape)
	if err != nil {
		return nil, modelfile.FormatErrorf("%s of %v and %v: %w", o.typ, a.shape, b.shape, err)
	}
	if a.c != nil && b.c != nil {
		return c.foldPair(o, p, a.c, b.c, shape)
	}
	if !c.whole && mixesImages(shape, a, b) {
		return nil, fmt.Errorf("%s of %v and %v mixes images of a batch: %w", o.typ, a.shape, b.shape, onnx.ErrUnsupported)
	}
	s := pairStep{p: p, aShape: a.shape, bShape: b.shape, yShape: shape}
	if s.a, s.ia, err = c.operand(a); err != nil {
		return nil, err
	}
	if s.b, s.ib, err = c.operand(b); err != nil {
		return nil, err
	}
	var y *val
	if inPlace && a.c == nil && !a.nhwc && slices.Equal(a.shape, shape) {
		y = &val{shape: shape, buf: a.buf}
	} else if y, err = c.runtime(shape); err != nil {
		return nil, err
	}
	if err := c.b.ops(numel(shape)); err != nil {
		return nil, err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return y, nil
}

// foldPair computes p of two constants at load: integers stay integers
// for Add, Max and Min of equal shapes or a scalar (shape arithmetic).
func (c *compiler) foldPair(o op, p pair, a, b *constant, shape []int) (*val, error) {
	if _, err := elements(shape); err != nil {
		return nil, fmt.Errorf("%s of %v and %v: %w", o.typ, a.shape, b.shape, err)
	}
	n := numel(shape)
	if _, ok := p.applyInt(0, 0); ok && a.isInt() && b.isInt() &&
		(numel(a.shape) == n || numel(a.shape) == 1) && (numel(b.shape) == n || numel(b.shape) == 1) {
		k, err := c.folded(shape, true)
		if err != nil {
			return nil, err
		}
		ai, bi := a.ints(), b.ints()
		for i := range k.i {
			k.i[i], _ = p.applyInt(ai[min(i, len(ai)-1)], bi[min(i, len(bi)-1)])
		}
		return &val{shape: shape, c: k}, nil
	}
	k, err := c.folded(shape, false)
	if err != nil {
		return nil, err
	}
	p.apply(k.f, a.floats(), a.shape, b.floats(), b.shape, shape)
	return &val{shape: shape, c: k}, nil
}

// variadic compiles Sum, Max, Min (and Mean, a Sum divided by the number
// of inputs) of one or more inputs as a chain of pairs from the left,
// broadcasting from opset 8; before it, every input has one shape. The
// chain writes its own buffer in place once it has the result's shape.
func variadic(p pair, mean bool) handler {
	return func(c *compiler, o op) error {
		if len(o.inputs) == 0 {
			return modelfile.FormatErrorf("%s has no input", o.typ)
		}
		vs := make([]*val, len(o.inputs))
		for i := range o.inputs {
			v, err := c.in(o, i)
			if err != nil {
				return err
			}
			if c.opset < 8 && i > 0 && !slices.Equal(v.shape, vs[0].shape) {
				return modelfile.FormatErrorf("%s before opset 8 takes inputs of one shape, not %v and %v", o.typ, vs[0].shape, v.shape)
			}
			vs[i] = v
		}
		acc, own := vs[0], false
		for _, v := range vs[1:] {
			y, err := c.pairwise(o, p, acc, v, own)
			if err != nil {
				return err
			}
			acc, own = y, y.c == nil
		}
		if mean && len(vs) > 1 {
			n := &val{c: &constant{f: []float32{float32(len(vs))}}}
			y, err := c.pairwise(o, binPair(nchw.Div), acc, n, own)
			if err != nil {
				return err
			}
			acc = y
		}
		return c.set(o, 0, acc)
	}
}
