package onnxtrain

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/internal/gop"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/onnx"
)

// ErrNothingToTrain is returned when every weight is frozen or the graph
// has none.
var ErrNothingToTrain = errors.New("nothing to train")

// Net is an ONNX graph as a Gorgonia training graph with its gradients,
// compiled once into a tape machine and run once per step. Its weights are
// the model's initializers themselves: Step reads them in place, the
// caller's optimiser updates Params()[i].Data in place, and BatchNorm's
// running statistics move in place, so the model the Net was built from
// is, at any time, the trained model, ready to encode.
type Net struct {
	opts    Options
	eg      *G.ExprGraph
	vm      G.VM
	x       []float32
	inShape []int // with the batch dimension
	logits  *G.Node
	ce      *gop.CrossEntropy
	params  []Param
	train   bool // PyTorch's model.train(): batch statistics, dropout on
	rng     *rand.Rand
	src     *rand.PCG // rng's source, for checkpoints and tests
	skipped []string  // the final Softmax and Identity nodes the loss replaces
}

// Param is one trained weight: an initializer of the model.
type Param struct {
	Name  string
	Shape []int
	Data  []float32 // the initializer's own values
	node  *G.Node
	grad  *G.Node
}

// New builds the training graph of m's main graph for batches of
// opts.Batch images. The graph must have one float input whose first
// dimension is the batch, and one output, the logits or their Softmax or
// LogSoftmax, of shape [batch, classes].
func New(m *onnx.Model, opts Options) (*Net, error) {
	g := m.Graph
	if opts.Batch < 1 {
		return nil, fmt.Errorf("onnxtrain: batch size %d", opts.Batch)
	}
	if err := onnx.Unsupported(g, supported); err != nil {
		return nil, err
	}
	net := &Net{opts: opts, train: true, src: rand.NewPCG(opts.Seed, 0x6f6e6e78)}
	net.rng = rand.New(net.src)
	if err := CheckFreeze(m, opts.Freeze); err != nil {
		return nil, err
	}
	trained := trainable(g)
	fz, _, err := frozen(trained, opts.Freeze)
	if err != nil {
		return nil, err
	}
	for name := range fz {
		delete(trained, name)
	}
	b := &builder{net: net, g: g, opset: m.Opset, eg: G.NewGraph(), vals: map[string]*value{}, trained: trained, rng: net.rng}
	net.eg = b.eg
	if !opts.NoFusion {
		b.blocks = seedBlocks(g)
	}
	if err := net.addInput(b); err != nil {
		return nil, err
	}
	logits, skip, err := logitsOf(g)
	if err != nil {
		return nil, err
	}
	need := ancestors(g, logits)
	for _, n := range g.Nodes {
		if !need[n] {
			continue
		}
		if err := b.node(n); err != nil {
			return nil, fmt.Errorf("onnxtrain: %w", err)
		}
	}
	for _, n := range skip {
		net.skipped = append(net.skipped, n.Describe())
	}
	return net, net.finish(b, logits)
}

func names(set map[string]bool) string {
	s := make([]string, 0, len(set))
	for k := range set {
		s = append(s, k)
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

func (net *Net) addInput(b *builder) error {
	if len(b.g.Inputs) != 1 {
		return fmt.Errorf("onnxtrain: the graph has %d inputs; training needs one, the images", len(b.g.Inputs))
	}
	in := b.g.Inputs[0]
	if in.DType != 0 && in.DType != onnx.Float {
		return fmt.Errorf("onnxtrain: input %q is %v; training needs float images", in.Name, in.DType)
	}
	shape := in.Shape()
	if len(shape) < 2 {
		return fmt.Errorf("onnxtrain: input %q has shape %v; training needs [batch, ...]", in.Name, in)
	}
	shape[0] = net.opts.Batch
	for i, d := range shape[1:] {
		if d <= 0 {
			return fmt.Errorf("onnxtrain: input %q has shape %v: dimension %d is not a number; training needs a fixed image size", in.Name, in, i+1)
		}
	}
	net.inShape = shape
	net.x = make([]float32, size(shape))
	xv := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(net.x))
	b.vals[in.Name] = &value{node: G.NewTensor(b.eg, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(in.Name), G.WithValue(xv)), shape: shape}
	return nil
}

// logitsOf finds the value the loss reads: the graph's first output, as
// the backend reads a classifier's (further ones, feature maps a file
// exposes, are left out of training), through Identity nodes and a final
// Softmax or LogSoftmax, which it also returns.
func logitsOf(g *onnx.Graph) (string, []*onnx.Node, error) {
	if len(g.Outputs) == 0 {
		return "", nil, fmt.Errorf("onnxtrain: the graph has no output; training needs one, the class scores")
	}
	prod := g.Producers()
	name := g.Outputs[0].Name
	var skip []*onnx.Node
	for {
		p := prod[name]
		if p == nil || p.Domain != "" {
			return name, skip, nil
		}
		switch p.OpType {
		case "Identity":
		case "Softmax", "LogSoftmax":
			return p.Input(0), append(skip, p), nil
		default:
			return name, skip, nil
		}
		skip = append(skip, p)
		name = p.Input(0)
	}
}

// ancestors are the nodes the value name depends on.
func ancestors(g *onnx.Graph, name string) map[*onnx.Node]bool {
	prod := g.Producers()
	seen := map[*onnx.Node]bool{}
	stack := []string{name}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p := prod[v]
		if p == nil || seen[p] {
			continue
		}
		seen[p] = true
		stack = append(stack, p.Inputs...)
	}
	return seen
}

