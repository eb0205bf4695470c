package backend

// 3x3 convolutions of padding 1 that no fused block takes, on the direct
// channels-last kernels the blocks use: kernel.Conv3x3 keeps a tile of
// outputs in registers and reads the padded image in place, a third
// faster than shifted panels on such maps (twice for a one-channel
// image). Of stride 1 (a VGG's first of two, a ResNet's stem), where
// Winograd's transforms do not take them (ops_winograd.go); of stride 2
// (a ResNet's first of a stage), kernel.Conv3x3S2 stepping two input
// pixels at a time: channels-first, on phase planes, with a layout change
// each side, resnet_tiny's took 31 us where this takes 18 (one AVX-512
// thread).

import (
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/vmath"
)

// direct3x3 compiles Conv o, 3x3 of stride 1 and padding 1 with constant
// weights w and bias (nil for none) on x, an image's map, by Winograd's
// transforms or as a direct3x3Step when this CPU runs its shape in
// assembly, with a Relu that alone reads its output; ok false leaves it
// to the other paths. Its output is channels-last.
func (c *compiler) direct3x3(o op, x *val, w, bias []float32) (ok bool, err error) {
	if ok, err := c.winograd3x3(o, x, w, bias); ok || err != nil {
		return ok, err
	}
	conv := kernel.Conv3x3{H: x.shape[2], W: x.shape[3], In: x.shape[1], Out: len(w) / (9 * x.shape[1])}
	if len(o.outputs) != 1 || !conv.Vectorized() {
		return false, nil
	}
	return true, c.direct(o, x, w, bias, 1, conv, conv.H, conv.W)
}

// direct3x3s2 is direct3x3 for stride 2 and padding 1, without Winograd.
func (c *compiler) direct3x3s2(o op, x *val, w, bias []float32) (ok bool, err error) {
	conv := kernel.Conv3x3S2{H: x.shape[2], W: x.shape[3], In: x.shape[1], Out: len(w) / (9 * x.shape[1])}
	if len(o.outputs) != 1 || !conv.Vectorized() {
		return false, nil
	}
	return true, c.direct(o, x, w, bias, 2, conv, conv.OutH(), conv.OutW())
}

// directKernel is kernel.Conv3x3 or kernel.Conv3x3S2: a direct 3x3
// convolution, padding 1, on channels-last maps.
type directKernel interface {
	DirectWeights(dst, src []float32)
	ForwardRows(y, xp, wd, bias []float32, n, lo, hi int)
}

// direct compiles Conv o on x as a direct3x3Step of the given stride on
// conv, its output oh x ow, and the Relu that alone reads it.
func (c *compiler) direct(o op, x *val, w, bias []float32, stride int, conv directKernel, oh, ow int) error {
	in, err := c.hwc(x)
	if err != nil {
		return err
	}
	h, wd, ch, out := x.shape[2], x.shape[3], x.shape[1], len(w)/(9*x.shape[1])
	if err := c.b.constBytes(4 * int64(len(w)+out)); err != nil {
		return err
	}
	st := direct3x3Step{conv: conv, stride: stride, h: h, w: wd, c: ch, oh: oh, ow: ow, outC: out,
		wd: make([]float32, len(w)), bias: bias, in: in.buf}
	conv.DirectWeights(st.wd, w)
	if st.bias == nil {
		st.bias = make([]float32, out)
	}
	if st.xp, err = c.newBuf((h + 2) * (wd + 2) * ch); err != nil {
		return err
	}
	y, err := c.runtime([]int{1, out, oh, ow})
	if err != nil {
		return err
	}
	y.nhwc = true
	st.out = y.buf
	if i, ok := c.single(o.outputs[0]); ok && c.g.Nodes[i].OpType == "Relu" {
		st.relu = true
		c.done[i] = true
		o = newOp(i, c.g.Nodes[i])
	}
	c.steps = append(c.steps, st)
	return c.set(o, 0, y)
}

// direct3x3Step is a 3x3 convolution, padding 1, of the given stride from
// in, h x w x c, to out, oh x ow x outC, both channels-last, through xp,
// the padded input, whose border stays zero from the workspace's making
// on; relu applies a Relu after it.
type direct3x3Step struct {
	conv         directKernel
	stride       int
	h, w, c      int
	oh, ow, outC int
	wd, bias     []float32 // DirectWeights' layout
	in, xp, out  int
	relu         bool
}

func (s direct3x3Step) run(b [][]float32) {
	s.pad(b)
	s.rows(b, 0, s.oh)
}

// runSplit divides the output's rows between the CPUs.
func (s direct3x3Step) runSplit(b [][]float32) {
	s.pad(b)
	kernel.Parallel(s.oh, func(_, lo, hi int) { s.rows(b, lo, hi) })
}

// pad writes the input's rows into xp's interior.
func (s direct3x3Step) pad(b [][]float32) {
	row, stride := s.w*s.c, (s.w+2)*s.c
	x, xp := b[s.in], b[s.xp]
	for y := range s.h {
		copy(xp[(y+1)*stride+s.c:][:row], x[y*row:(y+1)*row])
	}
}

// rows computes output rows lo..hi-1.
func (s direct3x3Step) rows(b [][]float32, lo, hi int) {
	s.conv.ForwardRows(b[s.out], b[s.xp], s.wd, s.bias, 1, lo, hi)
	if s.relu {
		n := s.ow * s.outC
		y := b[s.out][lo*n : hi*n]
		vmath.Relu(y, y)
	}
}
