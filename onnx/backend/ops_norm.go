package backend

// Normalisations: inference BatchNormalization, LRN (AlexNet's local
// response normalisation), InstanceNormalization and LayerNormalization.

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
)

func init() {
	register(map[string]handler{
		"BatchNormalization": compileBatchNorm, "LRN": compileLRN,
		"InstanceNormalization": compileInstanceNorm, "LayerNormalization": compileLayerNorm,
		"MeanVarianceNormalization": compileMVN,
	})
}

// normInput is input 0 of a normalisation, a run-time value of at least
// two dimensions, channels-first.
func (c *compiler) normInput(o op) (*val, error) {
	x, err := c.in(o, 0)
	if err != nil {
		return nil, err
	}
	if x.c != nil || len(x.shape) < 2 {
		return nil, unsupportedf("%s of %v: only run-time values of two dimensions or more", o.typ, x.shape)
	}
	return c.chw(x)
}

func compileLRN(c *compiler, o op) error {
	x, err := c.normInput(o)
	if err != nil {
		return err
	}
	if !o.attrs.Has("size") {
		return modelfile.FormatErrorf("LRN without its size")
	}
	size, err := o.attrs.Int("size", 0)
	if err != nil {
		return err
	}
	if size < 1 || size > modelfile.MaxElements {
		return modelfile.FormatErrorf("LRN size %d out of range", size)
	}
	s := lrnStep{n: x.shape[0], c: x.shape[1], hw: numel(x.shape[2:]), size: int(size)}
	for _, a := range []struct {
		name string
		def  float32
		to   *float64
	}{{"alpha", 1e-4, &s.alpha}, {"beta", 0.75, &s.beta}, {"bias", 1, &s.bias}} {
		v, err := o.attrs.Float(a.name, a.def)
		if err != nil {
			return err
		}
		*a.to = float64(v)
	}
	y, err := c.runtime(x.shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape), min(s.size, s.c)); err != nil {
		return err
	}
	s.in, s.out = x.buf, y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

type lrnStep struct {
	n, c, hw, size    int
	alpha, beta, bias float64
	in, out           int
}

func (s lrnStep) run(b [][]float32) {
	x, y := b[s.in], b[s.out]
	size := s.c * s.hw
	for i := range s.n {
		nchw.LRN(y[i*size:(i+1)*size], x[i*size:(i+1)*size], s.c, s.hw, s.size, s.alpha, s.beta, s.bias)
	}
}

// normParam reads input i of o, a scale or bias of want values, as a
// step's operand; absent (when optional) gives ok false.
func (c *compiler) normParam(o op, i int, shape []int, optional bool) (p param, ok bool, err error) {
	var v *val
	if optional {
		v, err = c.optional(o, i)
	} else {
		v, err = c.in(o, i)
	}
	if err != nil || v == nil {
		return p, false, err
	}
	// Leading dimensions of 1 aside, the parameter must have the shape
	// normalised, or be one value for all.
	trim := func(s []int) []int {
		for len(s) > 0 && s[0] == 1 {
			s = s[1:]
		}
		return s
	}
	if n := numel(v.shape); n != 1 && !slices.Equal(trim(v.shape), trim(shape)) {
		// Another shape that broadcasts to the normalised one is valid
		// ONNX, but not computed here.
		ok := len(v.shape) <= len(shape)
		for i := 1; ok && i <= len(v.shape); i++ {
			d := v.shape[len(v.shape)-i]
			ok = d == 1 || d == shape[len(shape)-i]
		}
		if !ok {
			return p, false, modelfile.FormatErrorf("%s: input %d of shape %v for %v", o.typ, i, v.shape, shape)
		}
		return p, false, unsupportedf("%s: input %d of shape %v broadcast to %v", o.typ, i, v.shape, shape)
	}
	p.k, p.buf, err = c.operand(v)
	return p, true, err
}

func compileInstanceNorm(c *compiler, o op) error {
	x, err := c.normInput(o)
	if err != nil {
		return err
	}
	eps, err := o.attrs.Float("epsilon", 1e-5)
	if err != nil {
		return err
	}
	s := instanceNormStep{n: x.shape[0], c: x.shape[1], hw: numel(x.shape[2:]), eps: float64(eps)}
	for i, p := range []*param{&s.scale, &s.shift} {
		v, err := c.in(o, i+1)
		if err != nil {
			return err
		}
		if len(v.shape) != 1 || v.shape[0] != s.c {
			return modelfile.FormatErrorf("InstanceNormalization of %v: input %d of shape %v", x.shape, i+1, v.shape)
		}
		if p.k, p.buf, err = c.operand(v); err != nil {
			return err
		}
	}
	y, err := c.runtime(x.shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape), 3); err != nil {
		return err
	}
	s.in, s.out = x.buf, y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

