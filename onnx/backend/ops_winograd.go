package backend

// 3x3 convolutions of stride 1 and padding 1 between channels in multiples
// of 8 (a ResNet's, a VGG's), or without padding (Keras's "valid"), by
// Winograd's F(4x4, 3x3): 2.25 multiplies an
// output per pair of channels where the direct kernel, already at the
// core's multiply-add rate, takes 9. A ResNet block's shortcut Add and the
// Relu after it run in the output transform, where they had been two more
// passes over the map.

import (
	"slices"
	"sync"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/winograd"
)

// winograd3x3 compiles Conv o, 3x3 of stride 1 and padding 1 with constant
// weights w and bias (nil for none) on x, an image's map, as a
// winogradStep when this CPU runs its channels in assembly; ok false
// leaves it to the other paths. Its output is channels-last.
func (c *compiler) winograd3x3(o op, x *val, w, bias []float32) (ok bool, err error) {
	if len(o.outputs) != 1 {
		return false, nil
	}
	st, ok, err := c.newWinograd(o, x, w, bias, nil, nil)
	if !ok || err != nil {
		return false, err
	}
	shape := []int{1, st.conv.Out, st.conv.H, st.conv.W}
	y, err := c.runtime(shape)
	if err != nil {
		return false, err
	}
	y.nhwc = true
	st.out = y.buf
	out := o
	if i, r, ok := c.shortcut(o.outputs[0], shape); ok {
		if r, err = c.hwc(r); err != nil {
			return false, err
		}
		st.res = r.buf
		c.done[i] = true
		out = newOp(i, c.g.Nodes[i])
	}
	return c.emitWinograd(st, out, y)
}

// emitWinograd appends st, whose output y stands for out's, or for the
// Relu's that alone reads it, which st then applies.
func (c *compiler) emitWinograd(st winogradStep, out op, y *val) (bool, error) {
	if i, ok := c.single(out.outputs[0]); ok && c.g.Nodes[i].OpType == "Relu" {
		st.relu = true
		c.done[i] = true
		out = newOp(i, c.g.Nodes[i])
	}
	c.steps = append(c.steps, st)
	return true, c.set(out, 0, y)
}

// winogradValid compiles Conv o, 3x3 of stride 1 without padding (Keras's
// "valid", tf2onnx's default) with constant weights w and bias (nil for
// none) on x, as a winogradStep of the map two pixels smaller, with the
// Relu that alone reads it: its "padded" input is x itself, whose
// border pixels are then read where padding's zeros were, which is the
// unpadded convolution exactly. ok false leaves it to the other paths.
func (c *compiler) winogradValid(o op, x *val, w, bias []float32) (ok bool, err error) {
	if len(o.outputs) != 1 || x.shape[2] < 3 || x.shape[3] < 3 {
		return false, nil
	}
	conv := winograd.Conv{H: x.shape[2] - 2, W: x.shape[3] - 2, In: x.shape[1], Out: len(w) / (9 * x.shape[1])}
	st, ok, err := c.winogradOf(o, conv, x, w, bias, nil, nil)
	if !ok || err != nil {
		return false, err
	}
	st.valid, st.handed = true, false
	y, err := c.runtime([]int{1, conv.Out, conv.H, conv.W})
	if err != nil {
		return false, err
	}
	y.nhwc, st.out = true, y.buf
	return c.emitWinograd(st, o, y)
}

// newWinograd makes the step of Conv o (3x3, stride 1, padding 1, weights
// w, bias nil for none) on x, with a BatchNormalization's scale and shift
// after its Relu (nil for none), when this CPU runs its channels in
// assembly: its constants and input, not yet its output.
func (c *compiler) newWinograd(o op, x *val, w, bias, scale, shift []float32) (st winogradStep, ok bool, err error) {
	conv := winograd.Conv{H: x.shape[2], W: x.shape[3], In: x.shape[1], Out: len(w) / (9 * x.shape[1])}
	return c.winogradOf(o, conv, x, w, bias, scale, shift)
}

// winogradOf is newWinograd for the convolution conv, whose output is
// conv.H x conv.W.
func (c *compiler) winogradOf(o op, conv winograd.Conv, x *val, w, bias, scale, shift []float32) (st winogradStep, ok bool, err error) {
	if !conv.Fits() || conv.Kernel() == "go" {
		return st, false, nil
	}
	in, err := c.hwc(x)
	if err != nil {
		return st, false, err
	}
	if err := c.b.constBytes(4 * int64(conv.WeightsSize()+conv.Out+len(scale)+len(shift))); err != nil {
		return st, false, err
	}
	st = winogradStep{conv: conv, u: make([]float32, conv.WeightsSize()), bias: bias, in: in.buf, res: -1,
		scale: scale, shift: shift, scratch: newScratch(conv.ScratchSize())}
	conv.Weights(st.u, w)
	if st.bias == nil {
		st.bias = make([]float32, conv.Out)
	}
	if st.xp, err = c.newBuf(conv.PaddedSize()); err != nil {
		return st, false, err
	}
	// A block's pooled map is laid out as the padded input where the
	// tiles cover the map exactly.
	st.handed = conv.H%4 == 0 && conv.W%4 == 0 && c.handOverTo(st.in, st.xp, o.inputs[0])
	return st, true, nil
}

