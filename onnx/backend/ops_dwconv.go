package backend

// Depthwise convolutions of inference that no 1x1 convolution reads
// channels-last (ops_separable.go has those, MobileNet's): each output
// plane reads one input plane. im2col and a product of one row per group,
// the general path, spend their time packing, not multiplying; here each
// input plane is copied once into a zero-padded buffer and convolved with
// the kernels of package dwconv: at stride 1 every tap is one fixed
// offset into the buffer, so a plane is one loop with no borders. A
// strided plane is split into phase planes first (a stride of 2),
// where each tap is again one offset.

import (
	"github.com/lenetkit/lenetkit/internal/dwconv"
	"github.com/lenetkit/lenetkit/internal/nchw"
)

// dwMaxStride bounds the strides: a stride of S splits each plane into
// S*S phase planes.
const dwMaxStride = 4

// dwMaxTaps bounds the kernel: past 7x7 taps the flat loop's rereads of
// y cost more than the general path's packing saves (and no classifier
// has one).
const dwMaxTaps = 49

// depthwiseConv compiles Conv o, of geometry geo, constant weights w and
// bias b (nil for none), as a dwConvStep from x when each group reads one
// input channel, at strides up to dwMaxStride; ok false leaves it to the
// general path. A Relu that alone reads the output runs in the same step.
func (c *compiler) depthwiseConv(o op, geo nchw.GroupConv2D, w, b *val, x *val, outShape []int) (ok bool, err error) {
	if ok, err := c.depthwiseNHWC(o, geo, w, b, x, outShape); ok || err != nil {
		return ok, err
	}
	sh, sw := geo.StrideH, geo.StrideW
	strided := sh*sw > 1
	if geo.Group != geo.InC || geo.InC < 2 || geo.OutC%geo.InC != 0 || sh > dwMaxStride || sw > dwMaxStride ||
		strided && geo.DilationH*geo.DilationW != 1 ||
		geo.KH*geo.KW > dwMaxTaps || w.c == nil || b != nil && b.c == nil || x.c != nil || len(o.outputs) != 1 {
		return false, nil
	}
	// A channels-last map (a direct 3x3 convolution's, a block's) is
	// transposed into the padded planes by the step itself, where a
	// channels-first copy of it first cost more than the convolution.
	nhwc := x.nhwc && x.dt == 0 && x.flatC == 0 && len(x.shape) == 4 && outShape[0] == 1 && !strided
	if !nhwc {
		if x, err = c.chw(x); err != nil {
			return false, err
		}
	}
	s := dwConvStep{n: outShape[0], g: geo, w: w.c.floats(), nhwc: nhwc, in: x.buf}
	if b != nil {
		s.bias = b.c.floats()
	}
	// The padded plane, the taps' reach past its last row, then the
	// output plane as wide as the padded one.
	s.rows, s.cols = geo.InH+geo.PadTop+geo.PadBottom, geo.InW+geo.PadLeft+geo.PadRight
	s.plen = s.rows*s.cols + (geo.KW-1)*geo.DilationW
	if strided {
		// The padded plane split into phase planes (nchw.SplitPhases),
		// rows cols wide, each a row longer than its rows, for the taps'
		// reach: tap (ki, kj) reads phase (ki%sh, kj%sw) at (ki/sh,
		// kj/sw), every output once.
		s.cols = (s.cols + sw - 1) / sw
		s.phase = ((s.rows+sh-1)/sh + 1) * s.cols
		s.plen = sh * sw * s.phase
	}
	// Strides come without dilation: at stride 1 the phase is 0 and a
	// tap's offset its dilated position in the padded plane.
	for ki := range geo.KH {
		for kj := range geo.KW {
			s.off = append(s.off, (ki%sh*sw+kj%sw)*s.phase+ki*geo.DilationH/sh*s.cols+kj*geo.DilationW/sw)
		}
	}
	// Rows the vector kernels take are written straight out; others go
	// through a flat output as wide as the padded plane.
	s.direct = geo.OutW() >= 8 && geo.OutW() <= dwconv.TapRowsMax
	flat := geo.OutH() * s.cols
	if s.direct {
		flat = 0
	}
	planes := s.plen
	if nhwc {
		planes *= geo.InC
	}
	if s.scratch, err = c.newBuf(planes + flat); err != nil {
		return false, err
	}
	out := o
	if i, ok := c.dwRelu(o.outputs[0]); ok {
		s.relu, out = true, newOp(i, c.g.Nodes[i])
		c.done[i] = true
	}
	y, err := c.runtime(outShape)
	if err != nil {
		return false, err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return true, c.set(out, 0, y)
}

// dwRelu returns the Relu that alone reads value name, unless a MaxPool
// alone reads the Relu's output: compileRelu leaves that Relu to the
// pool's kernel, which applies it to the pooled values, a quarter as
// many.
func (c *compiler) dwRelu(name string) (int, bool) {
	i, ok := c.single(name)
	if !ok || c.g.Nodes[i].OpType != "Relu" || c.g.Nodes[i].Domain != "" {
		return 0, false
	}
	if j, ok := c.next(c.g.Nodes[i].Outputs[0]); ok && c.g.Nodes[j].OpType == "MaxPool" {
		return 0, false
	}
	return i, true
}

// dwConvStep is a depthwise convolution over n images: each
// output channel o reads input channel o/(OutC/InC) through the weights
// w[o], then adds bias[o] (bias nil: none) and applies a Relu when relu.
// Its scratch buffer is its own: the padded plane's margins, zero from
// the workspace's making, stay zero, and each plane copies in only its
// rows, where clearing the margins again cost as much as the taps.
type dwConvStep struct {
	n          int
	g          nchw.GroupConv2D
	w, bias    []float32
	relu       bool
	rows, cols int   // the padded plane; with strides, cols a phase plane's width
	phase      int   // with strides, a phase plane's floats; 0 without
	direct     bool  // rows written by dwconv.TapRows, not through a flat output
	nhwc       bool  // the input is channels-last, its planes all padded first
	plen       int   // the padded plane and the taps' reach past it
	off        []int // each tap's offset into the padded plane
	in, out    int
	scratch    int
}

func (s dwConvStep) run(b [][]float32) {
	g := s.g
	x, y, scratch := b[s.in], b[s.out], b[s.scratch]
	hw, p, mult := g.InH*g.InW, g.OutH()*g.OutW(), g.OutC/g.InC
	if s.nhwc {
		planes := g.InC * s.plen
		pad, flat := scratch[:planes], scratch[planes:]
		for r := range g.InH {
			dwconv.RowToPlanes(pad[(r+g.PadTop)*s.cols+g.PadLeft:], s.plen, x[r*g.InW*g.InC:][:g.InW*g.InC], g.InC, g.InW)
		}
		for o := range g.OutC {
			s.plane(y[o*p:][:p], pad[o/mult*s.plen:][:s.plen], flat, o)
		}
		return
	}
	pad, flat := scratch[:s.plen], scratch[s.plen:]
	for i := range s.n {
		for ci := range g.InC {
			if s.phase > 0 {
				nchw.SplitPhases(pad, s.phase, s.cols, x[(i*g.InC+ci)*hw:][:hw], g.InH, g.InW, g.PadTop, g.PadLeft, g.StrideH, g.StrideW)
			} else {
				dwconv.CopyRows(pad[g.PadTop*s.cols+g.PadLeft:], s.cols, x[(i*g.InC+ci)*hw:][:hw], g.InW, g.InH, g.InW)
			}
			for o := ci * mult; o < (ci+1)*mult; o++ {
				s.plane(y[(i*g.OutC+o)*p:][:p], pad, flat, o)
			}
		}
	}
}

// plane writes output plane o, y, from the padded input plane pad.
func (s dwConvStep) plane(y, pad, flat []float32, o int) {
	oh, ow, taps := s.g.OutH(), s.g.OutW(), s.g.KH*s.g.KW
	k := s.w[o*taps:][:taps]
	var bias float32
	if s.bias != nil {
		bias = s.bias[o]
	}
	if s.direct {
		dwconv.TapRows(y, ow, pad, s.cols, oh, ow, k, s.off, bias, s.relu)
		return
	}
	dwconv.Taps(flat, pad, k, s.off)
	// The columns past ow are thrown away; the Relu and bias pass is
	// shorter over them than row by row.
	switch {
	case s.relu:
		dwconv.AffineRelu(flat, flat, 1, bias)
	case s.bias != nil:
		dwconv.Affine(flat, flat, 1, bias)
	}
	dwconv.CopyRows(y, ow, flat, s.cols, oh, ow)
}
