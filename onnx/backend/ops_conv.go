package backend

// Convolution, and the fused blocks of the seed's networks and Keras's.

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
)

func init() {
	register(map[string]handler{"Conv": compileConv})
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
		if rank == 4 {
			if ok, err := c.stemNHWC(o, x, w, bias, conv); ok || err != nil {
				return err
			}
		}
		if rank == 4 && kh == 3 && kw == 3 && sh == 1 && sw == 1 && pt == 1 && pl == 1 && pb == 1 && pr == 1 {
			if ok, err := c.fuseBlock(o, x, w, bias); ok || err != nil {
				return err
			}
			if ok, err := c.direct3x3(o, x, w, bias); ok || err != nil {
				return err
			}
		}
		if rank == 4 && kh == 3 && kw == 3 && sh == 2 && sw == 2 && pt == 1 && pl == 1 && pb == 1 && pr == 1 {
			if ok, err := c.direct3x3s2(o, x, w, bias); ok || err != nil {
				return err
			}
		}
		if rank == 4 && kh == 3 && kw == 3 && sh == 1 && sw == 1 && pt+pl+pb+pr == 0 {
			if ok, err := c.winogradValid(o, x, w, bias); ok || err != nil {
				return err
			}
		}
		if rank == 4 && kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt+pl+pb+pr == 0 {
			if ok, err := c.pointwiseNHWC(o, x, w, bias, outC); ok || err != nil {
				return err
			}
		}
		if x, err = c.chw(x); err != nil {
			return err
		}
		if ok, err := c.shiftConv(o, conv, w, bias, x, outShape); ok || err != nil {
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
	if ok, err := c.depthwiseConv(o, geo, wv, b, x, outShape); ok || err != nil {
		return err
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
	scale, shift := identityScale(outC), make([]float32, outC)
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
	ceil, _ := pa.Int("ceil_mode", 0)
	h, wd := x.shape[2], x.shape[3]
	// A kernel of 0 would divide by zero below; one larger than the map
	// leaves nothing.
	if len(k) != 2 || k[0] < 1 || k[0] > int64(min(h, wd)) || k[0] != k[1] || !slices.Equal(s, k) ||
		(ap != "NOTSET" && ap != "" && ap != "VALID") || h%int(k[0]) != 0 || wd%int(k[0]) != 0 || !padsUnread(p, int(k[0]), h, wd, ceil != 0) ||
		poolNode.Input(0) == "" || len(poolNode.Outputs) > 1 && poolNode.Outputs[1] != "" {
		return false, nil
	}
	// With H and W multiples of K and no pads read, ceil_mode does not
	// matter.
	K := int(k[0])
	if idx[1] < 0 {
		scale, shift = nil, nil // the identity
	}
	if ok, err := c.winogradBlock(conv, x, w, bias, scale, shift, K, idx); ok || err != nil {
		return ok, err
	}
	if scale == nil {
		scale, shift = identityScale(outC), make([]float32, outC)
	}
	in, err := c.hwc(x)
	if err != nil {
		return false, err
	}
	conv3 := kernel.Conv3x3{H: h, W: wd, In: x.shape[1], Out: outC}
	realW := 0 // the map's width when the block runs on a wider one
	// A map whose width no kernel tile divides (14 of one channel, or on
	// AVX2) runs widened to one that does (16), its extra columns zero in
	// and cut off out. AVX-512 has 14-wide tiles for cnn28's and Keras's
	// second blocks, which run as they are.
	if wide, ok := conv3.Widened(K, kernel.Conv3x3.Vectorized); ok && wide.W != wd {
		conv3, realW = wide, wd
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
	c.handOver(&st, conv.inputs[0])
	c.steps = append(c.steps, st)
	for _, i := range idx {
		if i >= 0 {
			c.done[i] = true
		}
	}
	c.vals[poolNode.Outputs[0]] = y
	return true, nil
}

// handOver lets the block step just before st pool straight into st's
// padded input, where st's convolution alone reads that block's map,
// input: the copy of the map into st's xp goes. Neither block may run on
// a widened map.
func (c *compiler) handOver(st *blockStep, input string) {
	if st.realW != 0 {
		return
	}
	st.handed = c.handOverTo(st.in, st.xp, input)
}

// handOverTo lets the block step just before a step that alone reads its
// map (value input, buffer in) pool straight into that step's padded
// input, buffer xp, laid out as a block's: the map's rows and columns
// with a border of one zero pixel. It reports whether it did.
func (c *compiler) handOverTo(in, xp int, input string) bool {
	// uses counts the graph's outputs too: 1 is the step's convolution alone.
	if len(c.steps) == 0 || c.uses[input] != 1 {
		return false
	}
	prev, ok := c.steps[len(c.steps)-1].(blockStep)
	if !ok || prev.realW != 0 || prev.next != 0 || prev.out != in {
		return false
	}
	prev.next = xp + 1
	c.steps[len(c.steps)-1] = prev
	return true
}
