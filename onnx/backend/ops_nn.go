package backend

// Convolution, pooling and normalisation: the operators of a CNN's body,
// and the fused block of the seed's networks.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{
		"Conv": compileConv, "MaxPool": compilePool, "AveragePool": compilePool,
		"GlobalAveragePool": compileGlobalPool, "GlobalMaxPool": compileGlobalPool,
		"BatchNormalization": compileBatchNorm,
	})
}

// unsupportedf is an error about a form of an operator the backend does
// not compute, matching onnx.ErrUnsupported.
func unsupportedf(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), onnx.ErrUnsupported)
}

// spatial is a convolution's or pooling's window along each spatial axis:
// kernel sizes, strides, dilations and the pads before and after, each
// checked to lie within modelfile.MaxElements, as is the dilated kernel,
// so that the sums and the one product of two of them that the output's
// size takes cannot overflow.
type spatial struct {
	k, s, d, pb, pe []int
}

// extent is the dilated kernel's size along axis a.
func (g spatial) extent(a int) int { return (g.k[a]-1)*g.d[a] + 1 }

// plain reports whether every dilation is 1.
func (g spatial) plain() bool { return !slices.ContainsFunc(g.d, func(d int) bool { return d != 1 }) }

// spatialGeometry reads Conv's and the pools' strides, dilations and pads
// for an input of spatial sizes in and a kernel k, resolving auto_pad
// against the input's size with the dilated kernel. A pool's pads must be
// smaller than its kernel, as ONNX Runtime requires, so that every window
// overlaps the input (nchw.Pool2D's precondition); a convolution's,
// smaller than kernel and input together. The padded input must hold a
// dilated kernel.
func spatialGeometry(o op, in []int, k []int64, pool bool) (g spatial, err error) {
	rank := len(in)
	inRange := func(what string, v int64, lo int64) error {
		if v < lo {
			return modelfile.FormatErrorf("%s %d out of range", what, v)
		}
		if v > modelfile.MaxElements {
			return modelfile.LimitErrorf("%s %d is more than %d, refused", what, v, modelfile.MaxElements)
		}
		return nil
	}
	// per reads an attribute of one value per spatial axis, each at least
	// lo, def when absent; what names one value in errors.
	per := func(name, what string, n int, def, lo int64) ([]int, error) {
		v, err := o.attrs.Ints(name)
		if err != nil {
			return nil, err
		}
		if v == nil {
			v = slices.Repeat([]int64{def}, n)
		}
		if len(v) != n {
			return nil, modelfile.FormatErrorf("%s %v: want %d values for an input of %d spatial axes", name, v, n, rank)
		}
		out := make([]int, n)
		for i, x := range v {
			if err := inRange(what, x, lo); err != nil {
				return nil, err
			}
			out[i] = int(x)
		}
		return out, nil
	}
	if len(k) != rank {
		return g, modelfile.FormatErrorf("kernel_shape %v for an input of %d spatial axes", k, rank)
	}
	g.k = make([]int, rank)
	for i, v := range k {
		if err = inRange("kernel size", v, 1); err != nil {
			return
		}
		g.k[i] = int(v)
	}
	if g.s, err = per("strides", "stride", rank, 1, 1); err != nil {
		return
	}
	if g.d, err = per("dilations", "dilation", rank, 1, 1); err != nil {
		return
	}
	for a := range rank {
		if err = inRange("dilated kernel size", int64(g.k[a]-1)*int64(g.d[a])+1, 1); err != nil {
			return
		}
	}
	autoPad, err := o.attrs.Str("auto_pad", "NOTSET")
	if err != nil {
		return
	}
	g.pb, g.pe = make([]int, rank), make([]int, rank)
	switch autoPad {
	case "NOTSET", "":
		pads, e := o.attrs.Ints("pads")
		if e != nil {
			return g, e
		}
		if pads != nil {
			p, e := per("pads", "pad", 2*rank, 0, 0)
			if e != nil {
				return g, e
			}
			copy(g.pb, p[:rank])
			copy(g.pe, p[rank:])
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		// in, the extent and s are at most MaxElements: no step overflows.
		for a := range rank {
			total := max(((in[a]+g.s[a]-1)/g.s[a]-1)*g.s[a]+g.extent(a)-in[a], 0)
			lo := total / 2
			if autoPad == "SAME_LOWER" {
				lo = total - total/2
			}
			g.pb[a], g.pe[a] = lo, total-lo
		}
	default:
		return g, modelfile.FormatErrorf("auto_pad %q", autoPad)
	}
	for a := range rank {
		if pool && max(g.pb[a], g.pe[a]) >= g.k[a] {
			return g, modelfile.FormatErrorf("pads %s not smaller than the kernel %s", g.pads(), join(g.k, "x"))
		}
		if max(g.pb[a], g.pe[a]) >= g.extent(a)+in[a] {
			return g, modelfile.FormatErrorf("pads %s out of range", g.pads())
		}
		if in[a]+g.pb[a]+g.pe[a] < g.extent(a) {
			return g, modelfile.FormatErrorf("a kernel of %s (dilations %v) is larger than the input of %s padded by %s", join(g.k, "x"), g.d, join(in, "x"), g.pads())
		}
	}
	return g, nil
}

// pads is the pads as ONNX lists them, the beginnings then the ends.
func (g spatial) pads() string { return join(append(slices.Clone(g.pb), g.pe...), " ") }

// join writes v separated by sep.
func join(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

// flat2D views the geometry of one or two spatial axes as 2-D, a 1-D
// one as height 1.
func (g spatial) flat2D() (kh, kw, sh, sw, dh, dw, pt, pl, pb, pr int) {
	if len(g.k) == 1 {
		return 1, g.k[0], 1, g.s[0], 1, g.d[0], 0, g.pb[0], 0, g.pe[0]
	}
	return g.k[0], g.k[1], g.s[0], g.s[1], g.d[0], g.d[1], g.pb[0], g.pb[1], g.pe[0], g.pe[1]
}

func compileConv(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	wv, err := c.in(o, 1)
	if err != nil {
		return err
	}
	rank := len(x.shape)
	if x.c != nil || (rank != 3 && rank != 4) {
		return unsupportedf("Conv of %v: only 1-D and 2-D convolutions of run-time maps", x.shape)
	}
	if len(wv.shape) != rank {
		return modelfile.FormatErrorf("Conv of %v by weights %v", x.shape, wv.shape)
	}
	group, err := o.attrs.Int("group", 1)
	if err != nil {
		return err
	}
	n, inC := x.shape[0], x.shape[1]
	outC := wv.shape[0]
	if group < 1 || group > int64(inC) || inC%int(group) != 0 || outC%int(group) != 0 || wv.shape[1]*int(group) != inC {
		return modelfile.FormatErrorf("Conv of %v by weights %v in %d groups", x.shape, wv.shape, group)
	}
	k := make([]int64, rank-2)
	for i, d := range wv.shape[2:] {
		k[i] = int64(d)
	}
	if ks, err := o.attrs.Ints("kernel_shape"); err != nil {
		return err
	} else if ks != nil && !slices.Equal(ks, k) {
		return modelfile.FormatErrorf("kernel_shape %v does not match weights %v", ks, wv.shape)
	}
	b, err := c.optional(o, 2)
	if err != nil {
		return err
	}
	if b != nil && numel(b.shape) != outC {
		return modelfile.FormatErrorf("bias %v for %d output channels", b.shape, outC)
	}
	g, err := spatialGeometry(o, x.shape[2:], k, false)
	if err != nil {
		return err
	}
	kh, kw, sh, sw, dh, dw, pt, pl, pb, pr := g.flat2D()
	h, wd := 1, x.shape[rank-1]
	if rank == 4 {
		h = x.shape[2]
	}
	geo := nchw.GroupConv2D{InC: inC, InH: h, InW: wd, OutC: outC, KH: kh, KW: kw, StrideH: sh, StrideW: sw,
		PadTop: pt, PadLeft: pl, PadBottom: pb, PadRight: pr, DilationH: dh, DilationW: dw, Group: int(group)}
	oh, ow := geo.OutH(), geo.OutW()
	// One group's im2col matrix, [InC/group*KH*KW][OutH*OutW]: each factor
	// is within MaxElements, their product need not be.
	cols, err := elements([]int{inC / int(group), kh, kw, oh, ow})
	if err != nil {
		return fmt.Errorf("Conv of %v by weights %v: its im2col matrix: %w", x.shape, wv.shape, err)
	}
	if err := c.b.ops(n, outC, cols); err != nil {
		return err
	}
	outShape := []int{n, outC, oh, ow}
	if rank == 3 {
		outShape = []int{n, outC, ow}
	}
	plain := group == 1 && g.plain()
	conv := nchw.Conv2D{InC: inC, InH: h, InW: wd, OutC: outC, KH: kh, KW: kw, StrideH: sh, StrideW: sw,
		PadTop: pt, PadLeft: pl, PadBottom: pb, PadRight: pr}
	if plain && n == 1 && wv.c != nil && (b == nil || b.c != nil) {
		var bias []float32
		if b != nil {
			bias = b.c.floats()
		}
		w := wv.c.floats()
		if rank == 4 && kh == 3 && kw == 3 && sh == 1 && sw == 1 && pt == 1 && pl == 1 && pb == 1 && pr == 1 {
			if ok, err := c.fuseBlock(o, x, w, bias); ok || err != nil {
				return err
			}
		}
		if x, err = c.chw(x); err != nil {
			return err
		}
		y, err := c.runtime(outShape)
		if err != nil {
			return err
		}
		scratch := 0
		if conv.ScratchSize() > 0 {
			scratch = cols
		}
		s := convStep{c: conv, w: w, bias: bias, in: x.buf, out: y.buf}
		if s.scratch, err = c.newBuf(scratch); err != nil {
			return err
		}
		split := splitConvStep{convStep: s}
		if split.cols, err = c.newBuf(cols); err != nil {
			return err
		}
		c.steps = append(c.steps, split)
		return c.set(o, 0, y)
	}
	// The general case: groups, dilations, several images in one tensor,
	// or weights computed at run time.
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.runtime(outShape)
	if err != nil {
		return err
	}
	s := batchConvStep{plain: plain, conv: conv, group: geo, n: n, inSize: numel(x.shape) / n, outSize: numel(outShape) / n,
		in: x.buf, out: y.buf, ib: -1}
	if s.w, s.iw, err = c.operand(wv); err != nil {
		return err
	}
	if b != nil {
		if s.bias, s.ib, err = c.operand(b); err != nil {
			return err
		}
	}
	scratch := geo.ScratchSize()
	if plain {
		scratch = conv.ScratchSize()
	}
	if s.scratch, err = c.newBuf(scratch); err != nil {
		return err
	}
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// batchConvStep is a convolution in general: grouped or dilated (group),
// or plain (conv) over several images of one tensor, or with weights or a
// bias computed at run time.
type batchConvStep struct {
	plain           bool
	conv            nchw.Conv2D
	group           nchw.GroupConv2D
	w, bias         []float32 // constants, or nil for buffers iw and ib (ib < 0: no bias)
	iw, ib          int
	n               int // images
	inSize, outSize int // floats of one image
	in, out         int
	scratch         int
}

func (s batchConvStep) run(b [][]float32) {
	w, bias := s.w, s.bias
	if w == nil {
		w = b[s.iw]
	}
	if bias == nil && s.ib >= 0 {
		bias = b[s.ib]
	}
	x, y, scratch := b[s.in], b[s.out], b[s.scratch]
	for i := range s.n {
		xi, yi := x[i*s.inSize:(i+1)*s.inSize], y[i*s.outSize:(i+1)*s.outSize]
		if s.plain {
			s.conv.Forward(yi, xi, w, bias, scratch)
		} else {
			s.group.Forward(yi, xi, w, bias, scratch)
		}
	}
}

// next returns the only node that reads value name, when exactly one
// does and the value is not a graph output.
func (c *compiler) next(name string) (int, bool) {
	if c.uses[name] != 1 {
		return 0, false
	}
	if c.g.IsOutput(name) {
		return 0, false
	}
	for i, n := range c.g.Nodes {
		if !c.done[i] && slices.Contains(n.Inputs, name) {
			return i, true
		}
	}
	return 0, false
}

// fuseBlock compiles Conv 3x3 -> Relu -> BatchNormalization -> MaxPool
// KxK/K, the seed's block, into one blockStep when the graph has it, and
// Conv 3x3 -> Relu -> MaxPool, Keras's, as the same block with the
// identity for BatchNormalization.
func (c *compiler) fuseBlock(conv op, x *val, w, bias []float32) (bool, error) {
	// Relu, an optional BatchNormalization (Keras's blocks have none: its
	// scale is then 1 and its shift 0), MaxPool.
	var idx []int
	name := conv.outputs[0]
	for _, typ := range []string{"Relu", "BatchNormalization", "MaxPool"} {
		i, ok := c.next(name)
		if !ok {
			return false, nil
		}
		n := c.g.Nodes[i]
		if typ == "BatchNormalization" && n.OpType == "MaxPool" {
			idx = append(idx, -1)
			typ = "MaxPool"
		}
		if n.OpType != typ || n.Input(0) != name || len(n.Outputs) == 0 {
			return false, nil
		}
		idx = append(idx, i)
		name = n.Outputs[0]
		if typ == "MaxPool" {
			break
		}
	}
	poolNode := c.g.Nodes[idx[2]]
	outC := len(bias)
	if bias == nil {
		outC = len(w) / (9 * x.shape[1])
	}
	scale, shift := make([]float32, outC), make([]float32, outC)
	for i := range scale {
		scale[i] = 1
	}
	if idx[1] >= 0 {
		for _, in := range c.g.Nodes[idx[1]].Inputs[1:] {
			if v := c.vals[in]; v == nil || v.c == nil {
				return false, nil // parameters computed at run time
			}
		}
		var err error
		scale, shift, err = c.batchNormCoefficients(newOp(idx[1], c.g.Nodes[idx[1]]))
		if err != nil || len(scale) == 0 {
			return false, err
		}
	}
	if len(scale) != outC {
		return false, fmt.Errorf("BatchNormalization of %d channels after a Conv of %d", len(scale), outC)
	}
	pa := poolNode.Attrs
	k, _ := pa.Ints("kernel_shape")
	s, _ := pa.Ints("strides")
	p, _ := pa.Ints("pads")
	ap, _ := pa.Str("auto_pad", "NOTSET")
	h, wd := x.shape[2], x.shape[3]
	// A kernel of 0 would divide by zero below; one larger than the map
	// leaves nothing.
	if len(k) != 2 || k[0] < 1 || k[0] > int64(min(h, wd)) || k[0] != k[1] || !slices.Equal(s, k) ||
		slices.ContainsFunc(p, func(v int64) bool { return v != 0 }) ||
		(ap != "NOTSET" && ap != "" && ap != "VALID") || h%int(k[0]) != 0 || wd%int(k[0]) != 0 || poolNode.Input(0) == "" || len(poolNode.Outputs) > 1 && poolNode.Outputs[1] != "" {
		return false, nil
	}
	// With H and W multiples of K, ceil_mode does not matter.
	K := int(k[0])
	in, err := c.hwc(x)
	if err != nil {
		return false, err
	}
	conv3 := kernel.Conv3x3{H: h, W: wd, In: x.shape[1], Out: outC}
	realW := 0 // the map's width when the block runs on a wider one
	if !conv3.Vectorized() {
		// A map whose width no kernel tile divides (14) runs widened to
		// one that does (16), its extra columns zero in and cut off out.
		for _, r := range []int{4, 8, 16} {
			wide := conv3
			wide.W = (wd + r - 1) / r * r
			if wide.W != wd && wide.W%K == 0 && wide.Vectorized() {
				conv3, realW = wide, wd
				break
			}
		}
	}
	if idx[1] < 0 && !conv3.Vectorized() {
		// Without a BatchNorm to fold, the block pays only where its
		// kernels are vectorised; the Go fallbacks lose to im2col.
		return false, nil
	}
	bn := kernel.BNPool{H: h, W: conv3.W, C: outC, K: K}
	// The weights in the kernel's order, a bias and the coefficients:
	// constants of the plan, as large as the weights they come from.
	if err := c.b.constBytes(4 * (int64(outC)*int64(conv3.K()) + int64(outC) + 2*int64(len(scale)))); err != nil {
		return false, err
	}
	if err := c.b.ops(outC, h, wd); err != nil { // the pooling, beside the convolution compileConv counted
		return false, err
	}
	st := blockStep{conv: conv3, bn: bn, wd: make([]float32, outC*conv3.K()), bias: bias,
		coef: append(scale, shift...), in: in.buf}
	conv3.DirectWeights(st.wd, w)
	if st.bias == nil {
		st.bias = make([]float32, outC)
	}
	padded, err := elements([]int{h + 2, conv3.W + 2, conv3.In})
	if err != nil {
		return false, err
	}
	if st.xp, err = c.newBuf(padded); err != nil {
		return false, err
	}
	if st.z, err = c.newBuf(numel([]int{h, conv3.W, outC})); err != nil {
		return false, err
	}
	if realW > 0 {
		st.realW = realW
		if st.wide, err = c.newBuf(numel([]int{h / K, conv3.W / K, outC})); err != nil {
			return false, err
		}
	}
	y, err := c.runtime([]int{1, outC, h / K, wd / K})
	if err != nil {
		return false, err
	}
	y.nhwc = true
	st.out = y.buf
	c.steps = append(c.steps, st)
	for _, i := range idx {
		if i >= 0 {
			c.done[i] = true
		}
	}
	c.vals[poolNode.Outputs[0]] = y
	return true, nil
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

func compilePool(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.c != nil || len(x.shape) < 3 {
		return unsupportedf("%s of %v: only pooling of run-time maps", o.typ, x.shape)
	}
	if len(o.outputs) > 1 && o.outputs[1] != "" {
		return unsupportedf("MaxPool's Indices output")
	}
	k, err := o.attrs.Ints("kernel_shape")
	if err != nil {
		return err
	}
	if len(k) != len(x.shape)-2 {
		return modelfile.FormatErrorf("%s of %v: kernel_shape %v", o.typ, x.shape, k)
	}
	// storage_order only orders the Indices output, refused above.
	in := x.shape[2:]
	// spatialGeometry's default strides are ONNX's, 1; not the kernel size
	// as in PyTorch.
	g, err := spatialGeometry(o, in, k, true)
	if err != nil {
		return err
	}
	ceil, err := o.attrs.Int("ceil_mode", 0)
	if err != nil {
		return err
	}
	cip, err := o.attrs.Int("count_include_pad", 0)
	if err != nil {
		return err
	}
	isMax := o.typ == "MaxPool"
	out := make([]int, len(in))
	for a := range in {
		out[a] = poolOut(in[a], g.extent(a), g.s[a], g.pb[a], g.pe[a], ceil != 0)
		if out[a] < 1 {
			return modelfile.FormatErrorf("%s of %v with kernel %v leaves no output", o.typ, x.shape, k)
		}
	}
	rows := x.shape[0] * x.shape[1]
	plain := len(in) == 2 && g.plain()
	relu := x.relu && isMax && plain
	if !relu {
		if x, err = c.materialize(x); err != nil {
			return err
		}
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.runtime(append([]int{x.shape[0], x.shape[1]}, out...))
	if err != nil {
		return err
	}
	// Each window is read where it overlaps the input.
	work := []int{numel(y.shape)}
	for a := range in {
		work = append(work, min(g.k[a], in[a]))
	}
	if err := c.b.ops(work...); err != nil {
		return err
	}
	if plain {
		// The images of a tensor are channels one after another.
		p := nchw.Pool2D{C: rows, H: in[0], W: in[1], KH: g.k[0], KW: g.k[1], StrideH: g.s[0], StrideW: g.s[1],
			PadTop: g.pb[0], PadLeft: g.pb[1], PadBottom: g.pe[0], PadRight: g.pe[1], CeilMode: ceil != 0,
			Max: isMax, CountIncludePad: cip != 0, Relu: relu}
		c.steps = append(c.steps, poolStep{p: p, in: x.buf, out: y.buf})
	} else {
		c.steps = append(c.steps, poolNDStep{max: isMax, countPad: cip != 0, rows: rows, in: in, out: out, g: g, x: x.buf, y: y.buf})
	}
	return c.set(o, 0, y)
}

// poolOut is the number of windows of extent k along an axis of size n,
// nchw.Pool2D's: in ceil mode a last window that would start in the end
// padding is dropped.
func poolOut(n, k, stride, padBegin, padEnd int, ceil bool) int {
	span := n + padBegin + padEnd - k
	if !ceil {
		return span/stride + 1
	}
	out := (span+stride-1)/stride + 1
	if (out-1)*stride >= n+padBegin {
		out--
	}
	return out
}

// poolNDStep is max or average pooling of any number of spatial axes,
// with dilations: rows maps (images times channels) of spatial sizes in
// to maps of sizes out. It counts the window as nchw.Pool2D does: max
// skips the padding; average divides by the taps inside the input, or
// with countPad inside input and padding.
type poolNDStep struct {
	max, countPad bool
	rows          int
	in, out       []int
	g             spatial
	x, y          int
}

func (s poolNDStep) run(b [][]float32) {
	rank := len(s.in)
	inN, outN := numel(s.in), numel(s.out)
	// Per axis: the window's first input position, and its range of taps
	// inside the input [lo, hi) and inside input and padding [plo, phi).
	start, lo, hi, cur := make([]int, rank), make([]int, rank), make([]int, rank), make([]int, rank)
	pos := make([]int, rank)
	x, y := b[s.x], b[s.y]
	for o := range outN {
		// o's position in the output, last axis fastest.
		r := o
		for a := rank - 1; a >= 0; a-- {
			pos[a] = r % s.out[a]
			r /= s.out[a]
		}
		count, padCount := 1, 1
		for a := range rank {
			st, d := pos[a]*s.g.s[a]-s.g.pb[a], s.g.d[a]
			start[a] = st
			lo[a], hi[a] = taps(st, 0, s.in[a], d, s.g.k[a])
			count *= hi[a] - lo[a]
			plo, phi := taps(st, -s.g.pb[a], s.in[a]+s.g.pe[a], d, s.g.k[a])
			padCount *= phi - plo
		}
		for row := range s.rows {
			img := x[row*inN : (row+1)*inN]
			var v float32
			if count == 0 {
				v = float32(math.Inf(-1))
				if !s.max {
					v = 0
				}
				y[row*outN+o] = v
				continue
			}
			copy(cur, lo)
			m, sum := float32(math.Inf(-1)), 0.0
			for {
				off := 0
				for a := range rank {
					off = off*s.in[a] + start[a] + cur[a]*s.g.d[a]
				}
				e := img[off]
				if e > m {
					m = e
				}
				sum += float64(e)
				a := rank - 1
				for ; a >= 0; a-- {
					if cur[a]++; cur[a] < hi[a] {
						break
					}
					cur[a] = lo[a]
				}
				if a < 0 {
					break
				}
			}
			if s.max {
				v = m
			} else if s.countPad {
				v = float32(sum / float64(padCount))
			} else {
				v = float32(sum / float64(count))
			}
			y[row*outN+o] = v
		}
	}
}

// taps is the range [lo, hi) of taps t < k of a window starting at st,
// taps d apart, whose position st + t*d lies in [from, to).
func taps(st, from, to, d, k int) (lo, hi int) {
	if st < from {
		lo = (from - st + d - 1) / d
	}
	if last := to - 1 - st; last >= 0 {
		hi = min(last/d+1, k)
	}
	return min(lo, k), max(min(lo, k), hi)
}

func compileGlobalPool(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.c != nil || len(x.shape) < 3 {
		return unsupportedf("%s of %v: only run-time maps of spatial axes", o.typ, x.shape)
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	shape := []int{x.shape[0], x.shape[1]}
	for range x.shape[2:] {
		shape = append(shape, 1)
	}
	y, err := c.runtime(shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape)); err != nil {
		return err
	}
	// The images of a tensor are channels one after another.
	rows, hw := x.shape[0]*x.shape[1], numel(x.shape[2:])
	if o.typ == "GlobalMaxPool" {
		c.steps = append(c.steps, globalMaxPoolStep{c: rows, hw: hw, in: x.buf, out: y.buf})
	} else {
		c.steps = append(c.steps, globalPoolStep{c: rows, hw: hw, in: x.buf, out: y.buf})
	}
	return c.set(o, 0, y)
}

type globalMaxPoolStep struct {
	c, hw   int
	in, out int
}

func (s globalMaxPoolStep) run(b [][]float32) { nchw.GlobalMaxPool(b[s.out], b[s.in], s.c, s.hw) }

// oneImage refuses a run-time map of more than one image: for the
// operators whose kernels take one at a time, which a classifier's plan
// always gives them, but a plan of whole tensors (lenetkit run) may not.
func oneImage(o op, x *val) error {
	if len(x.shape) > 0 && x.shape[0] != 1 {
		return fmt.Errorf("%s of %v: a batch of %d in one tensor is %w", o.typ, x.shape, x.shape[0], onnx.ErrUnsupported)
	}
	return nil
}
