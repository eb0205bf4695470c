package backend

// 3x3 convolutions of stride 2 and padding 1, a ResNet's first of a stage,
// on the direct channels-last kernels of stride 1 (ops_conv3.go) stepping
// two input pixels at a time: channels-first, on phase planes, with a
// layout change each side, resnet_tiny's took 31 us where this takes 18
// (one AVX-512 thread).

import (
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/vmath"
)

// direct3x3s2 compiles Conv o, 3x3 of stride 2 and padding 1 with
// constant weights w and bias (nil for none) on x, an image's map, as a
// direct3x3s2Step when this CPU runs its shape in assembly, with a Relu
// that alone reads its output; ok false leaves it to the other paths.
// Its output is channels-last.
func (c *compiler) direct3x3s2(o op, x *val, w, bias []float32) (ok bool, err error) {
	conv := kernel.Conv3x3S2{H: x.shape[2], W: x.shape[3], In: x.shape[1], Out: len(w) / (9 * x.shape[1])}
	if len(o.outputs) != 1 || !conv.Vectorized() {
		return false, nil
	}
	in, err := c.hwc(x)
	if err != nil {
		return false, err
	}
	if err := c.b.constBytes(4 * int64(len(w)+conv.Out)); err != nil {
		return false, err
	}
	st := direct3x3s2Step{conv: conv, wd: make([]float32, len(w)), bias: bias, in: in.buf}
	conv.DirectWeights(st.wd, w)
	if st.bias == nil {
		st.bias = make([]float32, conv.Out)
	}
	if st.xp, err = c.newBuf(conv.PaddedSize()); err != nil {
		return false, err
	}
	y, err := c.runtime([]int{1, conv.Out, conv.OutH(), conv.OutW()})
	if err != nil {
		return false, err
	}
	y.nhwc = true
	st.out = y.buf
	out := o
	if i, ok := c.single(o.outputs[0]); ok && c.g.Nodes[i].OpType == "Relu" {
		st.relu = true
		c.done[i] = true
		out = newOp(i, c.g.Nodes[i])
	}
	c.steps = append(c.steps, st)
	return true, c.set(out, 0, y)
}

// direct3x3s2Step is a 3x3 convolution, stride 2, padding 1, from in to
// out, both channels-last, through xp, the padded input, whose border
// stays zero from the workspace's making on; relu applies a Relu after it.
type direct3x3s2Step struct {
	conv        kernel.Conv3x3S2
	wd, bias    []float32 // DirectWeights' layout
	in, xp, out int
	relu        bool
}

func (s direct3x3s2Step) run(b [][]float32) {
	s.pad(b)
	s.rows(b, 0, s.conv.OutH())
}

// runSplit divides the output's rows between the CPUs.
func (s direct3x3s2Step) runSplit(b [][]float32) {
	s.pad(b)
	kernel.Parallel(s.conv.OutH(), func(_, lo, hi int) { s.rows(b, lo, hi) })
}

// pad writes the input's rows into xp's interior.
func (s direct3x3s2Step) pad(b [][]float32) {
	row, stride := s.conv.W*s.conv.In, (s.conv.W+2)*s.conv.In
	x, xp := b[s.in], b[s.xp]
	for y := range s.conv.H {
		copy(xp[(y+1)*stride+s.conv.In:][:row], x[y*row:(y+1)*row])
	}
}

// rows computes output rows lo..hi-1.
func (s direct3x3s2Step) rows(b [][]float32, lo, hi int) {
	s.conv.ForwardRows(b[s.out], b[s.xp], s.wd, s.bias, 1, lo, hi)
	if s.relu {
		n := s.conv.OutW() * s.conv.Out
		y := b[s.out][lo*n : hi*n]
		vmath.Relu(y, y)
	}
}
