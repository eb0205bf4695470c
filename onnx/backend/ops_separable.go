package backend

// MobileNet's separable blocks, channels-last (package nhwc): a depthwise
// 3x3 convolution vectorised across channels, a vector of one pixel's
// channels at a time; a 1x1 convolution reading the pixels in place, a
// vector of output channels times each pixel's input channels; and a
// first 3x3 convolution of one channel (a gray image) before them. Each
// takes the Relu or Relu6 after it and writes the next depthwise step's
// padded input itself; GlobalAveragePool reads the last map as it is.
// Planes one at a time spent their time on the borders of many small
// planes, a 1x1 convolution per image was a product of few rows, and the
// layout turns and copies between them cost as much as the work.
//
// The steps are not splitters: a step takes a few microseconds, and
// handing halves of it to the other CPU took longer than the half (a
// batch of one ran at half the speed split).

import (
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/internal/nhwc"
)

// clamp is a Relu or a Clip of constant bounds fused into the step
// before it: node is its index in the graph, lo and hi its bounds.
type clamp struct {
	node   int
	lo, hi float32
}

// noClamp is the clamp of no activation: every finite value stays.
var noClamp = clamp{node: -1, lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}

// clampAfter returns the Relu, or the Clip of constant bounds, that alone
// reads value name; noClamp and false when there is none.
func (c *compiler) clampAfter(name string) (clamp, bool) {
	i, ok := c.single(name)
	if !ok || c.g.Nodes[i].Domain != "" {
		return noClamp, false
	}
	n := c.g.Nodes[i]
	switch n.OpType {
	case "Relu":
		return clamp{node: i, lo: 0, hi: float32(math.Inf(1))}, true
	case "Clip":
	default:
		return noClamp, false
	}
	// Clip's defaults, as compileClip takes them. A malformed Clip (bounds
	// both ways, or too many) is left to compileClip to refuse.
	k := clamp{node: i, lo: -math.MaxFloat32, hi: math.MaxFloat32}
	if c.opset < 11 {
		if slices.ContainsFunc(n.Inputs[1:], func(s string) bool { return s != "" }) {
			return noClamp, false
		}
		var err error
		if k.lo, err = n.Attrs.Float("min", k.lo); err != nil {
			return noClamp, false
		}
		if k.hi, err = n.Attrs.Float("max", k.hi); err != nil {
			return noClamp, false
		}
		return k, true
	}
	if len(n.Inputs) > 3 || n.Attrs.Has("min") || n.Attrs.Has("max") {
		return noClamp, false
	}
	for j, b := range []*float32{&k.lo, &k.hi} {
		if len(n.Inputs) <= 1+j || n.Inputs[1+j] == "" {
			continue
		}
		v := c.constant(n.Inputs[1+j])
		if v == nil || numel(v.shape) != 1 || v.isInt() {
			return noClamp, false
		}
		*b = v.floats()[0]
	}
	return k, true
}

// take marks the clamp's node compiled by the step before it and returns
// the op whose output the step's value is.
func (c *compiler) take(k clamp, o op) op {
	if k.node < 0 {
		return o
	}
	c.done[k.node] = true
	return newOp(k.node, c.g.Nodes[k.node])
}

// separableReader reports whether the value name, through a clamp and
// a max pooling that runs channels-last, is read by a 1x1 convolution
// alone: a depthwise convolution before one runs channels-last, even when
// its input is channels-first.
func (c *compiler) separableReader(name string) bool {
	if k, ok := c.clampAfter(name); ok {
		name = c.g.Nodes[k.node].Outputs[0]
	}
	i, ok := c.single(name)
	if ok && c.tilingMaxPool(i) {
		i, ok = c.single(c.g.Nodes[i].Outputs[0])
	}
	if !ok || c.g.Nodes[i].OpType != "Conv" || c.g.Nodes[i].Domain != "" {
		return false
	}
	w := c.constant(c.g.Nodes[i].Input(1))
	return w != nil && len(w.shape) == 4 && w.shape[2] == 1 && w.shape[3] == 1
}

