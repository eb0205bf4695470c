package backend

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// compiler turns the decoded graph into steps, node by node in the
// model's order (ONNX requires a topological one; onnx.Validate checked).
type compiler struct {
	g      *Graph
	m      *onnx.ModelProto
	opset  int64
	vals   map[string]*val
	uses   map[string]int // how many node inputs read each value
	steps  []step
	sizes  []int         // run-time buffers, in floats
	nchwOf map[*val]*val // channels-first copies of channels-last values
	done   []bool        // nodes already compiled as part of a fused block
	b      *budget
	// allowNonFinite is ReadOptions.AllowNonFinite: a BatchNormalization
	// whose variance plus epsilon is not positive gives non-finite scales.
	allowNonFinite bool
}

// op is one ONNX node as a handler sees it.
type op struct {
	index   int
	typ     string
	attrs   attrs
	inputs  []string // "" for an absent optional input
	outputs []string
}

// newBuf adds a buffer of size floats to the plan, within its budget.
func (c *compiler) newBuf(size int) (int, error) {
	if err := c.b.buffer(size); err != nil {
		return 0, err
	}
	c.sizes = append(c.sizes, size)
	return len(c.sizes) - 1, nil
}

// runtime makes a run-time value of the given per-image shape. A value
// of no elements is refused: no image classifier has one, and the kernels
// would divide by its zero sizes (Softmax over zero rows, an average of
// nothing).
func (c *compiler) runtime(shape []int) (*val, error) {
	n, err := elements(shape)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("a run-time value of shape %v holds no values; not supported", shape)
	}
	buf, err := c.newBuf(n)
	if err != nil {
		return nil, err
	}
	return &val{shape: shape, buf: buf}, nil
}

// folded makes a constant computed at load, within the budget of folded
// constants: the budget is spent before the values are allocated.
func (c *compiler) folded(shape []int, isInt bool) (*constant, error) {
	n, err := elements(shape)
	if err != nil {
		return nil, err
	}
	size := 4
	if isInt {
		size = 8
	}
	if err := c.b.fold(int64(size) * int64(n)); err != nil {
		return nil, err
	}
	k := &constant{shape: shape}
	if isInt {
		k.i = make([]int64, n)
	} else {
		k.f = make([]float32, n)
	}
	return k, nil
}

// in returns input i of o, or an error naming it when it is missing.
func (c *compiler) in(o op, i int) (*val, error) {
	if i >= len(o.inputs) || o.inputs[i] == "" {
		return nil, fmt.Errorf("%s: input %d missing", o.typ, i)
	}
	v := c.vals[o.inputs[i]]
	if v == nil {
		return nil, fmt.Errorf("%s: input %q is not produced before it is used", o.typ, o.inputs[i])
	}
	return v, nil
}

// optional returns input i of o, or nil when it is absent.
func (c *compiler) optional(o op, i int) (*val, error) {
	if i >= len(o.inputs) || o.inputs[i] == "" {
		return nil, nil
	}
	return c.in(o, i)
}

// constIn returns input i of o, which must be known at load.
func (c *compiler) constIn(o op, i int) (*constant, error) {
	v, err := c.in(o, i)
	if err != nil {
		return nil, err
	}
	if v.c == nil {
		return nil, fmt.Errorf("%s: input %d (%s) must be a constant (a weight or folded shape arithmetic)", o.typ, i, o.inputs[i])
	}
	return v.c, nil
}

// two returns the first two inputs of o.
func (c *compiler) two(o op) (*val, *val, error) {
	a, err := c.in(o, 0)
	if err != nil {
		return nil, nil, err
	}
	b, err := c.in(o, 1)
	return a, b, err
}

// operand returns how a step reads v: its values when it is a constant,
// else its buffer, channels-first.
func (c *compiler) operand(v *val) ([]float32, int, error) {
	if v.c != nil {
		return v.c.floats(), 0, nil
	}
	w, err := c.chw(v)
	if err != nil {
		return nil, 0, err
	}
	return nil, w.buf, nil
}

