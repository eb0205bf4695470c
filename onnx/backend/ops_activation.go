package backend

// Activations and elementwise functions of one tensor: Clip (ReLU6),
// PRelu, Elu, Selu, HardSigmoid, HardSwish, Softplus, Exp, Log, Sqrt, Neg,
// Abs, Reciprocal, Erf (GELU's, before opset 20), Round, Floor, Ceil, and
// Pow, whose exponent may be a tensor.

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{
		"Clip":  compileClip,
		"PRelu": compilePRelu,
		"Elu":   compileElu, "Selu": compileSelu, "HardSigmoid": compileHardSigmoid, "HardSwish": compileHardSwish,
		"Softplus": unary(nchw.Softplus), "Exp": unary(nchw.Exp), "Log": unary(nchw.Log), "Sqrt": unary(nchw.Sqrt),
		"Reciprocal": unary(nchw.Reciprocal), "Erf": unary(nchw.Erf),
		"Neg": unaryInt(nchw.Neg, func(v int64) int64 { return -v }),
		"Abs": unaryInt(nchw.Abs, func(v int64) int64 {
			if v < 0 {
				return -v
			}
			return v
		}),
		// An integer is its own rounding.
		"Round": unaryInt(nchw.Round, identity), "Floor": unaryInt(nchw.Floor, identity), "Ceil": unaryInt(nchw.Ceil, identity),
		"Pow": compilePow,
	})
}

func identity(v int64) int64 { return v }

// unaryInt is unary, but an integer constant (shape arithmetic) folds to
// integers through ifn rather than through float32, which would round
// large values.
func unaryInt(fn func(y, x []float32), ifn func(int64) int64) handler {
	h := unary(fn)
	return func(c *compiler, o op) error {
		x, err := c.in(o, 0)
		if err != nil {
			return err
		}
		if x.c == nil || !x.c.isInt() {
			return h(c, o)
		}
		k, err := c.folded(x.shape, true)
		if err != nil {
			return err
		}
		for i, v := range x.c.ints() {
			k.i[i] = ifn(v)
		}
		return c.set(o, 0, &val{shape: x.shape, c: k})
	}
}

// clipBound reads Clip's bound i (1 min, 2 max), which holds one value:
// nil when it is absent, a constant, or a run-time value the step reads.
func (c *compiler) clipBound(o op, i int, what string) (*val, error) {
	v, err := c.optional(o, i)
	if err != nil || v == nil {
		return nil, err
	}
	if numel(v.shape) != 1 {
		return nil, modelfile.FormatErrorf("%s's %s has shape %v, not a scalar", o.typ, what, v.shape)
	}
	return v, nil
}

// clipStep is Clip whose bounds are computed at run time: each is a
// buffer of one value, or the constant lo or hi where ilo or ihi is -1.
type clipStep struct {
	lo, hi   float32
	ilo, ihi int
	in, out  int
}

func (s clipStep) run(b [][]float32) {
	lo, hi := s.lo, s.hi
	if s.ilo >= 0 {
		lo = b[s.ilo][0]
	}
	if s.ihi >= 0 {
		hi = b[s.ihi][0]
	}
	nchw.Clip(b[s.out], b[s.in], lo, hi)
}

