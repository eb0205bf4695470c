package backend

import (
	"fmt"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// compiler turns a decoded graph into steps, node by node in its
// topological order (onnx.Decode sorted the nodes).
type compiler struct {
	m      *onnx.Model
	g      *onnx.Graph
	opset  int64
	vals   map[string]*val
	uses   map[string]int // how many node inputs read each value
	steps  []step
	sizes  []int         // run-time buffers, in floats
	nchwOf map[*val]*val // channels-first copies of channels-last values
	nhwcOf map[*val]*val // and channels-last copies of channels-first ones
	done   []bool        // nodes already compiled as part of a fused block
	// early are nodes compiled before their turn, constants a fused
	// block needed (compiler.constInputs): not fused, only done.
	early map[int]bool
	b     *budget
	// allowNonFinite is ReadOptions.AllowNonFinite: a BatchNormalization
	// whose variance plus epsilon is not positive gives non-finite scales.
	allowNonFinite bool
	// whole says the plan runs whole tensors of fixed shapes (lenetkit
	// run): dimension 0 is not a batch of images to split.
	whole bool
	// fixedBatch is the batch the image input declares when above 1
	// (Plan.FixedBatch); 0 otherwise.
	fixedBatch int
	// qfused is what fuseQDQ says of the nodes it wrote (quant_fuse.go).
	qfused map[*onnx.Node]quantFusion
	// int8Kernel names the int8 kernel of the quantized steps, if any.
	int8Kernel string
}

// op is one node as a handler sees it.
type op struct {
	index   int // in the sorted graph
	typ     string
	attrs   onnx.Attrs
	inputs  []string // "" for an absent optional input
	outputs []string
}

func newOp(i int, n *onnx.Node) op {
	return op{index: i, typ: n.OpType, attrs: n.Attrs, inputs: n.Inputs, outputs: n.Outputs}
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
		return nil, fmt.Errorf("a run-time value of shape %v holds no values: %w", shape, onnx.ErrUnsupported)
	}
	buf, err := c.newBuf(n)
	if err != nil {
		return nil, err
	}
	return &val{shape: shape, buf: buf}, nil
}

// computed makes the run-time value a step computes elementwise: one of
// shape, its elements counted as the step's work within the budget.
func (c *compiler) computed(shape []int) (*val, error) {
	y, err := c.runtime(shape)
	if err != nil {
		return nil, err
	}
	if err := c.b.ops(numel(shape)); err != nil {
		return nil, err
	}
	return y, nil
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
// (a map, or one flattened from one for a dense layer) once.
func (c *compiler) chw(v *val) (*val, error) {
	if channelsLast(v) {
		return c.qchw(v)
	}
	if !v.nhwc && v.flatC == 0 {
		return v, nil
	}
	if w := c.nchwOf[v]; w != nil {
		return w, nil
	}
	ch, hw := v.flatC, v.flatHW
	if ch == 0 {
		ch, hw = v.shape[1], v.shape[2]*v.shape[3]
	}
	if ch == 1 || hw == 1 {
		// The two layouts are the same bytes.
		return &val{shape: v.shape, buf: v.buf}, nil
	}
	w, err := c.runtime(v.shape)
	if err != nil {
		return nil, err
	}
	if err := c.b.ops(ch, hw); err != nil {
		return nil, err
	}
	c.steps = append(c.steps, layoutStep{c: ch, hw: hw, in: v.buf, out: w.buf})
	c.nchwOf[v] = w
	return w, nil
}

// hwc returns v laid out channels-last, converting a channels-first map
// once (a ResNet's block reads its input twice: its convolution and its
// shortcut).
func (c *compiler) hwc(v *val) (*val, error) {
	if v.nhwc {
		return v, nil
	}
	if w := c.nhwcOf[v]; w != nil {
		return w, nil
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
	c.nhwcOf[v] = w
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
		return c.set(o, 0, &val{shape: shape, c: &constant{shape: shape, f: v.c.f, i: v.c.i, dt: v.c.dt}})
	}
	if ok, err := c.flattenNHWC(o, v, shape); ok || err != nil {
		return err
	}
	if ok, err := c.flattenDense(o, v, shape); ok || err != nil {
		return err
	}
	if v, err = c.chw(v); err != nil {
		return err
	}
	return c.set(o, 0, &val{shape: shape, buf: v.buf, logProb: v.logProb, dt: v.dt})
}

// compile runs every node's handler.
func (c *compiler) compile() error {
	c.done = make([]bool, len(c.g.Nodes))
	for i, n := range c.g.Nodes {
		if c.done[i] || c.early[i] {
			continue
		}
		h, err := c.handlerOf(n)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Describe(), err)
		}
		if err := c.plainInputs(n); err != nil {
			return fmt.Errorf("%s: %w", n.Describe(), err)
		}
		if err := h(c, newOp(i, n)); err != nil {
			return fmt.Errorf("%s: %w", n.Describe(), err)
		}
	}
	return nil
}