// depthwiseNHWC compiles Conv o, depthwise 3x3 of padding 1 and stride 1
// or 2 on one image, as a dwNHWCStep when a 1x1 convolution reads its
// output, through a Relu and a 2x2 MaxPool or not (separableReader); ok
// false leaves it to the planes, which are as fast where the next step
// reads planes.
func (c *compiler) depthwiseNHWC(o op, geo nchw.GroupConv2D, w, b, x *val, outShape []int) (ok bool, err error) {
	if geo.Group != geo.InC || geo.OutC != geo.InC || geo.KH != 3 || geo.KW != 3 ||
		geo.StrideH != geo.StrideW || geo.StrideH > 2 || geo.DilationH != 1 || geo.DilationW != 1 ||
		geo.PadTop != 1 || geo.PadLeft != 1 || geo.PadBottom != 1 || geo.PadRight != 1 ||
		len(outShape) != 4 || outShape[0] != 1 || w.c == nil || b != nil && b.c == nil ||
		x.c != nil || x.dt != 0 || x.flatC != 0 || x.relu || len(o.outputs) != 1 || !c.separableReader(o.outputs[0]) {
		return false, nil
	}
	d := nhwc.Depthwise3x3{H: geo.InH, W: geo.InW, C: geo.InC, Stride: geo.StrideH}
	if err := d.Check(); err != nil {
		return false, nil
	}
	if x, err = c.hwc(x); err != nil {
		return false, err
	}
	if err := c.b.constBytes(4 * int64(d.WeightsSize())); err != nil {
		return false, err
	}
	s := dwNHWCStep{d: d, wp: make([]float32, d.WeightsSize()), in: x.buf}
	var bias []float32
	if b != nil {
		bias = b.c.floats()
	}
	d.PackWeights(s.wp, w.c.floats(), bias)
	if s.xp, err = c.newBuf(d.PaddedSize()); err != nil {
		return false, err
	}
	s.handed = c.handOverPadded(o.inputs[0], x, s.xp)
	return c.emitNHWC(o, outShape, func(lo, hi float32, out int) step {
		s.lo, s.hi, s.out = lo, hi, out
		return s
	})
}

// emitNHWC appends the step mk makes for Conv o, clamped to the bounds of
// the Relu or Clip that alone reads o's output (taken in), writing a new
// channels-last value of shape, which stands for o's output, or the
// clamp's.
func (c *compiler) emitNHWC(o op, shape []int, mk func(lo, hi float32, out int) step) (bool, error) {
	k, _ := c.clampAfter(o.outputs[0])
	y, err := c.runtime(shape)
	if err != nil {
		return false, err
	}
	y.nhwc = true
	c.steps = append(c.steps, mk(k.lo, k.hi, y.buf))
	return true, c.set(c.take(k, o), 0, y)
}

// dwNHWCStep is a depthwise 3x3 convolution from in to out, both
// channels-last, through xp, the padded input, whose border stays zero
// from the workspace's making on.
type dwNHWCStep struct {
	d           nhwc.Depthwise3x3
	wp          []float32 // PackWeights' layout, the bias in it
	lo, hi      float32
	in, xp, out int
	// handed says the 1x1 convolution before wrote xp's interior itself.
	handed bool
}

func (s dwNHWCStep) run(b [][]float32) {
	s.pad(b)
	s.d.Forward(b[s.out], b[s.xp], s.wp, s.lo, s.hi, 0, s.d.OutH())
}

func (s dwNHWCStep) pad(b [][]float32) {
	if !s.handed {
		s.d.Pad(b[s.xp], b[s.in])
	}
}

// A padWriter is a step whose channels-last output can go straight into
// the interior of the next depthwise step's padded input.
type padWriter interface {
	step
	output() int
	// padInto returns the step writing into buffer xp, a padded map of
	// rows w pixels wide, instead of its output.
	padInto(xp, w int) step
}

// handOverPadded makes the step that wrote value name, x, the last step
// so far, write its rows into the interior of the padded buffer xp
// instead, when nothing else reads name: the depthwise step then copies
// nothing.
func (c *compiler) handOverPadded(name string, x *val, xp int) bool {
	if len(c.steps) == 0 || c.uses[name] != 1 || c.g.IsOutput(name) {
		return false
	}
	pw, ok := c.steps[len(c.steps)-1].(padWriter)
	if !ok || pw.output() != x.buf {
		return false
	}
	// Another name of the same buffer (an Identity's, a Reshape's) may
	// have readers of its own.
	for n, v := range c.vals {
		if v.c == nil && v.buf == x.buf && n != name {
			return false
		}
	}
	c.steps[len(c.steps)-1] = pw.padInto(xp, x.shape[3])
	return true
}

