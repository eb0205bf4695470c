package backend

// Convolutions of stride 1 on shifted panels (nchw.ShiftConv) rather than
// an im2col matrix: CNTK's 5x5 convolutions, and any other plain one
// that no fused block takes.

import (
	"errors"
	"slices"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
)

// shiftConvMaxK bounds the depth of the product, InC*KH*KW: each tile
// of the output reads that many rows of the input, and the kernel's tile
// of weights, 8 rows of it, should stay in the L1 cache; im2col and Sgemm
// block deeper products themselves.
const shiftConvMaxK = 1024

// shiftConv compiles conv, node o with constant weights w and bias (nil
// for none), as a shiftConvStep from x, an NCHW value, when the shape
// suits it and this CPU multiplies in assembly; ok false leaves it to the
// im2col path. A Relu and a MaxPool after it that shiftPool accepts run
// in the same step, which then writes the pooled map.
func (c *compiler) shiftConv(o op, conv nchw.Conv2D, w, bias []float32, x *val, outShape []int) (ok bool, err error) {
	k := conv.InC * conv.KH * conv.KW
	wp := conv.InW + conv.PadLeft + conv.PadRight
	if conv.StrideH != 1 || conv.StrideW != 1 || k > shiftConvMaxK || conv.KH*conv.KW == 1 ||
		wp > 4096 || conv.OutH() > 4096 || 4*conv.OutW() < 3*wp {
		// 1x1 kernels need no im2col; a map whose padding is over a
		// quarter of its width wastes more than the tiles save.
		return false, nil
	}
	sc, err := nchw.NewShiftConv(conv, w, bias)
	if err != nil || sc.TileWidth() < 8 {
		return false, nil // the pure-Go kernel's tiles are 4 wide
	}
	if err := c.b.constBytes(sc.WeightBytes()); err != nil {
		return false, err
	}
	s := shiftConvStep{c: sc, in: x.buf}
	if s.xp, err = c.newBuf(sc.PaddedSize()); err != nil {
		return false, err
	}
	if s.yf, err = c.newBuf(sc.FlatSize()); err != nil {
		return false, err
	}
	relu, pool, K := c.shiftPool(o, conv.OutH(), conv.OutW())
	out := o
	if K > 0 {
		outShape = []int{outShape[0], conv.OutC, (conv.OutH()-K)/K + 1, (conv.OutW()-K)/K + 1}
		if err := c.b.ops(numel(outShape), K, K); err != nil {
			return false, err
		}
		s.pool = K
		out = newOp(pool, c.g.Nodes[pool])
	}
	y, err := c.runtime(outShape)
	if err != nil {
		return false, err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	if K > 0 {
		c.done[relu], c.done[pool] = true, true
	}
	return true, c.set(out, 0, y)
}

// shiftPool finds a Relu that alone reads Conv o's output and a MaxPool
// that alone reads the Relu's, of a square window K x K at stride K, no
// padding or dilation, that a map of h x w leaves at least one window of,
// and floor rounding (or a map the windows divide): what
// ShiftConv.ReluMaxPool computes. It returns the nodes and K, or K 0.
func (c *compiler) shiftPool(o op, h, w int) (relu, pool, K int) {
	if len(o.outputs) != 1 {
		return 0, 0, 0
	}
	relu, ok := c.next(o.outputs[0])
	if !ok || c.g.Nodes[relu].OpType != "Relu" || len(c.g.Nodes[relu].Outputs) != 1 {
		return 0, 0, 0
	}
	pool, ok = c.next(c.g.Nodes[relu].Outputs[0])
	n := c.g.Nodes[pool]
	if !ok || n.OpType != "MaxPool" || n.Input(0) != c.g.Nodes[relu].Outputs[0] || len(n.Outputs) != 1 || n.Outputs[0] == "" {
		return 0, 0, 0
	}
	a := n.Attrs
	k, err1 := a.Ints("kernel_shape")
	s, err2 := a.Ints("strides")
	p, err3 := a.Ints("pads")
	d, err4 := a.Ints("dilations")
	ap, err5 := a.Str("auto_pad", "NOTSET")
	ceil, err6 := a.Int("ceil_mode", 0)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil || len(k) != 2 || k[0] != k[1] || !slices.Equal(s, k) ||
		slices.ContainsFunc(p, func(v int64) bool { return v != 0 }) || slices.ContainsFunc(d, func(v int64) bool { return v != 1 }) ||
		ap != "NOTSET" && ap != "VALID" && ap != "" {
		return 0, 0, 0
	}
	K = int(k[0])
	if K < 1 || K > min(h, w) || ceil != 0 && (h%K != 0 || w%K != 0) {
		return 0, 0, 0
	}
	return relu, pool, K
}

// shiftConvStep is a convolution of stride 1 from in to out through the
// padded input xp and the flat output yf of nchw.ShiftConv. xp is written
// by Pad alone, its padding zero from the workspace's making on.
type shiftConvStep struct {
	c               nchw.ShiftConv
	in, out, xp, yf int
	pool            int // K of a Relu and MaxPool K x K/K fused in, or 0
}

func (s shiftConvStep) run(b [][]float32) {
	s.c.Pad(b[s.xp], b[s.in], true)
	s.c.Multiply(b[s.yf], b[s.xp], 0, s.c.Tiles())
	s.finish(b)
}

// finish writes out from the flat output: pooled, or cropped.
func (s shiftConvStep) finish(b [][]float32) {
	if s.pool > 0 {
		s.c.ReluMaxPool(b[s.out], b[s.yf], s.pool, 0, s.c.OutC)
		return
	}
	s.c.Crop(b[s.out], b[s.yf], 0, s.c.OutC)
}

// runSplit divides the tiles between the CPUs.
func (s shiftConvStep) runSplit(b [][]float32) {
	s.c.Pad(b[s.xp], b[s.in], true)
	kernel.Parallel(s.c.Tiles(), func(_, lo, hi int) {
		s.c.Multiply(b[s.yf], b[s.xp], lo, hi)
	})
	s.finish(b)
}