func (net *Net) finish(b *builder, logits string) error {
	v := b.vals[logits]
	if v == nil || v.node == nil {
		return fmt.Errorf("onnxtrain: the class scores %q are a constant", logits)
	}
	if len(v.shape) > 2 && v.shape[0] == net.opts.Batch && size(v.shape[1:len(v.shape)-1]) == 1 {
		// [batch, 1, classes]: an MLP of [batch, 1, 784] inputs (torch's
		// x.view(1, 1, 784)) keeps the axis to its scores.
		shape := []int{v.shape[0], v.shape[len(v.shape)-1]}
		op := newNodeOp(logits+"_scores", reshape{}, [][]int{v.shape}, shape, []bool{v.grad && !net.opts.ForwardOnly})
		op.aliasInput(v.node)
		y, err := apply(op, v.node)
		if err != nil {
			return err
		}
		v = &value{node: y, shape: shape, grad: v.grad}
	}
	if len(v.shape) != 2 || v.shape[0] != net.opts.Batch {
		return fmt.Errorf("onnxtrain: the class scores %q have shape %v; training needs [batch, classes]", logits, v.shape)
	}
	net.logits = v.node
	classes := v.shape[1]
	net.ce = gop.NewCrossEntropy(net.opts.Batch, classes)
	cost, err := apply(net.ce, v.node)
	if err != nil {
		return err
	}
	if !net.opts.ForwardOnly {
		if len(net.params) == 0 {
			return fmt.Errorf("onnxtrain: %w: every weight is frozen or the graph has none", ErrNothingToTrain)
		}
		nodes := make(G.Nodes, len(net.params))
		for i, p := range net.params {
			nodes[i] = p.node
		}
		grads, err := G.Grad(cost, nodes...)
		if err != nil {
			return fmt.Errorf("onnxtrain: differentiate: %w", err)
		}
		for i := range net.params {
			net.params[i].grad = grads[i]
		}
	}
	net.vm = G.NewTapeMachine(b.eg)
	return nil
}

// Step runs one batch: x holds the batch's inputs in the graph's input
// layout, labels their classes. It returns the mean cross-entropy of the
// logits; the gradients are then in Grad (unless the Net is ForwardOnly)
// and, in training mode, BatchNorm's running statistics have moved.
func (net *Net) Step(x []float32, labels []int64) (float64, error) {
	if len(x) != len(net.x) || len(labels) != net.opts.Batch {
		return 0, fmt.Errorf("onnxtrain: %d inputs and %d labels for a batch of %d of shape %v", len(x), len(labels), net.opts.Batch, net.inShape[1:])
	}
	for _, l := range labels {
		if l < 0 || int(l) >= net.ce.Classes {
			return 0, fmt.Errorf("onnxtrain: label %d outside the graph's %d classes", l, net.ce.Classes)
		}
	}
	copyParallel(net.x, x)
	copy(net.ce.Labels, labels)
	defer net.vm.Reset()
	if err := net.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("onnxtrain: run graph: %w", err)
	}
	return net.ce.Loss(), nil
}

// copyParallel copies src into dst split between the CPUs, where it is
// long enough to pay: a batch of images (Keras's: 400 KB) would otherwise
// be copied on one CPU while the others wait, and each CPU's share is
// then in its cache for the first layer, which splits the batch the same
// way.
func copyParallel(dst, src []float32) {
	const block = 1 << 14 // floats
	n := min(len(dst), len(src))
	if n < 2*block {
		copy(dst, src)
		return
	}
	kernel.Parallel((n+block-1)/block, func(_, lo, hi int) {
		copy(dst[lo*block:min(hi*block, n)], src[lo*block:min(hi*block, n)])
	})
}

// SetTraining is PyTorch's model.train() (true, the default) or
// model.eval() (false): BatchNorm normalises with its running statistics
// and stops updating them, Dropout passes its input through.
func (net *Net) SetTraining(on bool) { net.train = on }

// Params are the trained weights, in the order the graph first reads them.
func (net *Net) Params() []Param { return net.params }

// Grad is the last Step's gradient of the loss with respect to Params()[i].
func (net *Net) Grad(i int) []float32 { return data(net.params[i].grad.Value()) }

// Logits are the last Step's [batch][classes] scores.
func (net *Net) Logits() []float32 { return data(net.logits.Value()) }

// Classes is the number of classes the graph scores.
func (net *Net) Classes() int { return net.ce.Classes }

// InputShape is the shape of one batch, the batch dimension first.
func (net *Net) InputShape() []int { return slices.Clone(net.inShape) }

// Skipped names the final Softmax (or LogSoftmax) and Identity nodes the
// loss reads past: the scores before them are the logits.
func (net *Net) Skipped() []string { return net.skipped }

// Close releases the tape machine.
func (net *Net) Close() error { return net.vm.Close() }
