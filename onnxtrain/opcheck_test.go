package onnxtrain

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// The harness of the operator tests: one ONNX graph (a node, or a node
// test's graph) built by the builder with every float input a computed
// value whose gradient is wanted, and every other input a constant, run
// forward, and differentiated through a loss sum(w * y) over its outputs.

// arg is one input of a node under test: a computed float tensor of the
// shape given, a constant, or absent (neither).
type arg struct {
	shape []int
	k     *onnx.Tensor
}

func x(shape ...int) arg { return arg{shape: shape} }

func ints(v ...int64) arg {
	return arg{k: &onnx.Tensor{DType: onnx.Int64, Shape: []int{len(v)}, Int: v}}
}

func floats(shape []int, v ...float32) arg {
	return arg{k: &onnx.Tensor{DType: onnx.Float, Shape: shape, Float: v}}
}

var absent = arg{}

func aInt(v int64) onnx.Attr           { return onnx.Attr{Type: onnx.AttributeProto_INT, Int: v} }
func aInts(v ...int64) onnx.Attr       { return onnx.Attr{Type: onnx.AttributeProto_INTS, Ints: v} }
func aFloat(v float32) onnx.Attr       { return onnx.Attr{Type: onnx.AttributeProto_FLOAT, Float: v} }
func aTensor(t *onnx.Tensor) onnx.Attr { return onnx.Attr{Type: onnx.AttributeProto_TENSOR, Tensor: t} }

// nodeModel is a model of one node whose computed inputs are the graph's
// inputs x0, x1, ... and constants its initializers k0, k1, ...
func nodeModel(opset int64, op string, attrs onnx.Attrs, args []arg, outs int) *onnx.Model {
	g := &onnx.Graph{Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.Value{}}
	n := &onnx.Node{Name: "n", OpType: op, Attrs: attrs}
	for i, a := range args {
		name := ""
		switch {
		case a.shape != nil:
			name = fmt.Sprintf("x%d", i)
			dims := make([]int64, len(a.shape))
			for d, v := range a.shape {
				dims[d] = int64(v)
			}
			g.Inputs = append(g.Inputs, &onnx.Value{Name: name, DType: onnx.Float, Dims: dims})
		case a.k != nil:
			name = fmt.Sprintf("k%d", i)
			g.Initializers[name] = a.k
		}
		n.Inputs = append(n.Inputs, name)
	}
	for k := range outs {
		name := fmt.Sprintf("y%d", k)
		n.Outputs = append(n.Outputs, name)
		g.Outputs = append(g.Outputs, &onnx.Value{Name: name, DType: onnx.Float})
	}
	g.Nodes = []*onnx.Node{n}
	return &onnx.Model{IRVersion: 8, Opset: opset, Graph: g}
}

// harness is a graph built for a test: its computed inputs, outputs, the
// gradient of the loss with respect to each input, and its machine.
type harness struct {
	ins   [][]float32 // the computed inputs' values, in graph input order
	outs  []*value
	w     [][]float32 // the loss's weights, one per output
	grads G.Nodes
	vm    G.VM
}

