package backend

// Convolution, pooling and normalisation: the operators of a CNN's body,
// and the fused block of the seed's networks.

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(map[string]handler{
		"Conv": compileConv, "MaxPool": compilePool, "AveragePool": compilePool,
		"GlobalAveragePool": compileGlobalPool, "BatchNormalization": compileBatchNorm,
	})
}

// geometry is a convolution's or pooling's kernel, strides and pads,
// each checked to lie within modelfile.MaxElements, so that the sums and
// the one product of two of them that the output's size takes cannot
// overflow.
type geometry struct {
	kh, kw, sh, sw, pt, pl, pb, pr int
}

// convGeometry reads Conv's and the pools' strides and pads for an input
// of h x w and a kernel of kh x kw, resolving auto_pad against the input's
// size. A pool's pads must be smaller than its kernel, as ONNX Runtime
// requires, so that every window overlaps the input (nchw.Pool2D's
// precondition); a convolution's, smaller than kernel and input together.
// The padded input must hold a kernel.
func convGeometry(o op, h, w int, kh, kw int64, pool bool) (g geometry, err error) {
	inRange := func(what string, v int64, lo int64) error {
		if v < lo {
			return modelfile.FormatErrorf("%s %d out of range", what, v)
		}
		if v > modelfile.MaxElements {
			return modelfile.LimitErrorf("%s %d is more than %d, refused", what, v, modelfile.MaxElements)
		}
		return nil
	}
	if err = inRange("kernel size", kh, 1); err != nil {
		return
	}
	if err = inRange("kernel size", kw, 1); err != nil {
		return
	}
	g.kh, g.kw = int(kh), int(kw)
	strides, err := o.attrs.Ints("strides")
	if err != nil {
		return
	}
	sh, sw := int64(1), int64(1)
	if len(strides) == 2 {
		sh, sw = strides[0], strides[1]
	} else if strides != nil {
		err = fmt.Errorf("strides %v: only 2-D is supported", strides)
		return
	}
	if dil, _ := o.attrs.Ints("dilations"); dil != nil && slices.ContainsFunc(dil, func(d int64) bool { return d != 1 }) {
		err = fmt.Errorf("dilations %v: only 1 is supported", dil)
		return
	}
	if err = inRange("stride", sh, 1); err != nil {
		return
	}
	if err = inRange("stride", sw, 1); err != nil {
		return
	}
	g.sh, g.sw = int(sh), int(sw)
	autoPad, err := o.attrs.Str("auto_pad", "NOTSET")
	if err != nil {
		return
	}
	switch autoPad {
	case "NOTSET", "":
		pads, e := o.attrs.Ints("pads")
		if e != nil {
			err = e
			return
		}
		if len(pads) == 4 {
			for _, p := range pads {
				if err = inRange("pad", p, 0); err != nil {
					return
				}
			}
			g.pt, g.pl, g.pb, g.pr = int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])
		} else if pads != nil {
			err = fmt.Errorf("pads %v: want 4 values", pads)
			return
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		// in, k and s are at most MaxElements: no step overflows.
		same := func(in, k, s int) (lo, hi int) {
			total := max(((in+s-1)/s-1)*s+k-in, 0)
			lo = total / 2
			if autoPad == "SAME_LOWER" {
				lo = total - total/2
			}
			return lo, total - lo
		}
		g.pt, g.pb = same(h, g.kh, g.sh)
		g.pl, g.pr = same(w, g.kw, g.sw)
	default:
		err = fmt.Errorf("auto_pad %q", autoPad)
		return
	}
	if pool && (max(g.pt, g.pb) >= g.kh || max(g.pl, g.pr) >= g.kw) {
		err = modelfile.FormatErrorf("pads %d %d %d %d not smaller than the kernel %dx%d", g.pt, g.pl, g.pb, g.pr, g.kh, g.kw)
		return
	}
	if max(g.pt, g.pb) >= g.kh+h || max(g.pl, g.pr) >= g.kw+w {
		err = modelfile.FormatErrorf("pads %d %d %d %d out of range", g.pt, g.pl, g.pb, g.pr)
		return
	}
	if h+g.pt+g.pb < g.kh || w+g.pl+g.pr < g.kw {
		err = modelfile.FormatErrorf("a kernel of %dx%d is larger than the padded input of %dx%d", g.kh, g.kw, h+g.pt+g.pb, w+g.pl+g.pr)
	}
	return
}