type instanceNormStep struct {
	n, c, hw     int
	eps          float64
	scale, shift param
	in, out      int
}

func (s instanceNormStep) run(b [][]float32) {
	x, y := b[s.in], b[s.out]
	scale, shift := s.scale.get(b), s.shift.get(b)
	size := s.c * s.hw
	for i := range s.n {
		nchw.InstanceNorm(y[i*size:(i+1)*size], x[i*size:(i+1)*size], scale, shift, s.c, s.hw, s.eps)
	}
}

// compileLayerNorm compiles LayerNormalization (opset 17), its outputs
// Mean and InvStdDev included: X's dimensions from axis on are normalised
// together, Scale and B having their shape (or one value).
func compileLayerNorm(c *compiler, o op) error {
	x, err := c.normInput(o)
	if err != nil {
		return err
	}
	axis, err := o.attrs.Int("axis", -1)
	if err != nil {
		return err
	}
	r := int64(len(x.shape))
	if axis < -r || axis >= r {
		return modelfile.FormatErrorf("LayerNormalization of %v over axis %d", x.shape, axis)
	}
	if axis < 0 {
		axis += r
	}
	eps, err := o.attrs.Float("epsilon", 1e-5)
	if err != nil {
		return err
	}
	norm := x.shape[axis:]
	s := layerNormStep{rows: numel(x.shape[:axis]), cols: numel(norm), eps: float64(eps), mean: -1, invStd: -1}
	if s.scale, _, err = c.normParam(o, 1, norm, false); err != nil {
		return err
	}
	var ok bool
	if s.shift, ok, err = c.normParam(o, 2, norm, true); err != nil {
		return err
	}
	s.noShift = !ok
	y, err := c.runtime(x.shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape), 3); err != nil {
		return err
	}
	if err := c.set(o, 0, y); err != nil {
		return err
	}
	// Mean and InvStdDev: X's shape with the normalised dimensions 1.
	stats := slices.Clone(x.shape)
	for i := axis; i < r; i++ {
		stats[i] = 1
	}
	for i, to := range []*int{&s.mean, &s.invStd} {
		if i+1 >= len(o.outputs) || o.outputs[i+1] == "" {
			continue
		}
		v, err := c.runtime(stats)
		if err != nil {
			return err
		}
		*to = v.buf
		if err := c.set(o, i+1, v); err != nil {
			return err
		}
	}
	s.in, s.out = x.buf, y.buf
	c.steps = append(c.steps, s)
	return nil
}

// compileMVN compiles MeanVarianceNormalization (Deep Java Library
// writes its LayerNorm so), its statistics taken over the axes given
// (default 0, 2 and 3: each channel across a batch). A classifier's plan,
// run an image at a time, cannot take them across the images of a batch:
// only a whole-tensor plan reads axes with 0.
func compileMVN(c *compiler, o op) error {
	x, err := c.normInput(o)
	if err != nil {
		return err
	}
	axes, err := o.attrs.Ints("axes")
	if err != nil {
		return err
	}
	if axes == nil {
		axes = []int64{0, 2, 3}
	}
	r := len(x.shape)
	over := make([]bool, r)
	for _, a := range axes {
		ax, err := axis(a, r)
		if err != nil {
			return err
		}
		over[ax] = true
	}
	if over[0] && !c.whole {
		return unsupportedf("MeanVarianceNormalization over axes %v takes its statistics across the images of a batch", axes)
	}
	y, err := c.runtime(x.shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape), 4); err != nil {
		return err
	}
	// Each element's group: its index along the axes kept, row-major.
	s := mvnStep{group: make([]int, numel(x.shape)), groups: 1, in: x.buf, out: y.buf}
	for k, d := range x.shape {
		if !over[k] {
			s.groups *= d
		}
	}
	s.size = max(len(s.group)/max(s.groups, 1), 1)
	idx := make([]int, r)
	for i := range s.group {
		g := 0
		for k, d := range x.shape {
			if !over[k] {
				g = g*d + idx[k]
			}
		}
		s.group[i] = g
		for k := r - 1; k >= 0; k-- {
			if idx[k]++; idx[k] < x.shape[k] {
				break
			}
			idx[k] = 0
		}
	}
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

type mvnStep struct {
	group        []int
	groups, size int
	in, out      int
}

func (s mvnStep) run(b [][]float32) {
	nchw.MeanVarianceNormalize(b[s.out], b[s.in], s.group, s.groups, s.size)
}

type layerNormStep struct {
	rows, cols   int
	eps          float64
	scale, shift param
	noShift      bool
	mean, invStd int // buffers, or -1 when not wanted
	in, out      int
}

