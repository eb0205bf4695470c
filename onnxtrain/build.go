package onnxtrain

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/onnx"
)

// ErrNoGradient is what errors.Is matches when a node without a gradient
// (ArgMax, a Shape computation) lies between a weight and the loss.
var ErrNoGradient = errors.New("no gradient")

// Options says how to build the training graph.
type Options struct {
	// Batch is the number of images per step; BatchNorm in training mode
	// needs at least 2.
	Batch int
	// Freeze holds initializer-name patterns (path.Match syntax: * and ?)
	// whose weights stay fixed.
	Freeze []string
	// Seed seeds Dropout's masks.
	Seed uint64
	// ForwardOnly builds no gradients: an evaluation graph.
	ForwardOnly bool
	// NoFusion builds every node as its own layer, the seed's conv blocks
	// (fuse.go) and BatchNorm+Relu pairs (bnrelu.go) too: for comparisons.
	NoFusion bool
}

// value is an ONNX value while the graph is built: a Gorgonia node with
// its static shape, or a constant known at build time.
type value struct {
	node  *G.Node
	shape []int
	konst *onnx.Tensor
	grad  bool // depends on a trained weight: its gradient is needed
}

// builder turns one onnx.Graph into one Gorgonia graph.
type builder struct {
	net     *Net
	g       *onnx.Graph
	opset   int64
	eg      *G.ExprGraph
	vals    map[string]*value
	trained map[string]bool // initializers the optimiser updates
	rng     *rand.Rand
	blocks  map[*onnx.Node]*seedBlock  // built as one layer each (fuse.go)
	bnRelus map[*onnx.Node]*bnReluPair // built as one layer each (bnrelu.go)
	consts  int                        // constants materialized so far, which names them
}

// fixedBatch is the batch the graph's image input declares, when it is a
// number rather than a name: an export without a dynamic batch axis.
func (b *builder) fixedBatch() int64 {
	if len(b.g.Inputs) == 0 || len(b.g.Inputs[0].Dims) == 0 {
		return 0
	}
	return b.g.Inputs[0].Dims[0]
}

// family builds the layer for one node from its inputs, and says the
// output's shape. A nil layer with a nil error means the node passes its
// first input through (Identity).
type family func(b *builder, n *onnx.Node, in []*value) (layer, []int, error)

var families = map[string]family{}

func register(f family, ops ...string) {
	for _, op := range ops {
		families[op] = f
	}
}

func supported(domain, op string) bool {
	if domain != "" {
		return false
	}
	_, ok := families[op]
	_, k := constants[op]
	// An operator without a gradient is read, so that one on a weight's
	// path is refused by name (node) rather than as unsupported.
	_, ng := noGradient[op]
	return ok || k || ng
}

// trainable marks the initializers a PyTorch module would hold as
// parameters: the weights and biases of Conv, Gemm, MatMul (and the Add
// after one), the norms' scale and shift, PRelu's slope.
func trainable(g *onnx.Graph) map[string]bool {
	prod := g.Producers()
	t := map[string]bool{}
	mark := func(name string) {
		// CNTK reshapes its weights in the graph: look through that.
		for p := prod[name]; p != nil && reshapes[p.OpType]; p = prod[name] {
			name = p.Input(0)
		}
		if w := g.Initializers[name]; w != nil && w.DType.IsFloat() {
			t[name] = true
		}
	}
	for _, n := range g.Nodes {
		switch n.OpType {
		case "Conv", "Gemm":
			mark(n.Input(1))
			mark(n.Input(2))
		case "MatMul":
			mark(n.Input(1))
		case "BatchNormalization", "InstanceNormalization", "LayerNormalization":
			mark(n.Input(1))
			mark(n.Input(2))
		case "PRelu":
			mark(n.Input(1))
		case "Add":
			for i := range 2 {
				if p := prod[n.Input(1-i)]; p != nil && (p.OpType == "MatMul" || p.OpType == "Gemm" || p.OpType == "Conv") {
					mark(n.Input(i))
				}
			}
		}
	}
	return t
}

// reshapes are the operators a weight may pass through on its way to the
// node that uses it.
var reshapes = map[string]bool{"Reshape": true, "Identity": true, "Flatten": true, "Squeeze": true, "Unsqueeze": true, "Transpose": true}

// frozen returns the trainable initializers a set of patterns matches,
// and the patterns that match none (a typo the caller should report). In a
// pattern * matches any run of characters, / included (Keras names its
// weights conv2d/kernel:0), and ? one; a pattern also matches the names it
// is a prefix of before a dot or a slash: conv1 freezes conv1.weight.
func frozen(t map[string]bool, patterns []string) (map[string]bool, []string, error) {
	f := map[string]bool{}
	var unmatched []string
	for _, p := range patterns {
		re, err := glob(p)
		if err != nil {
			return nil, nil, err
		}
		hit := false
		for name := range t {
			if re.MatchString(name) || strings.HasPrefix(name, p+".") || strings.HasPrefix(name, p+"/") {
				f[name], hit = true, true
			}
		}
		if !hit {
			unmatched = append(unmatched, p)
		}
	}
	return f, unmatched, nil
}

func glob(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, fmt.Errorf("an empty freeze pattern")
	}
	q := regexp.QuoteMeta(p)
	q = strings.ReplaceAll(strings.ReplaceAll(q, `\*`, ".*"), `\?`, ".")
	return regexp.Compile("^" + q + "$")
}