// shortcut finds the Add that alone reads name, a convolution's output
// of the given shape, and adds to it r, a float map of that shape computed
// before it: node i.
func (c *compiler) shortcut(name string, shape []int) (i int, r *val, ok bool) {
	i, ok = c.next(name)
	if !ok {
		return 0, nil, false
	}
	n := c.g.Nodes[i]
	if n.OpType != "Add" || len(n.Inputs) != 2 || len(n.Outputs) != 1 || n.Outputs[0] == "" {
		return 0, nil, false
	}
	other := n.Inputs[0]
	if other == name {
		other = n.Inputs[1]
	}
	r = c.vals[other]
	if other == name || r == nil || r.c != nil || !slices.Equal(r.shape, shape) || r.dt != 0 || r.relu || r.flatC != 0 {
		return 0, nil, false
	}
	return i, r, true
}

// winogradStep is a 3x3 convolution, stride 1, padding 1, from in to out,
// both channels-last, through xp, the padded input, whose border stays
// zero from the workspace's making on; res (-1 for none) is added to it
// and relu applies a Relu after that.
type winogradStep struct {
	conv         winograd.Conv
	u, bias      []float32 // winograd's layouts
	in, xp, out  int
	scratch      *sync.Pool // of *[]float32: each call's, a pass's V and M
	res          int
	relu         bool
	scale, shift []float32 // a BatchNormalization after the Relu; nil for none
	pool         int       // MaxPool pool x pool of stride pool last; 0 for none
	handed       bool      // the block before pools into xp: no Pad
	// valid: the convolution has no padding; in, two pixels larger than
	// the output each way, goes into xp whole, border pixels where the
	// padding would be.
	valid bool
}

func (s winogradStep) run(b [][]float32) {
	s.pad(b)
	ty, _ := s.conv.Tiles()
	s.tileRows(b, 0, ty)
}

// runSplit divides the tile rows between the CPUs.
func (s winogradStep) runSplit(b [][]float32) {
	s.pad(b)
	ty, _ := s.conv.Tiles()
	kernel.Parallel(ty, func(_, lo, hi int) { s.tileRows(b, lo, hi) })
}

// pad writes the input map into xp's interior, unless the block before
// did; the border is zero from the workspace's making on.
func (s winogradStep) pad(b [][]float32) {
	switch {
	case s.valid:
		s.conv.PadValid(b[s.xp], b[s.in])
	case !s.handed:
		s.conv.Pad(b[s.xp], b[s.in])
	}
}

func (s winogradStep) tileRows(b [][]float32, lo, hi int) {
	var res []float32
	if s.res >= 0 {
		res = b[s.res]
	}
	scratch := s.scratch.Get().(*[]float32)
	e := winograd.Epilogue{Res: res, Relu: s.relu, Scale: s.scale, Shift: s.shift, Pool: s.pool}
	s.conv.ForwardTileRows(b[s.out], b[s.xp], s.u, s.bias, e, *scratch, lo, hi)
	s.scratch.Put(scratch)
}

// newScratch is a pool of scratch spaces of size floats: one for each
// call running at once (images on several CPUs, or one image's rows), no
// larger for a large map (a pass of tile rows at a time).
func newScratch(size int) *sync.Pool {
	return &sync.Pool{New: func() any {
		s := make([]float32, size)
		return &s
	}}
}

// winogradBlock compiles a block of fuseBlock's (Conv 3x3, Relu, an
// optional BatchNormalization of scale and shift, nil for none, MaxPool
// KxK/K: nodes idx) whose convolution suits winograd3x3, and K is 2 or 4
// (windows a tile holds whole), as a winogradStep pooling its output.
func (c *compiler) winogradBlock(o op, x *val, w, bias, scale, shift []float32, k int, idx []int) (bool, error) {
	if k != 2 && k != 4 {
		return false, nil
	}
	st, ok, err := c.newWinograd(o, x, w, bias, scale, shift)
	if !ok || err != nil {
		return false, err
	}
	if err := c.b.ops(st.conv.Out, st.conv.H, st.conv.W); err != nil { // the pooling, beside the convolution compileConv counted
		return false, err
	}
	st.relu, st.pool = true, k
	y, err := c.runtime([]int{1, st.conv.Out, st.conv.H / k, st.conv.W / k})
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
	c.vals[c.g.Nodes[idx[2]].Outputs[0]] = y
	return true, nil
}

// identityScale is n ones.
func identityScale(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 1
	}
	return s
}