// build builds m's graph with its float inputs set to in (computed
// values) and its integer inputs to the constants given. grad says
// whether to differentiate the loss.
func build(m *onnx.Model, in map[string][]float32, consts map[string]*onnx.Tensor, grad bool) (*harness, error) {
	g := *m.Graph
	g.Initializers = maps.Clone(m.Graph.Initializers)
	if g.Initializers == nil {
		g.Initializers = map[string]*onnx.Tensor{}
	}
	for name, k := range consts {
		g.Initializers[name] = k
	}
	// Eval mode: BatchNormalization with its running statistics, as the
	// backend and ONNX's tests compute it.
	net := &Net{opts: Options{Batch: 1, ForwardOnly: !grad}}
	b := &builder{net: net, g: &g, opset: m.Opset, eg: G.NewGraph(), vals: map[string]*value{}, trained: map[string]bool{},
		rng: rand.New(rand.NewPCG(1, 2))}
	h := &harness{}
	var nodes G.Nodes
	for _, v := range g.Inputs {
		if consts[v.Name] != nil {
			continue
		}
		data, shape := in[v.Name], v.Shape()
		if len(shape) == 0 {
			shape = []int{1}
		}
		tv := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
		n := G.NewTensor(b.eg, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(v.Name), G.WithValue(tv))
		b.vals[v.Name] = &value{node: n, shape: shape, grad: true}
		h.ins, nodes = append(h.ins, data), append(nodes, n)
	}
	for _, n := range g.Nodes {
		if err := b.node(n); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	var cost *G.Node
	for _, o := range g.Outputs {
		v := b.vals[o.Name]
		if v == nil {
			return nil, fmt.Errorf("output %q was not computed", o.Name)
		}
		h.outs = append(h.outs, v)
		if v.node == nil || !grad {
			h.w = append(h.w, nil)
			continue
		}
		w := make([]float32, size(v.shape))
		for i := range w {
			w[i] = rng.Float32()*2 - 1
		}
		h.w = append(h.w, w)
		// Named, or Gorgonia would merge weights of one shape into one node.
		wn := G.NewTensor(b.eg, tensor.Float32, len(v.shape), G.WithShape(v.shape...), G.WithName("w."+o.Name),
			G.WithValue(tensor.New(tensor.WithShape(v.shape...), tensor.WithBacking(w))))
		p, err := G.HadamardProd(v.node, wn)
		if err != nil {
			return nil, err
		}
		s, err := G.Sum(p)
		if err != nil {
			return nil, err
		}
		if cost == nil {
			cost = s
		} else if cost, err = G.Add(cost, s); err != nil {
			return nil, err
		}
	}
	if grad && cost != nil {
		var err error
		if h.grads, err = G.Grad(cost, nodes...); err != nil {
			return nil, err
		}
	}
	if len(b.eg.AllNodes()) > 0 { // a graph of constants has none to run
		h.vm = G.NewTapeMachine(b.eg)
	}
	return h, nil
}

func (h *harness) close() {
	if h.vm != nil {
		h.vm.Close()
	}
}

func (h *harness) run() error {
	if h.vm == nil {
		return nil
	}
	defer h.vm.Reset()
	return h.vm.RunAll()
}

// output k's values after run: a node's or a constant's.
func (h *harness) output(k int) []float32 {
	if v := h.outs[k]; v.node != nil {
		return data(v.node.Value())
	}
	return h.outs[k].konst.Floats()
}

// objective is sum(w * y) over the outputs, in float64.
func (h *harness) objective() (float64, error) {
	if err := h.run(); err != nil {
		return 0, err
	}
	var s float64
	for k, w := range h.w {
		for i, y := range h.output(k) {
			if w != nil {
				s += float64(w[i]) * float64(y)
			}
		}
	}
	return s, nil
}

// checkGradients compares the gradient of every computed input with
// central differences of the objective, element by element.
func (h *harness) checkGradients(t *testing.T, tol float64) {
	t.Helper()
	if _, err := h.objective(); err != nil {
		t.Fatal(err)
	}
	grads := make([][]float32, len(h.grads))
	for i, g := range h.grads {
		grads[i] = slices.Clone(data(g.Value()))
	}
	const step = 1e-3
	for i, in := range h.ins {
		for j := range in {
			old := in[j]
			in[j] = old + step
			up, err := h.objective()
			if err != nil {
				t.Fatal(err)
			}
			in[j] = old - step
			down, _ := h.objective()
			in[j] = old
			fd := (up - down) / (2 * step)
			if g := float64(grads[i][j]); math.Abs(g-fd) > tol*(1+math.Abs(fd)) || math.IsNaN(g) {
				t.Errorf("input %d [%d] = %g: gradient %g, finite difference %g", i, j, old, g, fd)
			}
		}
	}
}

// backendOutputs runs m through the inference backend's plan of whole
// tensors on the computed inputs in.
func backendOutputs(t *testing.T, m *onnx.Model, in map[string][]float32) ([][]float32, error) {
	t.Helper()
	p, err := onnx.Encode(m)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := onnx.Write(path, p); err != nil {
		return nil, err
	}
	shapes := map[string][]int{}
	var vals [][]float32
	for _, v := range m.Graph.Inputs {
		shapes[v.Name] = v.Shape()
		vals = append(vals, in[v.Name])
	}
	plan, err := backend.OpenOptions(path, backend.Options{Shapes: shapes})
	if err != nil {
		return nil, err
	}
	return plan.Run(vals)
}

// close reports whether got is want within ONNX's node-test tolerances
// (rtol 1e-3, atol 1e-7) or the tighter tol relative to 1 + |want|.
func closeTo(got, want float32, rtol, atol float64) bool {
	g, w := float64(got), float64(want)
	if math.IsNaN(w) {
		return math.IsNaN(g)
	}
	if math.IsInf(w, 0) {
		return g == w
	}
	return math.Abs(g-w) <= atol+rtol*math.Abs(w)
}

// TestConstantsOfOneShapeStayApart: two Constant nodes of one shape (an
// exponent 2 and an epsilon, as ONNX's MeanVarianceNormalization expands)
// are two values in the training graph: y = x^2 + 0.25.
func TestConstantsOfOneShapeStayApart(t *testing.T) {
	scalar := func(v float32) onnx.Attrs {
		return onnx.Attrs{"value": aTensor(&onnx.Tensor{DType: onnx.Float, Shape: []int{}, Float: []float32{v}})}
	}
	g := &onnx.Graph{Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.Value{},
		Inputs:  []*onnx.Value{{Name: "x", DType: onnx.Float, Dims: []int64{2, 3}}},
		Outputs: []*onnx.Value{{Name: "y", DType: onnx.Float}},
		Nodes: []*onnx.Node{
			{Name: "two", OpType: "Constant", Outputs: []string{"two"}, Attrs: scalar(2)},
			{Name: "eps", OpType: "Constant", Outputs: []string{"eps"}, Attrs: scalar(0.25)},
			{Name: "sq", OpType: "Pow", Inputs: []string{"x", "two"}, Outputs: []string{"sq"}},
			{Name: "y", OpType: "Add", Inputs: []string{"sq", "eps"}, Outputs: []string{"y"}},
		}}
	x := []float32{-2, -1, 0, 0.5, 1, 3}
	h, err := build(&onnx.Model{IRVersion: 8, Opset: 13, Graph: g}, map[string][]float32{"x": x}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	if err := h.run(); err != nil {
		t.Fatal(err)
	}
	for i, got := range h.output(0) {
		if want := x[i]*x[i] + 0.25; got != want {
			t.Errorf("y[%d] = %v, want %v", i, got, want)
		}
	}
	h.checkGradients(t, 1e-2)
}