// handlerOf picks node n's handler: the default domain's by its type, or
// one of the contrib operators of ONNX Runtime's domain that the backend
// implements (contribHandlers). An operator that reads an integer
// run-time value gets the quantized family's form of it, or a refusal
// (typedHandler): the other handlers read every buffer as float32.
func (c *compiler) handlerOf(n *onnx.Node) (handler, error) {
	var h handler
	switch n.Domain {
	case "":
		h = handlers[n.OpType]
	case contribDomain:
		h = contribHandlers[n.OpType]
	}
	if h == nil {
		return nil, fmt.Errorf("operator not supported")
	}
	h, err := c.typedHandler(n, h)
	if err == nil && c.qfused[n].requant {
		h = requantPass(h)
	}
	return h, err
}

// handler compiles one operator; each family of operators registers its
// handlers from its own file.
type handler func(*compiler, op) error

var handlers = map[string]handler{}

// contribHandlers are the operators of ONNX Runtime's contrib domain,
// com.microsoft, that the backend runs: only those the quantized graphs
// of ONNX Runtime's tools and the model zoo use (ops_quant*.go).
var contribHandlers = map[string]handler{}

// contribDomain is ONNX Runtime's domain of contrib operators.
const contribDomain = "com.microsoft"

func register(family map[string]handler) { registerIn(handlers, family) }

// registerContrib registers operators of the com.microsoft domain.
func registerContrib(family map[string]handler) { registerIn(contribHandlers, family) }

func registerIn(to, family map[string]handler) {
	for typ, h := range family {
		if to[typ] != nil {
			panic("backend: operator " + typ + " registered twice")
		}
		to[typ] = h
	}
}

// Supported reports whether the backend compiles operator typ of the
// default domain.
func Supported(typ string) bool { return handlers[typ] != nil }

// SupportedOp reports whether the backend compiles operator typ of domain
// ("" for the default one, "com.microsoft" for ONNX Runtime's contrib
// operators), as onnx.Unsupported asks.
func SupportedOp(domain, typ string) bool {
	return domain == "" && Supported(typ) || domain == contribDomain && contribHandlers[typ] != nil
}

// fusedChains names the nodes compiled into fused kernels: each node a
// fusion took over (done) joined to the chain of the node whose output it
// reads, the latest of them for a node of two inputs (a ResNet's Add
// reads its shortcut and the convolution it is fused into), Constant
// nodes aside (a Pad's pads).
func (c *compiler) fusedChains() [][]string {
	producer := c.g.Producers()
	order := make(map[*onnx.Node]int, len(c.g.Nodes))
	for i, n := range c.g.Nodes {
		order[n] = i
	}
	var chains [][]string
	chainOf := map[*onnx.Node]int{}
	for i, n := range c.g.Nodes {
		if !c.done[i] {
			continue
		}
		p := producer[n.Input(0)]
		for _, in := range n.Inputs[1:] {
			if q := producer[in]; q != nil && q.OpType != "Constant" && (p == nil || order[q] > order[p]) {
				p = q
			}
		}
		k, ok := chainOf[p]
		if !ok {
			k = len(chains)
			chains = append(chains, []string{p.Label()})
		}
		chains[k] = append(chains[k], n.Label())
		chainOf[n] = k
	}
	return chains
}