// chw returns v laid out channels-first, converting a channels-last value
// once.
func (c *compiler) chw(v *val) (*val, error) {
	if !v.nhwc {
		return v, nil
	}
	if w := c.nchwOf[v]; w != nil {
		return w, nil
	}
	w, err := c.runtime(v.shape)
	if err != nil {
		return nil, err
	}
	ch, hw := v.shape[1], v.shape[2]*v.shape[3]
	if err := c.b.ops(ch, hw); err != nil {
		return nil, err
	}
	c.steps = append(c.steps, layoutStep{c: ch, hw: hw, in: v.buf, out: w.buf})
	c.nchwOf[v] = w
	return w, nil
}

// hwc returns v laid out channels-last.
func (c *compiler) hwc(v *val) (*val, error) {
	if v.nhwc {
		return v, nil
	}
	ch, hw := v.shape[1], v.shape[2]*v.shape[3]
	if ch == 1 || hw == 1 {
		// The two layouts are the same bytes.
		return &val{shape: v.shape, buf: v.buf, nhwc: true}, nil
	}
	w, err := c.runtime(v.shape)
	if err != nil {
		return nil, err
	}
	if err := c.b.ops(ch, hw); err != nil {
		return nil, err
	}
	w.nhwc = true
	c.steps = append(c.steps, layoutStep{c: ch, hw: hw, toNHWC: true, in: v.buf, out: w.buf})
	return w, nil
}

// set records the value an op's output names.
func (c *compiler) set(o op, i int, v *val) error {
	if i >= len(o.outputs) {
		return fmt.Errorf("%s: no output %d", o.typ, i)
	}
	c.vals[o.outputs[i]] = v
	return nil
}

// alias makes output 0 of o the same buffer as v under another shape: the
// operators that only reinterpret the bytes (Reshape, Flatten, Squeeze...).
func (c *compiler) alias(o op, v *val, shape []int) error {
	n, err := elements(shape)
	if err != nil {
		return fmt.Errorf("%s to %v: %w", o.typ, shape, err)
	}
	if n != numel(v.shape) {
		return modelfile.FormatErrorf("%s: cannot reshape %v (%d values) to %v (%d)", o.typ, v.shape, numel(v.shape), shape, n)
	}
	if v.c != nil {
		return c.set(o, 0, &val{shape: shape, c: &constant{shape: shape, f: v.c.f, i: v.c.i}})
	}
	if v, err = c.chw(v); err != nil {
		return err
	}
	return c.set(o, 0, &val{shape: shape, buf: v.buf, logProb: v.logProb})
}

// compile runs every node's handler.
func (c *compiler) compile() error {
	c.done = make([]bool, len(c.m.Graph.Node))
	for i, n := range c.m.Graph.Node {
		if c.done[i] {
			continue
		}
		o := op{index: i, typ: n.OpType, attrs: attrs(c.g.ops[i].op.Attributes), inputs: n.Input, outputs: n.Output}
		h := handlers[n.OpType]
		if h == nil {
			return fmt.Errorf("node %d (%s): operator not supported", i, n.OpType)
		}
		if err := h(c, o); err != nil {
			if n.Name != "" {
				return fmt.Errorf("node %d (%s %q): %w", i, n.OpType, n.Name, err)
			}
			return fmt.Errorf("node %d (%s): %w", i, n.OpType, err)
		}
	}
	return nil
}

// handlers compile one operator each.
var handlers map[string]func(*compiler, op) error

func init() {
	handlers = map[string]func(*compiler, op) error{
		"Conv": compileConv, "MaxPool": compilePool, "AveragePool": compilePool,
		"GlobalAveragePool": compileGlobalPool, "BatchNormalization": compileBatchNorm,
		"Relu": unary(nchw.Relu), "Tanh": unary(nchw.Tanh), "Sigmoid": unary(nchw.Sigmoid),
		"LeakyRelu": compileLeakyRelu,
		"Identity":  compileIdentity, "Dropout": compileDropout, "Cast": compileCast,
		"Flatten": compileFlatten, "Reshape": compileReshape,
		"Squeeze": compileSqueeze, "Unsqueeze": compileSqueeze,
		"Shape": compileShape, "Gather": compileGather, "Concat": compileConcat, "Constant": compileConstant,
		"Gemm": compileGemm, "MatMul": compileMatMul,
		"Add": elementwise(nchw.Add), "Sub": elementwise(nchw.Sub), "Mul": elementwise(nchw.Mul), "Div": elementwise(nchw.Div),
		"Softmax": compileSoftmax, "LogSoftmax": compileSoftmax, "Pad": compilePad,
	}
}