// CheckFreeze reports, before any work, freeze patterns that match no
// trainable initializer of m, naming those there are.
func CheckFreeze(m *onnx.Model, patterns []string) error {
	t := trainable(m.Graph)
	_, unmatched, err := frozen(t, patterns)
	if err != nil {
		return err
	}
	if len(unmatched) > 0 {
		return fmt.Errorf("--freeze %s matches no trainable initializer (they are: %s)", strings.Join(unmatched, ","), names(t))
	}
	return nil
}

func (b *builder) input(name string) (*value, error) {
	if name == "" {
		return nil, nil
	}
	if v := b.vals[name]; v != nil {
		return v, nil
	}
	t := b.g.Initializers[name]
	if t == nil {
		return nil, fmt.Errorf("value %q is used before any node produces it", name)
	}
	v := &value{shape: t.Shape, konst: t}
	if t.DType.IsFloat() {
		shape := t.Shape
		if len(shape) == 0 {
			shape = []int{1}
		}
		tv := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(t.Float))
		v.node = G.NewTensor(b.eg, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(tv))
		v.shape = shape
		if b.trained[name] {
			v.grad = true
			v.konst = nil
			b.net.params = append(b.net.params, Param{Name: name, Shape: slices.Clone(t.Shape), Data: t.Float, node: v.node})
		}
	}
	b.vals[name] = v
	return v, nil
}

// node adds one ONNX node to the Gorgonia graph.
func (b *builder) node(n *onnx.Node) error {
	if done, err := b.fused(n); done || err != nil {
		return err
	}
	if b.bnRelus == nil {
		b.bnRelus = map[*onnx.Node]*bnReluPair{}
		if !b.net.opts.NoFusion {
			b.bnRelus = bnReluPairs(b.g, b.blocks)
		}
	}
	pair := b.bnRelus[n]
	if pair != nil && pair.relu == n && pair.fused {
		return nil // its BatchNormalization wrote its output
	}
	out := n.Outputs[0]
	in := make([]*value, len(n.Inputs))
	allConst := true
	for i, name := range n.Inputs {
		v, err := b.input(name)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Describe(), err)
		}
		in[i] = v
		if v != nil && v.konst == nil {
			allConst = false
		}
	}
	if eval, ok := constants[n.OpType]; ok && (allConst || shapeOnly[n.OpType]) {
		outs, err := eval(b, n, in)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Describe(), err)
		}
		for i, t := range outs {
			b.vals[n.Outputs[i]] = &value{shape: t.Shape, konst: t}
		}
		return nil
	}
	f, ok := families[n.OpType]
	if !ok {
		for _, v := range in {
			if v != nil && v.grad {
				why := noGradient[n.OpType]
				if why == "" {
					why = "lenetkit has none for it"
				}
				return fmt.Errorf("%s: %w for operator %s (%s): lenetkit cannot train through it; freeze the weights before it (--freeze) or train another graph", n.Describe(), ErrNoGradient, n.OpType, why)
			}
		}
		return fmt.Errorf("%s: %w: its inputs are not constants", n.Describe(), onnx.ErrUnsupported)
	}
	for i, v := range in {
		if v == nil && i == 0 {
			return fmt.Errorf("%s: its first input is absent", n.Describe())
		}
		if v != nil && v.node == nil && !(v.konst != nil && !v.konst.DType.IsFloat()) && i == 0 {
			return fmt.Errorf("%s: input %q is an integer tensor, not a float one", n.Describe(), n.Inputs[i])
		}
	}
	for _, v := range in {
		if v != nil && v.node == nil && v.konst != nil && v.konst.DType.IsFloat() {
			b.materialize(v)
		}
	}
	if pair != nil && pair.bn == n {
		f, out = buildBatchNormRelu, pair.relu.Outputs[0]
	}
	l, shape, err := f(b, n, in)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Describe(), err)
	}
	if l == nil {
		b.vals[n.Outputs[0]] = in[0]
		return nil
	}
	var nodes G.Nodes
	var shapes [][]int
	var need []bool
	grad := false
	for _, v := range in {
		if v == nil || v.node == nil {
			continue // integer inputs (shapes, axes), read by the family at build time
		}
		nodes = append(nodes, v.node)
		shapes = append(shapes, v.shape)
		need = append(need, v.grad && !b.net.opts.ForwardOnly)
		grad = grad || v.grad
	}
	op := newNodeOp(n.Label(), l, shapes, shape, need)
	if _, ok := l.(reshape); ok && len(nodes) == 1 {
		op.aliasInput(nodes[0])
	}
	y, err := apply(op, nodes...)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Describe(), err)
	}
	b.vals[out] = &value{node: y, shape: shape, grad: grad}
	if pair != nil && pair.bn == n {
		pair.fused = true
	}
	return nil
}

// materialize gives a float constant computed at build time a node.
func (b *builder) materialize(v *value) {
	shape := v.shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	tv := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v.konst.Float))
	// A name of its own: Gorgonia's graph keeps one node per name, type
	// and shape, so two nameless constants of one shape (a Pow's exponent
	// and an Add's epsilon) would be one node, holding the first's value.
	b.consts++
	v.node = G.NewTensor(b.eg, tensor.Float32, len(shape), G.WithShape(shape...), G.WithValue(tv), G.WithName(fmt.Sprintf("onnxtrain constant %d", b.consts)))
	v.shape = shape
}
