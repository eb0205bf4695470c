package backend

// Convolutions of stride 1 on shifted panels (nchw.ShiftConv) rather than
// an im2col matrix: CNTK's 5x5 convolutions, and any other plain one
// that no fused block takes.

import (
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
)

// shiftConvMaxK bounds the depth of the product, InC*KH*KW: a panel of B
// is that many rows of up to 32 floats, which should stay in the L1
// cache as the micro-kernel streams it; im2col and Sgemm block deeper
// products themselves.
const shiftConvMaxK = 400

// shiftConv compiles conv, with constant weights w and bias (nil for
// none), as a shiftConvStep from x, an NCHW value, to y, when the shape
// suits it and this CPU multiplies in assembly; ok false leaves it to
// the im2col path.
func (c *compiler) shiftConv(conv nchw.Conv2D, w, bias []float32, x, y *val) (ok bool, err error) {
	k := conv.InC * conv.KH * conv.KW
	wp := conv.InW + conv.PadLeft + conv.PadRight
	if conv.StrideH != 1 || conv.StrideW != 1 || k > shiftConvMaxK || conv.KH*conv.KW == 1 ||
		wp > 4096 || conv.OutH() > 4096 || 4*conv.OutW() < 3*wp {
		// 1x1 kernels need no im2col; a map whose padding is over a
		// quarter of its width wastes more than the panels save.
		return false, nil
	}
	sc, err := nchw.NewShiftConv(conv, w)
	if err != nil || sc.PanelWidth() < 8 {
		return false, nil // the pure-Go kernel's panels are 2 wide
	}
	if err := c.b.constBytes(sc.WeightBytes()); err != nil {
		return false, err
	}
	s := shiftConvStep{c: sc, bias: bias, in: x.buf, out: y.buf}
	if s.xp, err = c.newBuf(sc.PaddedSize()); err != nil {
		return false, err
	}
	if s.yf, err = c.newBuf(sc.FlatSize()); err != nil {
		return false, err
	}
	// A panel for each worker that may share one image.
	if s.panels, err = c.newBuf(kernel.MaxWorkers() * sc.PanelSize()); err != nil {
		return false, err
	}
	c.steps = append(c.steps, s)
	return true, nil
}

// shiftConvStep is a convolution of stride 1 from in to out through the
// padded input xp and the flat output yf of nchw.ShiftConv. xp is written
// by Pad alone, its padding zero from the workspace's making on.
type shiftConvStep struct {
	c                       nchw.ShiftConv
	bias                    []float32
	in, out, xp, yf, panels int
}

func (s shiftConvStep) run(b [][]float32) {
	s.c.Pad(b[s.xp], b[s.in], true)
	s.c.Multiply(b[s.yf], b[s.xp], b[s.panels], 0, s.c.Panels())
	s.c.Crop(b[s.out], b[s.yf], s.bias, 0, s.c.OutC)
}

// runSplit divides the panels between the CPUs, each packing its own.
func (s shiftConvStep) runSplit(b [][]float32) {
	s.c.Pad(b[s.xp], b[s.in], true)
	ps := s.c.PanelSize()
	kernel.Parallel(s.c.Panels(), func(w, lo, hi int) {
		s.c.Multiply(b[s.yf], b[s.xp], b[s.panels][w*ps:(w+1)*ps], lo, hi)
	})
	s.c.Crop(b[s.out], b[s.yf], s.bias, 0, s.c.OutC)
}
