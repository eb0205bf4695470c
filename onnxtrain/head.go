package onnxtrain

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lenetkit/lenetkit/onnx"
)

// ErrNoHead is returned when a graph's scores do not come from a Gemm or
// MatMul whose weights are initializers: there is no last layer to replace.
var ErrNoHead = errors.New("no last dense layer")

// Head is a graph's last dense layer: the node and its weight and bias
// initializers (Bias is "" when it has none).
type Head struct {
	Node         *onnx.Node
	Weight, Bias string
	// In and Out are its input features and classes; OutAxis is the
	// weight's axis of length Out.
	In, Out, OutAxis int
}

// FindHead finds the Gemm or MatMul that computes the graph's scores,
// through the Add of a bias, Identity nodes and a final Softmax.
func FindHead(g *onnx.Graph) (*Head, error) {
	logits, _, err := logitsOf(g)
	if err != nil {
		return nil, err
	}
	prod := g.Producers()
	h := &Head{}
	for p := prod[logits]; p != nil; p = prod[p.Input(0)] {
		switch p.OpType {
		case "Identity", "Reshape", "Flatten":
			continue
		case "Add":
			// The bias: the Add's other input is an initializer.
			for i := range 2 {
				if w := g.Initializers[p.Input(1-i)]; w != nil && prod[p.Input(i)] != nil {
					h.Bias = p.Input(1 - i)
					p = &onnx.Node{Inputs: []string{p.Input(i)}}
					break
				}
			}
			if h.Bias == "" {
				return nil, fmt.Errorf("%w: %s adds no bias initializer", ErrNoHead, p.Describe())
			}
			continue
		case "Gemm", "MatMul":
			return h.fill(g, p)
		}
		return nil, fmt.Errorf("%w: the scores come from %s", ErrNoHead, p.Describe())
	}
	return nil, fmt.Errorf("%w: the scores are the graph's input", ErrNoHead)
}

func (h *Head) fill(g *onnx.Graph, n *onnx.Node) (*Head, error) {
	h.Node, h.Weight = n, n.Input(1)
	w := g.Initializers[h.Weight]
	if w == nil || len(w.Shape) != 2 || !w.DType.IsFloat() {
		return nil, fmt.Errorf("%w: %s's weight %q is not a float matrix initializer (a weight the graph reshapes cannot be replaced)", ErrNoHead, n.Describe(), h.Weight)
	}
	h.OutAxis = 1
	if n.OpType == "Gemm" {
		if tb, err := n.Attrs.Int("transB", 0); err != nil {
			return nil, err
		} else if tb != 0 {
			h.OutAxis = 0
		}
		if c := n.Input(2); c != "" {
			if h.Bias != "" || g.Initializers[c] == nil {
				return nil, fmt.Errorf("%w: %s has two biases", ErrNoHead, n.Describe())
			}
			h.Bias = c
		}
	}
	h.Out, h.In = w.Shape[h.OutAxis], w.Shape[1-h.OutAxis]
	if h.Bias != "" && g.Initializers[h.Bias].Len() != h.Out {
		return nil, fmt.Errorf("%w: %s's bias %q has %d values for %d outputs", ErrNoHead, n.Describe(), h.Bias, g.Initializers[h.Bias].Len(), h.Out)
	}
	return h, nil
}

// ReplaceHead gives m's last dense layer classes outputs, with weights
// drawn as PyTorch's nn.Linear draws them (uniform in +-1/sqrt(in)), for
// training on another label set. The graph's declared output shape
// follows; declared shapes of the values after the layer are dropped.
func ReplaceHead(m *onnx.Model, classes int, seed uint64) (*Head, error) {
	if classes < 2 {
		return nil, fmt.Errorf("onnxtrain: %d classes: a classifier needs at least 2", classes)
	}
	g := m.Graph
	h, err := FindHead(g)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x68656164))
	bound := 1 / math.Sqrt(float64(h.In))
	w := g.Initializers[h.Weight]
	w.Shape[h.OutAxis] = classes
	w.Float = uniform(rng, h.In*classes, bound)
	if h.Bias != "" {
		b := g.Initializers[h.Bias]
		b.Shape[len(b.Shape)-1] = classes
		b.Float = uniform(rng, classes, bound)
	}
	h.Out = classes
	for _, o := range g.Outputs {
		if len(o.Dims) > 0 {
			o.Dims[len(o.Dims)-1], o.Params[len(o.Params)-1] = int64(classes), ""
		}
	}
	for name := range downstream(g, h.Node.Outputs[0]) {
		delete(g.ValueInfo, name)
	}
	return h, nil
}

func uniform(rng *rand.Rand, n int, bound float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32((2*rng.Float64() - 1) * bound)
	}
	return out
}

// downstream is the set of values computed from name.
func downstream(g *onnx.Graph, name string) map[string]bool {
	seen := map[string]bool{name: true}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if seen[in] {
				for _, o := range n.Outputs {
					seen[o] = true
				}
				break
			}
		}
	}
	return seen
}

// Reinit draws every trainable initializer of m afresh as PyTorch
// initialises its modules: Conv and dense weights and biases uniform in
// +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5), and the bias rule),
// BatchNorm's scale 1, shift 0, running mean 0 and variance 1, PRelu's
// slope 0.25.
func Reinit(m *onnx.Model, seed uint64) {
	g := m.Graph
	rng := rand.New(rand.NewPCG(seed, 0x696e6974))
	set := func(name string, f func(i int) float32) {
		if t := g.Initializers[name]; t != nil && t.DType.IsFloat() {
			for i := range t.Float {
				t.Float[i] = f(i)
			}
		}
	}
	draw := func(name string, fanIn int) {
		bound := 1 / math.Sqrt(float64(max(fanIn, 1)))
		set(name, func(int) float32 { return float32((2*rng.Float64() - 1) * bound) })
	}
	prod := g.Producers()
	fans := map[string]int{} // a node's output -> its fan-in, for the Add of a bias
	for _, n := range g.Nodes {
		w := g.Initializers[n.Input(1)]
		switch n.OpType {
		case "Conv", "Gemm", "MatMul":
			if w == nil || len(w.Shape) < 2 {
				continue
			}
			fan := w.Shape[0]
			switch {
			case n.OpType == "Conv":
				fan = size(w.Shape[1:])
			case n.OpType == "Gemm":
				if tb, _ := n.Attrs.Int("transB", 0); tb != 0 {
					fan = w.Shape[1]
				}
			}
			draw(n.Input(1), fan)
			if n.OpType != "MatMul" {
				draw(n.Input(2), fan)
			}
			fans[n.Outputs[0]] = fan
		case "Add":
			for i := range 2 {
				if fan, ok := fans[n.Input(1-i)]; ok && prod[n.Input(1-i)] != nil {
					draw(n.Input(i), fan)
				}
			}
		case "BatchNormalization":
			set(n.Input(1), func(int) float32 { return 1 })
			set(n.Input(2), func(int) float32 { return 0 })
			set(n.Input(3), func(int) float32 { return 0 })
			set(n.Input(4), func(int) float32 { return 1 })
		case "InstanceNormalization", "LayerNormalization":
			set(n.Input(1), func(int) float32 { return 1 })
			set(n.Input(2), func(int) float32 { return 0 })
		case "PRelu":
			set(n.Input(1), func(int) float32 { return 0.25 })
		}
	}
}