func compileConv(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	w, err := c.constIn(o, 1)
	if err != nil {
		return err
	}
	if x.c != nil || len(x.shape) != 4 || len(w.shape) != 4 {
		return fmt.Errorf("Conv of %v by weights %v: only 2-D convolutions of run-time maps are supported", x.shape, w.shape)
	}
	if err := oneImage(o, x); err != nil {
		return err
	}
	if g, err := o.attrs.Int("group", 1); err != nil || g != 1 {
		return fmt.Errorf("group %d: only 1 is supported", g)
	}
	inC, h, wd := x.shape[1], x.shape[2], x.shape[3]
	outC, kh, kw := w.shape[0], w.shape[2], w.shape[3]
	if w.shape[1] != inC {
		return fmt.Errorf("weights %v for an input of %d channels", w.shape, inC)
	}
	if ks, _ := o.attrs.Ints("kernel_shape"); ks != nil && (len(ks) != 2 || ks[0] != int64(kh) || ks[1] != int64(kw)) {
		return fmt.Errorf("kernel_shape %v does not match weights %v", ks, w.shape)
	}
	var bias []float32
	if b, err := c.optional(o, 2); err != nil {
		return err
	} else if b != nil {
		if b.c == nil || numel(b.shape) != outC {
			return fmt.Errorf("bias %v for %d output channels", b.shape, outC)
		}
		bias = b.c.floats()
	}
	g, err := convGeometry(o, h, wd, int64(kh), int64(kw), false)
	if err != nil {
		return err
	}
	geo := nchw.Conv2D{InC: inC, InH: h, InW: wd, OutC: outC, KH: kh, KW: kw, StrideH: g.sh, StrideW: g.sw,
		PadTop: g.pt, PadLeft: g.pl, PadBottom: g.pb, PadRight: g.pr}
	oh, ow := geo.OutH(), geo.OutW()
	// The im2col matrix, [InC*KH*KW][OutH*OutW]: each factor is within
	// MaxElements, their product need not be.
	cols, err := elements([]int{inC, kh, kw, oh, ow})
	if err != nil {
		return fmt.Errorf("Conv of %v by weights %v: its im2col matrix: %w", x.shape, w.shape, err)
	}
	if err := c.b.ops(outC, cols); err != nil {
		return err
	}
	if kh == 3 && kw == 3 && g == (geometry{3, 3, 1, 1, 1, 1, 1, 1}) {
		if ok, err := c.fuseBlock(o, x, w.floats(), bias); ok || err != nil {
			return err
		}
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.runtime([]int{1, outC, oh, ow})
	if err != nil {
		return err
	}
	scratch := 0
	if geo.ScratchSize() > 0 {
		scratch = cols
	}
	s := convStep{c: geo, w: w.floats(), bias: bias, in: x.buf, out: y.buf}
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
// KxK/K, the seed's block, into one blockStep when the graph has it.
func (c *compiler) fuseBlock(conv op, x *val, w, bias []float32) (bool, error) {
	chain := []string{"Relu", "BatchNormalization", "MaxPool"}
	idx := make([]int, 0, 3)
	name := conv.outputs[0]
	for _, typ := range chain {
		i, ok := c.next(name)
		if !ok {
			return false, nil
		}
		n := c.g.Nodes[i]
		if n.OpType != typ || n.Input(0) != name || len(n.Outputs) == 0 {
			return false, nil
		}
		idx = append(idx, i)
		name = n.Outputs[0]
	}
	poolNode := c.g.Nodes[idx[2]]
	scale, shift, err := c.batchNormCoefficients(newOp(idx[1], c.g.Nodes[idx[1]]))
	if err != nil || len(scale) == 0 {
		return false, err
	}
	outC := len(bias)
	if bias == nil {
		outC = len(w) / (9 * x.shape[1])
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
	bn := kernel.BNPool{H: h, W: wd, C: outC, K: K}
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
	padded, err := elements([]int{h + 2, wd + 2, conv3.In})
	if err != nil {
		return false, err
	}
	if st.xp, err = c.newBuf(padded); err != nil {
		return false, err
	}
	if st.z, err = c.newBuf(numel([]int{h, wd, outC})); err != nil {
		return false, err
	}
	y, err := c.runtime([]int{1, outC, h / K, wd / K})
	if err != nil {
		return false, err
	}
	y.nhwc = true
	st.out = y.buf
	c.steps = append(c.steps, st)
	for _, i := range idx {
		c.done[i] = true
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
	scale, shift, err := c.batchNormCoefficients(o)
	if err != nil {
		return err
	}
	if x.c != nil || len(x.shape) < 2 || x.shape[1] != len(scale) {
		return fmt.Errorf("BatchNormalization of %v with %d channels", x.shape, len(scale))
	}
	if err := oneImage(o, x); err != nil {
		return err
	}
	if err := c.b.constBytes(8 * int64(len(scale))); err != nil {
		return err
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.runtime(x.shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape)); err != nil {
		return err
	}
	c.steps = append(c.steps, scaleShiftStep{scale: scale, shift: shift, c: len(scale), hw: numel(x.shape) / len(scale), in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

func compilePool(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.c != nil || len(x.shape) != 4 {
		return fmt.Errorf("%s of %v: only 2-D pooling of run-time maps is supported", o.typ, x.shape)
	}
	if err := oneImage(o, x); err != nil {
		return err
	}
	if len(o.outputs) > 1 && o.outputs[1] != "" {
		return fmt.Errorf("MaxPool's Indices output is not supported")
	}
	k, err := o.attrs.Ints("kernel_shape")
	if err != nil || len(k) != 2 {
		return fmt.Errorf("kernel_shape %v: want 2 values", k)
	}
	if so, _ := o.attrs.Int("storage_order", 0); so != 0 {
		return fmt.Errorf("storage_order %d is not supported", so)
	}
	h, w := x.shape[2], x.shape[3]
	// convGeometry's default strides are ONNX's, 1; not the kernel size as
	// in PyTorch.
	g, err := convGeometry(o, h, w, k[0], k[1], true)
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
	p := nchw.Pool2D{C: x.shape[1], H: h, W: w, KH: g.kh, KW: g.kw, StrideH: g.sh, StrideW: g.sw,
		PadTop: g.pt, PadLeft: g.pl, PadBottom: g.pb, PadRight: g.pr, CeilMode: ceil != 0,
		Max: o.typ == "MaxPool", CountIncludePad: cip != 0}
	if p.OutH() < 1 || p.OutW() < 1 {
		return fmt.Errorf("%s of %v with kernel %v leaves no output", o.typ, x.shape, k)
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.runtime([]int{1, p.C, p.OutH(), p.OutW()})
	if err != nil {
		return err
	}
	// Each window is read where it overlaps the input.
	if err := c.b.ops(numel(y.shape), min(p.KH, h), min(p.KW, w)); err != nil {
		return err
	}
	c.steps = append(c.steps, poolStep{p: p, in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

func compileGlobalPool(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.c != nil || len(x.shape) < 3 {
		return fmt.Errorf("GlobalAveragePool of %v", x.shape)
	}
	if err := oneImage(o, x); err != nil {
		return err
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	shape := []int{1, x.shape[1]}
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
	c.steps = append(c.steps, globalPoolStep{c: x.shape[1], hw: numel(x.shape[2:]), in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

// oneImage refuses a run-time map of more than one image: the kernels of
// this family take one at a time, which a classifier's plan always gives
// them, but a plan of whole tensors (lenetkit run) may not.
func oneImage(o op, x *val) error {
	if len(x.shape) > 0 && x.shape[0] != 1 {
		return fmt.Errorf("%s of %v: a batch of %d in one tensor is %w", o.typ, x.shape, x.shape[0], onnx.ErrUnsupported)
	}
	return nil
}
