package backend

// Convolutions on shifted panels (nchw.ShiftConv) rather than an im2col
// matrix: CNTK's 5x5 convolutions, strided ones on phase planes, and any
// other plain one that no fused block takes.

import (
	"errors"
	"slices"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/onnx"
)

// shiftConvMaxK bounds the depth of the product, InC*KH*KW: each tile
// of the output reads that many rows of the input, and the kernel's tile
// of weights, 8 rows of it, should stay in the L1 cache; im2col and Sgemm
// block deeper products themselves.
const shiftConvMaxK = 1024

// shiftConv compiles conv, node o with constant weights w and bias (nil
// for none), as a shiftConvStep from x, an NCHW value, when the shape
// suits it and this CPU multiplies in assembly; ok false leaves it to the
// im2col path. The activation and pooling after it that shiftEpilogue
// accepts run in the same step, which then writes their output.
func (c *compiler) shiftConv(o op, conv nchw.Conv2D, w, bias []float32, x *val, outShape []int) (ok bool, err error) {
	k := conv.InC * conv.KH * conv.KW
	sh, sw := conv.StrideH, conv.StrideW
	wp := (conv.InW + conv.PadLeft + conv.PadRight + sw - 1) / sw // the flat output's rows
	if sh > 4 || sw > 4 || k > shiftConvMaxK || conv.KH*conv.KW == 1 && sh*sw == 1 ||
		wp > 4096 || conv.OutH() > 4096 || 2*conv.OutW() < wp {
		// 1x1 kernels of stride 1 need no im2col. Padding columns cost
		// their multiply-adds: LeNet-5's second 5x5 convolution, 10 of
		// 14 columns kept, takes under half im2col's time; past half a
		// row thrown away, im2col wins.
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
	e := c.shiftEpilogue(o, conv.OutH(), conv.OutW())
	out := o
	if e.k > 0 {
		outShape = []int{outShape[0], conv.OutC, (conv.OutH()-e.k)/e.k + 1, (conv.OutW()-e.k)/e.k + 1}
		if err := c.b.ops(numel(outShape), e.k, e.k); err != nil {
			return false, err
		}
	}
	if len(e.nodes) > 0 {
		last := e.nodes[len(e.nodes)-1]
		out = newOp(last, c.g.Nodes[last])
	}
	y, err := c.runtime(outShape)
	if err != nil {
		return false, err
	}
	s.out, s.e = y.buf, e
	c.steps = append(c.steps, s)
	for _, i := range e.nodes {
		c.done[i] = true
	}
	return true, c.set(out, 0, y)
}

// shiftEpilogue is what a shiftConvStep does with its flat output after
// the product, in place of the nodes that follow the Conv: an activation
// (Relu, Tanh), then max or average pooling of windows k x k at stride
// k, or a crop to the output's shape.
type shiftEpilogue struct {
	nodes []int                // the nodes it stands for, in order
	act   func(y, x []float32) // nil for none
	relu  bool                 // act is Relu
	k     int                  // the pooling window, 0 for none
	avg   bool                 // average, not max, pooling
}

// shiftActivations are the activations an epilogue applies.
var shiftActivations = map[string]func(y, x []float32){"Relu": nchw.Relu, "Tanh": nchw.Tanh}

// shiftEpilogue finds the nodes after Conv o, whose map is h x w, that a
// shiftConvStep can run, each the only reader of the one before: an
// activation, and a MaxPool (after a Relu) or an AveragePool (after any
// activation, or none), which Pads of no padding may precede (LeNet-5's
// exports have one), of a square window K x K at stride K, without
// padding or dilation, that leaves at least one window, in floor mode or
// on a map K divides: what ShiftConv.ReluMaxPool and ActAvgPool compute.
func (c *compiler) shiftEpilogue(o op, h, w int) shiftEpilogue {
	var e shiftEpilogue
	if len(o.outputs) != 1 {
		return e
	}
	name := o.outputs[0]
	if i, ok := c.single(name); ok && shiftActivations[c.g.Nodes[i].OpType] != nil {
		e.nodes, e.act = append(e.nodes, i), shiftActivations[c.g.Nodes[i].OpType]
		e.relu = c.g.Nodes[i].OpType == "Relu"
		name = c.g.Nodes[i].Outputs[0]
	}
	var pads []int
	i, ok := c.single(name)
	for ok && c.noPadding(i) {
		pads = append(pads, i)
		i, ok = c.single(c.g.Nodes[i].Outputs[0])
	}
	if !ok {
		return e
	}
	n := c.g.Nodes[i]
	if n.OpType != "MaxPool" && n.OpType != "AveragePool" || n.OpType == "MaxPool" && !e.relu {
		return e
	}
	K := squarePool(n, h, w)
	if K == 0 {
		return e
	}
	e.nodes = append(append(e.nodes, pads...), i)
	e.k, e.avg = K, n.OpType == "AveragePool"
	return e
}

// single returns the node that alone reads value name, when that node
// has one output; as next, which it calls.
func (c *compiler) single(name string) (int, bool) {
	i, ok := c.next(name)
	if !ok || len(c.g.Nodes[i].Outputs) != 1 || c.g.Nodes[i].Outputs[0] == "" || c.g.Nodes[i].Input(0) != name {
		return 0, false
	}
	return i, true
}

// noPadding reports whether node i is a Pad that pads nothing, its pads
// an attribute (before opset 11) or a constant input: an initializer or
// a Constant node, which the compiler may not have reached yet.
func (c *compiler) noPadding(i int) bool {
	n := c.g.Nodes[i]
	if n.OpType != "Pad" {
		return false
	}
	if mode, err := n.Attrs.Str("mode", "constant"); err != nil || mode != "constant" {
		return false
	}
	var pads []int64
	if c.opset < 11 {
		p, err := n.Attrs.Ints("pads")
		if err != nil {
			return false
		}
		pads = p
	} else {
		if len(n.Inputs) > 3 && n.Inputs[3] != "" {
			return false // axes
		}
		k := c.constant(n.Input(1))
		if k == nil {
			return false
		}
		pads = k.ints()
	}
	return len(pads) > 0 && !slices.ContainsFunc(pads, func(p int64) bool { return p != 0 })
}

// constant returns value name's constant: compiled, or a Constant
// node's value not compiled yet; nil when it is computed at run time.
func (c *compiler) constant(name string) *constant {
	if v := c.vals[name]; v != nil {
		return v.c
	}
	for _, n := range c.g.Nodes {
		if n.OpType == "Constant" && len(n.Outputs) == 1 && n.Outputs[0] == name {
			t, err := n.Attrs.ConstantValue()
			if err != nil || t == nil {
				return nil
			}
			k, err := fromTensor(t)
			if err != nil {
				return nil
			}
			return k
		}
	}
	return nil
}

// squarePool returns K for pooling node n over a map of h x w when its
// window is square, K x K at stride K, without padding that a window reads
// (padsUnread) or dilation, and
// leaves at least one window in floor mode, or in ceil mode on a map K
// divides; 0 otherwise.
func squarePool(n *onnx.Node, h, w int) int {
	a := n.Attrs
	k, err1 := a.Ints("kernel_shape")
	s, err2 := a.Ints("strides")
	p, err3 := a.Ints("pads")
	d, err4 := a.Ints("dilations")
	ap, err5 := a.Str("auto_pad", "NOTSET")
	ceil, err6 := a.Int("ceil_mode", 0)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil || len(k) != 2 || k[0] != k[1] || !slices.Equal(s, k) ||
		slices.ContainsFunc(d, func(v int64) bool { return v != 1 }) || ap != "NOTSET" && ap != "VALID" && ap != "" {
		return 0
	}
	K := int(k[0])
	if K < 1 || K > min(h, w) || ceil != 0 && (h%K != 0 || w%K != 0) || !padsUnread(p, K, h, w, ceil != 0) {
		return 0
	}
	return K
}

// shiftConvStep is a convolution from in to out through the
// padded input xp and the flat output yf of nchw.ShiftConv. xp is written
// by Pad alone, its padding zero from the workspace's making on.
type shiftConvStep struct {
	c               nchw.ShiftConv
	in, out, xp, yf int
	e               shiftEpilogue
}

func (s shiftConvStep) run(b [][]float32) {
	s.c.Pad(b[s.xp], b[s.in], true)
	s.c.Multiply(b[s.yf], b[s.xp], 0, s.c.Tiles())
	s.finish(b)
}

// finish writes out from the flat output: pooled, or cropped.
func (s shiftConvStep) finish(b [][]float32) {
	switch {
	case s.e.k > 0 && s.e.avg:
		s.c.ActAvgPool(b[s.out], b[s.yf], s.e.act, s.e.k, 0, s.c.OutC)
	case s.e.k > 0:
		s.c.ReluMaxPool(b[s.out], b[s.yf], s.e.k, 0, s.c.OutC)
	case s.e.act != nil:
		s.c.ActCrop(b[s.out], b[s.yf], s.e.act, 0, s.c.OutC)
	default:
		s.c.Crop(b[s.out], b[s.yf], 0, s.c.OutC)
	}
}

// runSplit divides the tiles between the CPUs.
func (s shiftConvStep) runSplit(b [][]float32) {
	s.c.Pad(b[s.xp], b[s.in], true)
	kernel.Parallel(s.c.Tiles(), func(_, lo, hi int) {
		s.c.Multiply(b[s.yf], b[s.xp], lo, hi)
	})
	s.finish(b)
}