// compileClip: bounds are attributes before opset 11 and optional inputs
// of one value from it, constants or, in a plan of whole tensors, computed
// at run time; absent, they are float32's lowest and highest values.
// ReLU6 is Clip(x, 0, 6).
func compileClip(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	lo, hi := float32(-math.MaxFloat32), float32(math.MaxFloat32)
	ilo, ihi := int64(math.MinInt64), int64(math.MaxInt64)
	var bounds [2]*val // run-time min and max
	if c.opset < 11 {
		for _, name := range o.inputs[1:] {
			if name != "" {
				return modelfile.FormatErrorf("Clip before opset 11 takes one input, not %d (its bounds are attributes)", len(o.inputs))
			}
		}
		if lo, err = o.attrs.Float("min", lo); err != nil {
			return err
		}
		if hi, err = o.attrs.Float("max", hi); err != nil {
			return err
		}
	} else {
		if o.attrs.Has("min") || o.attrs.Has("max") {
			return modelfile.FormatErrorf("Clip from opset 11 takes its bounds as inputs, not attributes")
		}
		if len(o.inputs) > 3 {
			return modelfile.FormatErrorf("Clip takes at most 3 inputs, not %d", len(o.inputs))
		}
		for i, b := range []struct {
			what string
			f    *float32
			i    *int64
		}{{"min", &lo, &ilo}, {"max", &hi, &ihi}} {
			v, err := c.clipBound(o, 1+i, b.what)
			if err != nil {
				return err
			}
			switch {
			case v == nil:
			case v.c != nil:
				*b.f, *b.i = v.c.floats()[0], v.c.ints()[0]
			case !c.whole:
				// In a classifier a run-time value is one image's: a
				// bound of each image, which ONNX has no form of.
				return fmt.Errorf("Clip's %s computed from the image is %w in a classifier", b.what, onnx.ErrUnsupported)
			default:
				bounds[i] = v
			}
		}
	}
	if bounds[0] == nil && bounds[1] == nil {
		if x.c != nil && x.c.isInt() && c.opset >= 11 {
			// Integer types from opset 12 (11's bounds are inputs too):
			// shape arithmetic stays exact.
			k, err := c.folded(x.shape, true)
			if err != nil {
				return err
			}
			for i, v := range x.c.ints() {
				k.i[i] = min(max(v, ilo), ihi)
			}
			return c.set(o, 0, &val{shape: x.shape, c: k})
		}
		return unary(func(y, x []float32) { nchw.Clip(y, x, lo, hi) })(c, o)
	}
	// A bound known only at run time: x is read as a buffer even when it
	// is a constant, which the step's input then holds.
	s := clipStep{lo: lo, hi: hi, ilo: -1, ihi: -1}
	for i, p := range []*int{&s.ilo, &s.ihi} {
		if bounds[i] != nil {
			if *p, err = c.bufferOf(bounds[i]); err != nil {
				return err
			}
		}
	}
	if s.in, err = c.bufferOf(x); err != nil {
		return err
	}
	y, err := c.computed(x.shape)
	if err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// bufferOf returns the buffer of run-time value v, channels-first, or of
// a buffer that a step fills with v's values when it is a constant.
func (c *compiler) bufferOf(v *val) (int, error) {
	if v.c == nil {
		w, err := c.chw(v)
		if err != nil {
			return 0, err
		}
		return w.buf, nil
	}
	w, err := c.runtime(v.shape)
	if err != nil {
		return 0, err
	}
	if err := c.b.ops(numel(v.shape)); err != nil {
		return 0, err
	}
	c.steps = append(c.steps, constStep{values: v.c.floats(), out: w.buf})
	return w.buf, nil
}

// constStep writes a constant's values into a buffer.
type constStep struct {
	values []float32
	out    int
}

func (s constStep) run(b [][]float32) { copy(b[s.out], s.values) }

func compileElu(c *compiler, o op) error {
	alpha, err := o.attrs.Float("alpha", 1)
	if err != nil {
		return err
	}
	return unary(func(y, x []float32) { nchw.Elu(y, x, alpha) })(c, o)
}

func compileSelu(c *compiler, o op) error {
	alpha, err := o.attrs.Float("alpha", 1.67326319217681884765625)
	if err != nil {
		return err
	}
	gamma, err := o.attrs.Float("gamma", 1.05070102214813232421875)
	if err != nil {
		return err
	}
	return unary(func(y, x []float32) { nchw.Selu(y, x, alpha, gamma) })(c, o)
}

func compileHardSigmoid(c *compiler, o op) error {
	alpha, err := o.attrs.Float("alpha", 0.2)
	if err != nil {
		return err
	}
	beta, err := o.attrs.Float("beta", 0.5)
	if err != nil {
		return err
	}
	return unary(func(y, x []float32) { nchw.HardSigmoid(y, x, alpha, beta) })(c, o)
}

func compileHardSwish(c *compiler, o op) error {
	if c.opset < 14 {
		return modelfile.FormatErrorf("HardSwish is an operator of opset 14 and later, not of opset %d", c.opset)
	}
	return unary(nchw.HardSwish)(c, o)
}

// compilePRelu: the slope broadcasts unidirectionally to X (ONNX's rule
// from opset 7): one slope is LeakyRelu, a slope per channel [C,1,1] or
// any other shape broadcasts, a constant or a run-time value.
func compilePRelu(c *compiler, o op) error {
	x, slope, err := c.two(o)
	if err != nil {
		return err
	}
	if !unidirectional(slope.shape, x.shape) {
		return modelfile.FormatErrorf("PRelu's slope of shape %v does not broadcast to X of shape %v", slope.shape, x.shape)
	}
	if slope.c != nil && numel(slope.shape) == 1 {
		alpha := slope.c.floats()[0]
		return unary(func(y, x []float32) { nchw.LeakyRelu(y, x, alpha) })(c, o)
	}
	y, err := c.pairwise(o, extPair(nchw.PRelu), x, slope, false)
	if err != nil {
		return err
	}
	return c.set(o, 0, y)
}

// compilePow: a constant exponent of one value that leaves X's shape as
// it is runs as a function of one tensor (2 a square, 0.5 a square root);
// any other exponent broadcasts multidirectionally with X.
func compilePow(c *compiler, o op) error {
	x, e, err := c.two(o)
	if err != nil {
		return err
	}
	if e.c != nil && numel(e.shape) == 1 && len(e.shape) <= len(x.shape) {
		switch p := e.c.floats()[0]; p {
		case 2:
			return unary(nchw.Square)(c, o)
		case 0.5:
			return unary(nchw.PowHalf)(c, o)
		case 1:
			return unary(nchw.Copy)(c, o)
		default:
			return unary(func(y, x []float32) { nchw.PowScalar(y, x, p) })(c, o)
		}
	}
	y, err := c.pairwise(o, extPair(nchw.Pow), x, e, false)
	if err != nil {
		return err
	}
	return c.set(o, 0, y)
}