// Supported reports whether the backend compiles operator typ of the
// default domain.
func Supported(typ string) bool { return handlers[typ] != nil }

func unary(fn func(y, x []float32)) func(*compiler, op) error {
	return func(c *compiler, o op) error {
		x, err := c.in(o, 0)
		if err != nil {
			return err
		}
		if x.c != nil {
			y, err := c.folded(x.shape, false)
			if err != nil {
				return err
			}
			fn(y.f, x.c.floats())
			return c.set(o, 0, &val{shape: x.shape, c: y})
		}
		y, err := c.runtime(x.shape)
		if err != nil {
			return err
		}
		if err := c.b.ops(numel(x.shape)); err != nil {
			return err
		}
		y.nhwc = x.nhwc // elementwise: any layout
		c.steps = append(c.steps, unaryStep{fn: fn, in: x.buf, out: y.buf})
		return c.set(o, 0, y)
	}
}

func compileLeakyRelu(c *compiler, o op) error {
	alpha, err := o.attrs.float("alpha", 0.01)
	if err != nil {
		return err
	}
	return unary(func(y, x []float32) { nchw.LeakyRelu(y, x, alpha) })(c, o)
}

func compileIdentity(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	return c.set(o, 0, x)
}

// compileDropout: inference Dropout is the identity (checkInference
// refused the training ones).
func compileDropout(c *compiler, o op) error {
	if len(o.outputs) > 1 && o.outputs[1] != "" && c.uses[o.outputs[1]] > 0 {
		return fmt.Errorf("Dropout's mask is used; not supported")
	}
	return compileIdentity(c, o)
}

func compileCast(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	to, err := o.attrs.int("to", 1)
	if err != nil {
		return err
	}
	isFloat := to == int64(onnx.TensorProto_FLOAT) || to == int64(onnx.TensorProto_DOUBLE) || to == int64(onnx.TensorProto_FLOAT16)
	if x.c != nil {
		if isFloat {
			return c.set(o, 0, &val{shape: x.shape, c: &constant{shape: x.shape, f: x.c.floats()}})
		}
		return c.set(o, 0, &val{shape: x.shape, c: &constant{shape: x.shape, i: x.c.ints()}})
	}
	if !isFloat {
		return fmt.Errorf("Cast of a run-time value to %s: only casts to float are supported", onnx.TensorProto_DataType(to))
	}
	return c.set(o, 0, x)
}