// pointwiseNHWC compiles Conv o, 1x1 of stride 1 without padding on one
// image's channels-last map x, with constant weights w, [OutC][InC], and
// bias (nil: none), as a pwNHWCStep, with the Relu or Clip that alone
// reads its output. Its output is channels-last.
func (c *compiler) pointwiseNHWC(o op, x *val, w, bias []float32, outC int) (ok bool, err error) {
	if !x.nhwc || x.dt != 0 || x.flatC != 0 || x.relu || len(x.shape) != 4 || x.shape[0] != 1 || len(o.outputs) != 1 {
		return false, nil
	}
	pw := nhwc.Pointwise{In: x.shape[1], Out: outC}
	if err := pw.Check(); err != nil {
		return false, nil
	}
	if err := c.b.constBytes(4 * int64(pw.WeightsSize())); err != nil {
		return false, err
	}
	s := pwNHWCStep{pw: pw, px: x.shape[2] * x.shape[3], wp: make([]float32, pw.WeightsSize()), in: x.buf}
	pw.PackWeights(s.wp, w, bias)
	return c.emitNHWC(o, []int{1, outC, x.shape[2], x.shape[3]}, func(lo, hi float32, out int) step {
		s.lo, s.hi, s.out = lo, hi, out
		return s
	})
}

// pwNHWCStep is a 1x1 convolution of px pixels, channels-last, with its
// bias, clamped to [lo, hi].
type pwNHWCStep struct {
	pw      nhwc.Pointwise
	px      int
	wp      []float32 // PackWeights' layout, the bias in it
	lo, hi  float32
	in, out int
	// padded, when not 0, is the buffer plus one of the next depthwise
	// step's padded input, of rows w pixels wide, which the clamped rows
	// go to; out is then not written.
	padded, w int
}

func (s pwNHWCStep) run(b [][]float32) { s.rows(b, 0, s.px) }

func (s pwNHWCStep) output() int { return s.out }

func (s pwNHWCStep) padInto(xp, w int) step {
	s.padded, s.w = xp+1, w
	return s
}

// rows computes pixels lo..hi-1.
func (s pwNHWCStep) rows(b [][]float32, lo, hi int) {
	in, out := s.pw.In, s.pw.Out
	x := b[s.in]
	if s.padded == 0 {
		s.pw.Forward(b[s.out][lo*out:], x[lo*in:], hi-lo, s.wp, s.lo, s.hi)
		return
	}
	// Pixel p of the map is pixel (p/w+1, p%w+1) of the padded one: each
	// run of pixels within a row goes in one call.
	xp, ld := b[s.padded-1], (s.w+2)*out
	for p := lo; p < hi; {
		r, col := p/s.w, p%s.w
		n := min(hi-p, s.w-col)
		s.pw.Forward(xp[(r+1)*ld+(col+1)*out:], x[p*in:], n, s.wp, s.lo, s.hi)
		p += n
	}
}