func (s layerNormStep) run(b [][]float32) {
	var shift, mean, invStd []float32
	if !s.noShift {
		shift = s.shift.get(b)
	}
	if s.mean >= 0 {
		mean = b[s.mean]
	}
	if s.invStd >= 0 {
		invStd = b[s.invStd]
	}
	nchw.Normalize(b[s.out], mean, invStd, b[s.in], s.scale.get(b), shift, s.rows, s.cols, s.eps)
}

// batchNormCoefficients folds an inference BatchNormalization (checkInference
// refused the training ones) into a scale and shift per channel.
func (c *compiler) batchNormCoefficients(o op) (scale, shift []float32, err error) {
	eps, err := o.attrs.Float("epsilon", 1e-5)
	if err != nil {
		return nil, nil, err
	}
	var p [4][]float32
	for i := range p {
		k, err := c.constIn(o, i+1)
		if err != nil {
			return nil, nil, err
		}
		p[i] = k.floats()
		if len(p[i]) != len(p[0]) {
			return nil, nil, fmt.Errorf("BatchNormalization parameters of %d and %d channels", len(p[0]), len(p[i]))
		}
	}
	if !c.allowNonFinite {
		for ch, v := range p[3] {
			if !(float64(v)+float64(eps) > 0) {
				return nil, nil, fmt.Errorf("variance %g plus epsilon %g at channel %d is not positive: the scale would not be finite; refused (--allow-nonfinite accepts it)", v, eps, ch)
			}
		}
	}
	scale, shift = make([]float32, len(p[0])), make([]float32, len(p[0]))
	nchw.FoldBatchNorm(scale, shift, p[0], p[1], p[2], p[3], float64(eps))
	return scale, shift, nil
}

func compileBatchNorm(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.c != nil || len(x.shape) < 2 {
		return unsupportedf("BatchNormalization of %v: only run-time maps", x.shape)
	}
	n, ch := x.shape[0], x.shape[1]
	var p [4]*val
	folded := true
	for i := range p {
		if p[i], err = c.in(o, i+1); err != nil {
			return err
		}
		if numel(p[i].shape) != ch {
			return modelfile.FormatErrorf("BatchNormalization of %v: parameter %d of shape %v", x.shape, i+1, p[i].shape)
		}
		folded = folded && p[i].c != nil
	}
	s := batchNormStep{n: n, c: ch, hw: numel(x.shape[2:])}
	if folded {
		if s.scale, s.shift, err = c.batchNormCoefficients(o); err != nil {
			return err
		}
		if err := c.b.constBytes(8 * int64(ch)); err != nil {
			return err
		}
	} else {
		// Parameters computed at run time are folded at every run.
		eps, err := o.attrs.Float("epsilon", 1e-5)
		if err != nil {
			return err
		}
		s.eps = float64(eps)
		for i := range p {
			if s.p[i].k, s.p[i].buf, err = c.operand(p[i]); err != nil {
				return err
			}
		}
		if s.coef, err = c.newBuf(2 * ch); err != nil {
			return err
		}
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.computed(x.shape)
	if err != nil {
		return err
	}
	s.in, s.out = x.buf, y.buf
	if folded && n == 1 {
		c.steps = append(c.steps, scaleShiftStep{scale: s.scale, shift: s.shift, c: ch, hw: s.hw, in: x.buf, out: y.buf})
	} else {
		c.steps = append(c.steps, s)
	}
	return c.set(o, 0, y)
}

// param is an operand of a step: a constant, or a buffer when k is nil.
type param struct {
	k   []float32
	buf int
}

func (p param) get(b [][]float32) []float32 {
	if p.k != nil {
		return p.k
	}
	return b[p.buf]
}

// batchNormStep is an inference BatchNormalization of n images, its
// scale and shift folded at load or, from parameters computed at run
// time (p, eps), into buffer coef at every run.
type batchNormStep struct {
	scale, shift []float32
	p            [4]param // scale, B, mean, var
	eps          float64
	coef         int
	n, c, hw     int
	in, out      int
}

func (s batchNormStep) run(b [][]float32) {
	scale, shift := s.scale, s.shift
	if scale == nil {
		co := b[s.coef]
		scale, shift = co[:s.c], co[s.c:2*s.c]
		nchw.FoldBatchNorm(scale, shift, s.p[0].get(b), s.p[1].get(b), s.p[2].get(b), s.p[3].get(b), s.eps)
	}
	x, y := b[s.in], b[s.out]
	size := s.c * s.hw
	for i := range s.n {
		nchw.ScaleShift(y[i*size:(i+1)*size], x[i*size:(i+1)*size], scale, shift, s.c, s.hw)
	}
}