func compileConstant(c *compiler, o op) error {
	k, err := o.attrs.constant()
	if err != nil {
		return err
	}
	if err := c.b.constBytes(k.bytes()); err != nil {
		return err
	}
	return c.set(o, 0, &val{shape: k.shape, c: k})
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
	strides, err := o.attrs.ints("strides")
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
	if dil, _ := o.attrs.ints("dilations"); dil != nil && slices.ContainsFunc(dil, func(d int64) bool { return d != 1 }) {
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
	autoPad, err := o.attrs.str("auto_pad", "NOTSET")
	if err != nil {
		return
	}
	switch autoPad {
	case "NOTSET", "":
		pads, e := o.attrs.ints("pads")
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
	if g, err := o.attrs.int("group", 1); err != nil || g != 1 {
		return fmt.Errorf("group %d: only 1 is supported", g)
	}
	inC, h, wd := x.shape[1], x.shape[2], x.shape[3]
	outC, kh, kw := w.shape[0], w.shape[2], w.shape[3]
	if w.shape[1] != inC {
		return fmt.Errorf("weights %v for an input of %d channels", w.shape, inC)
	}
	if ks, _ := o.attrs.ints("kernel_shape"); ks != nil && (len(ks) != 2 || ks[0] != int64(kh) || ks[1] != int64(kw)) {
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
	for _, out := range c.m.Graph.Output {
		if out.Name == name {
			return 0, false
		}
	}
	for i, n := range c.m.Graph.Node {
		if !c.done[i] && slices.Contains(n.Input, name) {
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
		n := c.m.Graph.Node[i]
		if n.OpType != typ || len(n.Input) == 0 || n.Input[0] != name {
			return false, nil
		}
		idx = append(idx, i)
		name = n.Output[0]
	}
	bnNode, poolNode := c.m.Graph.Node[idx[1]], c.m.Graph.Node[idx[2]]
	bnOp := op{index: idx[1], typ: bnNode.OpType, attrs: attrs(c.g.ops[idx[1]].op.Attributes), inputs: bnNode.Input, outputs: bnNode.Output}
	scale, shift, err := c.batchNormCoefficients(bnOp)
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
	pa := attrs(c.g.ops[idx[2]].op.Attributes)
	k, _ := pa.ints("kernel_shape")
	s, _ := pa.ints("strides")
	p, _ := pa.ints("pads")
	ap, _ := pa.str("auto_pad", "NOTSET")
	h, wd := x.shape[2], x.shape[3]
	// A kernel of 0 would divide by zero below; one larger than the map
	// leaves nothing.
	if len(k) != 2 || k[0] < 1 || k[0] > int64(min(h, wd)) || k[0] != k[1] || !slices.Equal(s, k) ||
		slices.ContainsFunc(p, func(v int64) bool { return v != 0 }) ||
		(ap != "NOTSET" && ap != "" && ap != "VALID") || h%int(k[0]) != 0 || wd%int(k[0]) != 0 || len(poolNode.Output) > 1 && poolNode.Output[1] != "" {
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
	c.vals[poolNode.Output[0]] = y
	return true, nil
}

// batchNormCoefficients folds an inference BatchNormalization (checkInference
// refused the training ones) into a scale and shift per channel.
func (c *compiler) batchNormCoefficients(o op) (scale, shift []float32, err error) {
	eps, err := o.attrs.float("epsilon", 1e-5)
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
	if len(o.outputs) > 1 && o.outputs[1] != "" {
		return fmt.Errorf("MaxPool's Indices output is not supported")
	}
	k, err := o.attrs.ints("kernel_shape")
	if err != nil || len(k) != 2 {
		return fmt.Errorf("kernel_shape %v: want 2 values", k)
	}
	if so, _ := o.attrs.int("storage_order", 0); so != 0 {
		return fmt.Errorf("storage_order %d is not supported", so)
	}
	h, w := x.shape[2], x.shape[3]
	// convGeometry's default strides are ONNX's, 1; not the kernel size as
	// in PyTorch.
	g, err := convGeometry(o, h, w, k[0], k[1], true)
	if err != nil {
		return err
	}
	ceil, err := o.attrs.int("ceil_mode", 0)
	if err != nil {
		return err
	}
	cip, err := o.attrs.int("count_include_pad", 0)
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

// axis resolves a possibly negative axis against a rank.
func axis(a int64, rank int) (int, error) {
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", a, rank)
	}
	return int(a), nil
}

func compileFlatten(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	a, err := o.attrs.int("axis", 1)
	if err != nil {
		return err
	}
	ax := int(a)
	if a < 0 {
		ax = int(a) + len(x.shape)
	}
	if ax < 0 || ax > len(x.shape) {
		return fmt.Errorf("axis %d out of range for %v", a, x.shape)
	}
	if ax == 0 && x.c == nil {
		return fmt.Errorf("Flatten with axis 0 mixes the images of a batch; not supported")
	}
	return c.alias(o, x, []int{numel(x.shape[:ax]), numel(x.shape[ax:])})
}

func compileReshape(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	var target []int64
	if c.opset < 5 {
		target, err = o.attrs.ints("shape")
	} else {
		var k *constant
		k, err = c.constIn(o, 1)
		if k != nil {
			target = k.ints()
		}
	}
	if err != nil {
		return err
	}
	allowZero, _ := o.attrs.int("allowzero", 0)
	shape := make([]int, len(target))
	infer := -1
	for i, d := range target {
		switch {
		case d == 0 && allowZero == 0:
			if i >= len(x.shape) {
				return fmt.Errorf("shape %v copies dimension %d of %v", target, i, x.shape)
			}
			shape[i] = x.shape[i]
		case d == -1 && infer < 0:
			infer = i
		case d < 0 || d == 0:
			return fmt.Errorf("shape %v is not supported", target)
		case d > modelfile.MaxElements:
			return modelfile.LimitErrorf("Reshape to %v: dimension %d is more than %d, refused", target, d, modelfile.MaxElements)
		default:
			shape[i] = int(d)
		}
	}
	if infer >= 0 {
		shape[infer] = 1
		rest, err := elements(shape)
		if err != nil {
			return fmt.Errorf("Reshape to %v: %w", target, err)
		}
		if rest == 0 || numel(x.shape)%rest != 0 {
			return modelfile.FormatErrorf("cannot reshape %v to %v", x.shape, target)
		}
		shape[infer] = numel(x.shape) / rest
	}
	if x.c == nil && (len(shape) == 0 || shape[0] != 1) {
		return fmt.Errorf("Reshape of %v to %v moves the batch dimension; not supported", x.shape, target)
	}
	return c.alias(o, x, shape)
}

// compileSqueeze handles Squeeze and Unsqueeze, axes as an attribute
// (before opset 13) or an input.
func compileSqueeze(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	var axes []int64
	if c.opset < 13 {
		axes, err = o.attrs.ints("axes")
	} else if a, e := c.optional(o, 1); e != nil {
		err = e
	} else if a != nil {
		if a.c == nil {
			return fmt.Errorf("axes must be a constant")
		}
		axes = a.c.ints()
	}
	if err != nil {
		return err
	}
	var shape []int
	if o.typ == "Squeeze" {
		drop := map[int]bool{}
		for _, a := range axes {
			ax, err := axis(a, len(x.shape))
			if err != nil {
				return err
			}
			if x.shape[ax] != 1 {
				return fmt.Errorf("cannot squeeze axis %d of %v", ax, x.shape)
			}
			drop[ax] = true
		}
		for i, d := range x.shape {
			if drop[i] || axes == nil && d == 1 && (x.c != nil || i > 0) {
				continue
			}
			shape = append(shape, d)
		}
	} else {
		rank := len(x.shape) + len(axes)
		ins := map[int]bool{}
		for _, a := range axes {
			ax, err := axis(a, rank)
			if err != nil {
				return err
			}
			ins[ax] = true
		}
		j := 0
		for i := 0; i < rank; i++ {
			if ins[i] {
				shape = append(shape, 1)
			} else if j < len(x.shape) {
				shape = append(shape, x.shape[j])
				j++
			}
		}
	}
	return c.alias(o, x, shape)
}

// compileShape folds Shape: the per-image shape, with the batch dimension
// 1, is what every later operator of the plan sees.
func compileShape(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	start, _ := o.attrs.int("start", 0)
	end, _ := o.attrs.int("end", int64(len(x.shape)))
	r := int64(len(x.shape))
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	s, e := clamp(start), clamp(end)
	k, err := c.folded([]int{int(max(s, e) - s)}, true)
	if err != nil {
		return err
	}
	for i, d := range x.shape[s:max(s, e)] {
		k.i[i] = int64(d)
	}
	return c.set(o, 0, &val{shape: k.shape, c: k})
}

func compileGather(c *compiler, o op) error {
	data, err := c.constIn(o, 0)
	if err != nil {
		return err
	}
	idx, err := c.constIn(o, 1)
	if err != nil {
		return err
	}
	a, err := o.attrs.int("axis", 0)
	if err != nil {
		return err
	}
	if len(data.shape) != 1 || a != 0 && a != -1 {
		return fmt.Errorf("Gather on %v along axis %d: only 1-D shape arithmetic is supported", data.shape, a)
	}
	n := int64(data.shape[0])
	out, err := c.folded(idx.shape, data.isInt())
	if err != nil {
		return err
	}
	for k, i := range idx.ints() {
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return modelfile.FormatErrorf("Gather index %d out of range for %d values", i, n)
		}
		if out.i != nil {
			out.i[k] = data.ints()[i]
		} else {
			out.f[k] = data.floats()[i]
		}
	}
	return c.set(o, 0, &val{shape: out.shape, c: out})
}

func compileConcat(c *compiler, o op) error {
	a, err := o.attrs.int("axis", 0)
	if err != nil {
		return err
	}
	// The inputs first, for the size and type of the result: the budget
	// is spent before anything is allocated.
	var parts []*constant
	n, isInt := 0, true
	for i := range o.inputs {
		k, err := c.constIn(o, i)
		if err != nil {
			return fmt.Errorf("%w (only shape arithmetic is concatenated)", err)
		}
		if len(k.shape) > 1 || a != 0 && a != -1 {
			return fmt.Errorf("Concat of %v: only 1-D shape arithmetic is supported", k.shape)
		}
		if n, err = addChecked(n, numel(k.shape), modelfile.MaxElements); err != nil {
			return fmt.Errorf("Concat: %w", err)
		}
		isInt = isInt && k.isInt()
		parts = append(parts, k)
	}
	out, err := c.folded([]int{n}, isInt)
	if err != nil {
		return err
	}
	at := 0
	for _, k := range parts {
		if isInt {
			at += copy(out.i[at:], k.ints())
		} else {
			at += copy(out.f[at:], k.floats())
		}
	}
	return c.set(o, 0, &val{shape: out.shape, c: out})
}

func compileSoftmax(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	def := int64(-1)
	if c.opset < 13 {
		def = 1
	}
	a, err := o.attrs.int("axis", def)
	if err != nil {
		return err
	}
	ax, err := axis(a, len(x.shape))
	if err != nil {
		return err
	}
	if x.c != nil || ax == 0 {
		return fmt.Errorf("%s over axis %d of %v: only over the features of each image", o.typ, ax, x.shape)
	}
	cols := numel(x.shape[ax:])
	if c.opset >= 13 {
		cols = x.shape[ax]
		if numel(x.shape[ax+1:]) != 1 {
			return fmt.Errorf("%s over axis %d of %v: only over the last dimension", o.typ, ax, x.shape)
		}
	}
	// runtime refuses values of no elements, so neither is 0; an
	// empty softmax would write nothing where a classifier reads.
	if cols == 0 || numel(x.shape) == 0 {
		return fmt.Errorf("%s over axis %d of %v: no values; not supported", o.typ, ax, x.shape)
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.runtime(x.shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape), 2); err != nil {
		return err
	}
	// A classifier reads log-probabilities as logits: softmax of them is
	// the probabilities, and the cross-entropy is -log p of the label. A
	// graph's own Softmax is computed as LogSoftmax when it is the output,
	// which keeps the loss finite where p underflows.
	log := o.typ == "LogSoftmax"
	if !log && c.isOutput(o.outputs[0]) {
		log, y.logProb = true, true
	}
	c.steps = append(c.steps, softmaxStep{rows: numel(x.shape) / cols, cols: cols, log: log, in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

func (c *compiler) isOutput(name string) bool {
	return len(c.m.Graph.Output) > 0 && c.m.Graph.Output[0].Name == name
}

func compileGemm(c *compiler, o op) error {
	a, b, err := c.two(o)
	if err != nil {
		return err
	}
	cv, err := c.optional(o, 2)
	if err != nil {
		return err
	}
	ta, _ := o.attrs.int("transA", 0)
	tb, _ := o.attrs.int("transB", 0)
	// validate refused non-finite alpha and beta unless allowed.
	alpha, _ := o.attrs.float("alpha", 1)
	beta, _ := o.attrs.float("beta", 1)
	if len(a.shape) != 2 || len(b.shape) != 2 {
		return fmt.Errorf("Gemm of %v and %v: both must be matrices", a.shape, b.shape)
	}
	m, k := a.shape[0], a.shape[1]
	if ta != 0 {
		m, k = k, m
	}
	kb, n := b.shape[0], b.shape[1]
	if tb != 0 {
		kb, n = n, kb
	}
	if k != kb {
		return fmt.Errorf("Gemm of %v and %v: inner sizes %d and %d", a.shape, b.shape, k, kb)
	}
	if a.c == nil && (ta != 0 || m != 1) {
		return fmt.Errorf("Gemm with a transposed or multi-row run-time A is not supported")
	}
	s := gemmStep{m: m, n: n, k: k, transA: ta != 0, transB: tb != 0, alpha: alpha, beta: beta}
	if s.a, s.in, err = c.operand(a); err != nil {
		return err
	}
	if s.bm, s.inB, err = c.operand(b); err != nil {
		return err
	}
	if cv != nil {
		if cv.c == nil {
			return fmt.Errorf("Gemm's C must be a constant")
		}
		// C broadcasts to (M, N) unidirectionally (ONNX's Gemm): the
		// result keeps A and B's shape, so a C of (5, N) for M = 1 is
		// refused, as ONNX Runtime refuses it, not read in part.
		if !unidirectional(cv.shape, []int{m, n}) {
			return modelfile.FormatErrorf("Gemm's C of shape %v does not broadcast to the %dx%d result", cv.shape, m, n)
		}
		s.c, s.cShape = cv.c.floats(), cv.shape
	}
	y, err := c.runtime([]int{m, n})
	if err != nil {
		return err
	}
	if err := c.b.ops(m, n, max(k, 1)); err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

func compileMatMul(c *compiler, o op) error {
	a, b, err := c.two(o)
	if err != nil {
		return err
	}
	if len(a.shape) != 2 || len(b.shape) != 2 || a.shape[1] != b.shape[0] {
		return fmt.Errorf("MatMul of %v and %v: only matrices are supported", a.shape, b.shape)
	}
	s := gemmStep{m: a.shape[0], n: b.shape[1], k: a.shape[1], alpha: 1}
	if s.a, s.in, err = c.operand(a); err != nil {
		return err
	}
	if s.bm, s.inB, err = c.operand(b); err != nil {
		return err
	}
	y, err := c.runtime([]int{s.m, s.n})
	if err != nil {
		return err
	}
	if err := c.b.ops(s.m, s.n, max(s.k, 1)); err != nil {
		return err
	}
	s.out = y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

func elementwise(bop nchw.BinaryOp) func(*compiler, op) error {
	return func(c *compiler, o op) error {
		a, b, err := c.two(o)
		if err != nil {
			return err
		}
		shape, err := nchw.BroadcastShape(a.shape, b.shape)
		if err != nil {
			return modelfile.FormatErrorf("%s of %v and %v: %w", o.typ, a.shape, b.shape, err)
		}
		if a.c != nil && b.c != nil {
			return c.fold(o, bop, a.c, b.c, shape)
		}
		if a.c == nil && b.c == nil && numel(a.shape) != numel(shape) && numel(b.shape) != numel(shape) {
			return fmt.Errorf("%s of %v and %v: broadcasting both run-time operands is not supported", o.typ, a.shape, b.shape)
		}
		if a.c == nil && len(a.shape) > 0 && a.shape[0] != 1 || b.c == nil && len(b.shape) > 0 && b.shape[0] != 1 {
			return fmt.Errorf("%s of %v and %v mixes images of a batch", o.typ, a.shape, b.shape)
		}
		s := binaryStep{op: bop, aShape: a.shape, bShape: b.shape, yShape: shape}
		if s.a, s.ia, err = c.operand(a); err != nil {
			return err
		}
		if s.b, s.ib, err = c.operand(b); err != nil {
			return err
		}
		y, err := c.runtime(shape)
		if err != nil {
			return err
		}
		if err := c.b.ops(numel(shape)); err != nil {
			return err
		}
		s.out = y.buf
		c.steps = append(c.steps, s)
		return c.set(o, 0, y)
	}
}

// fold computes an elementwise operator on two constants: integer shape
// arithmetic stays integer.
func (c *compiler) fold(o op, bop nchw.BinaryOp, a, b *constant, shape []int) error {
	if _, err := elements(shape); err != nil {
		return fmt.Errorf("%s of %v and %v: %w", o.typ, a.shape, b.shape, err)
	}
	if a.isInt() && b.isInt() {
		ai, bi := a.ints(), b.ints()
		if numel(a.shape) != numel(shape) && numel(a.shape) != 1 || numel(b.shape) != numel(shape) && numel(b.shape) != 1 {
			return fmt.Errorf("%s of integer constants %v and %v: only equal shapes or scalars", o.typ, a.shape, b.shape)
		}
		k, err := c.folded(shape, true)
		if err != nil {
			return err
		}
		out := k.i
		for i := range out {
			x, y := ai[min(i, len(ai)-1)], bi[min(i, len(bi)-1)]
			switch bop {
			case nchw.Add:
				out[i] = x + y
			case nchw.Sub:
				out[i] = x - y
			case nchw.Mul:
				out[i] = x * y
			case nchw.Div:
				if y == 0 {
					return fmt.Errorf("integer division by zero")
				}
				out[i] = x / y
			}
		}
		return c.set(o, 0, &val{shape: shape, c: k})
	}
	k, err := c.folded(shape, false)
	if err != nil {
		return err
	}
	nchw.Binary(bop, k.f, a.floats(), a.shape, b.floats(), b.shape, shape)
	return c.set(o, 0, &val{shape: shape, c: k})
}

// compilePad pads the height and width of a map with a constant, as
// exporters write in front of pooling.
func compilePad(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	mode, err := o.attrs.str("mode", "constant")
	if err != nil || mode != "constant" {
		return fmt.Errorf("Pad mode %q: only constant is supported", mode)
	}
	var pads []int64
	value := float32(0)
	if c.opset < 11 {
		if pads, err = o.attrs.ints("pads"); err != nil {
			return err
		}
		if value, err = o.attrs.float("value", 0); err != nil {
			return err
		}
	} else {
		k, err := c.constIn(o, 1)
		if err != nil {
			return err
		}
		pads = k.ints()
		if v, err := c.optional(o, 2); err != nil {
			return err
		} else if v != nil {
			if v.c == nil || len(v.c.floats()) != 1 {
				return fmt.Errorf("Pad's constant_value must be a scalar constant")
			}
			value = v.c.floats()[0]
		}
		if a, err := c.optional(o, 3); err != nil || a != nil {
			return fmt.Errorf("Pad with axes is not supported")
		}
	}
	if x.c != nil || len(x.shape) != 4 || len(pads) != 8 {
		return fmt.Errorf("Pad of %v by %v: only 2-D maps", x.shape, pads)
	}
	if pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 || slices.ContainsFunc(pads, func(p int64) bool { return p < 0 || p > 1024 }) {
		return fmt.Errorf("Pad %v: only non-negative padding of height and width", pads)
	}
	t, l, b, r := int(pads[2]), int(pads[3]), int(pads[6]), int(pads[7])
	if t+l+b+r == 0 {
		return c.set(o, 0, x)
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	// Each pad is at most 1024 and each size at most MaxElements: the sums
	// cannot overflow, and runtime bounds the result.
	ch, h, w := x.shape[1], x.shape[2], x.shape[3]
	y, err := c.runtime([]int{1, ch, h + t + b, w + l + r})
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(y.shape)); err != nil {
		return err
	}
	c.steps = append(c.steps, padStep{c: ch, h: h, w: w, top: t, left: l, bottom: b, right: r, value: value, in: x.buf, out: y.buf})
	return c.set(o, 0, y)
}

// unidirectional reports whether shape broadcasts to target without
// changing it, as ONNX's unidirectional broadcasting (Gemm's C) requires:
// aligned at the last dimension, each size equal to target's or 1.
func unidirectional(shape, target []int) bool {
	if len(shape) > len(target) {
		return false
	}
	off := len(target) - len(shape)
	for i, d := range shape {
		if d != target[off+i] && d != 1 {
			return false
		}
	}
	return true
}