// stemNHWC compiles Conv o, 3x3 of padding 1 and stride 1 or 2 on one
// image of one channel, x, with constant weights w and bias (nil: none),
// as a stemStep when a depthwise convolution that runs channels-last
// reads its output (through a Relu or Clip, fused).
func (c *compiler) stemNHWC(o op, x *val, w, bias []float32, conv nchw.Conv2D) (bool, error) {
	if conv.InC != 1 || conv.KH != 3 || conv.KW != 3 || conv.StrideH != conv.StrideW || conv.StrideH > 2 ||
		conv.PadTop != 1 || conv.PadLeft != 1 || conv.PadBottom != 1 || conv.PadRight != 1 ||
		x.shape[0] != 1 || x.dt != 0 || x.flatC != 0 || x.relu || len(o.outputs) != 1 {
		return false, nil
	}
	k, _ := c.clampAfter(o.outputs[0])
	out := o.outputs[0]
	if k.node >= 0 {
		out = c.g.Nodes[k.node].Outputs[0]
	}
	if !c.depthwiseReader(out, conv.OutC) {
		return false, nil
	}
	st := nhwc.Stem3x3{H: conv.InH, W: conv.InW, C: conv.OutC, Stride: conv.StrideH}
	if err := st.Check(); err != nil {
		return false, nil
	}
	if err := c.b.constBytes(4 * int64(st.WeightsSize())); err != nil {
		return false, err
	}
	s := stemStep{st: st, wp: make([]float32, st.WeightsSize()), lo: k.lo, hi: k.hi, in: x.buf}
	st.PackWeights(s.wp, w, bias)
	var err error
	if s.xp, err = c.newBuf(st.PaddedSize()); err != nil {
		return false, err
	}
	y, err := c.runtime([]int{1, conv.OutC, st.OutH(), st.OutW()})
	if err != nil {
		return false, err
	}
	y.nhwc, s.out = true, y.buf
	c.steps = append(c.steps, s)
	return true, c.set(c.take(k, o), 0, y)
}

// depthwiseReader reports whether value name, of ch channels, is read
// alone by a depthwise 3x3 convolution of constant weights that a 1x1
// convolution reads: one that runs channels-last.
func (c *compiler) depthwiseReader(name string, ch int) bool {
	i, ok := c.single(name)
	if !ok || c.g.Nodes[i].OpType != "Conv" || c.g.Nodes[i].Domain != "" {
		return false
	}
	n := c.g.Nodes[i]
	w := c.constant(n.Input(1))
	if g, err := n.Attrs.Int("group", 1); err != nil || g != int64(ch) || w == nil || !slices.Equal(w.shape, []int{ch, 1, 3, 3}) {
		return false
	}
	return c.separableReader(n.Outputs[0])
}

// stemStep is a 3x3 convolution from one channel, in, to out,
// channels-last, through xp, the padded image, whose border stays zero.
type stemStep struct {
	st          nhwc.Stem3x3
	wp          []float32 // PackWeights' layout, the bias in it
	lo, hi      float32
	in, xp, out int
	// padded, when not 0, is the buffer plus one of the next depthwise
	// step's padded input, which the rows go to; out is then not written.
	padded int
}

func (s stemStep) run(b [][]float32) {
	s.st.Pad(b[s.xp], b[s.in])
	s.rows(b, 0, s.st.OutH())
}

func (s stemStep) rows(b [][]float32, lo, hi int) {
	y, ldy := b[s.out], s.st.OutW()*s.st.C
	if s.padded > 0 {
		ldy += 2 * s.st.C
		y = b[s.padded-1][ldy+s.st.C:]
	}
	s.st.Forward(y, ldy, b[s.xp], s.wp, s.lo, s.hi, lo, hi)
}

func (s stemStep) output() int { return s.out }

func (s stemStep) padInto(xp, _ int) step {
	s.padded = xp + 1
	return s
}

// meanNHWC compiles GlobalAveragePool o of one image's channels-last map
// x as a meanNHWCStep, where turning the map channels-first first cost
// more than the average.
func (c *compiler) meanNHWC(o op, x *val) (bool, error) {
	if o.typ != "GlobalAveragePool" || !x.nhwc || x.dt != 0 || x.flatC != 0 || x.relu || len(x.shape) != 4 || x.shape[0] != 1 {
		return false, nil
	}
	y, err := c.runtime([]int{1, x.shape[1], 1, 1})
	if err != nil {
		return false, err
	}
	if err := c.b.ops(numel(x.shape)); err != nil {
		return false, err
	}
	c.steps = append(c.steps, meanNHWCStep{px: x.shape[2] * x.shape[3], c: x.shape[1], in: x.buf, out: y.buf})
	return true, c.set(o, 0, y)
}

// meanNHWCStep averages each channel of a map of px pixels, channels-last.
type meanNHWCStep struct {
	px, c   int
	in, out int
}

func (s meanNHWCStep) run(b [][]float32) { nhwc.MeanRows(b[s.out], b[s.in], s.px, s.c) }
