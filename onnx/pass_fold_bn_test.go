package onnx

import (
	"math"
	"slices"
	"testing"
)

func TestFoldConvBatchNorm(t *testing.T) {
	// Two output channels of a 1x1x2x2 kernel; the BatchNorm's channel 1
	// has a negative scale and a mean that the bias partly cancels.
	graph := func(edit func(g *Graph)) *Graph {
		g := &Graph{Initializers: map[string]*Tensor{
			"w":     {DType: Float, Shape: []int{2, 1, 2, 2}, Float: []float32{1, -2, 3, 0.5, 4, 0, -1, 2}},
			"b":     {DType: Float, Shape: []int{2}, Float: []float32{0.25, -3}},
			"gamma": {DType: Float, Shape: []int{2}, Float: []float32{2, -0.5}},
			"beta":  {DType: Float, Shape: []int{2}, Float: []float32{1, 7}},
			"mean":  {DType: Float, Shape: []int{2}, Float: []float32{0.5, -4}},
			"var":   {DType: Float, Shape: []int{2}, Float: []float32{3, 0.0625}},
		}, Inputs: []*Value{{Name: "x"}}, Outputs: []*Value{{Name: "y"}}}
		g.Nodes = []*Node{
			{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"}},
			{Name: "bn", OpType: "BatchNormalization", Inputs: []string{"c", "gamma", "beta", "mean", "var"}, Outputs: []string{"y"},
				Attrs: Attrs{"epsilon": {Type: AttributeProto_FLOAT, Float: 0.001}}},
		}
		if edit != nil {
			edit(g)
		}
		return g
	}
	// want folds the parameters as the backend would apply them.
	want := func(g *Graph, bias []float32) (w, b []float32) {
		gm, bt, mu, v := g.Initializers["gamma"].Float, g.Initializers["beta"].Float, g.Initializers["mean"].Float, g.Initializers["var"].Float
		for c := range 2 {
			s := float64(gm[c]) / math.Sqrt(float64(v[c])+float64(float32(0.001)))
			for _, x := range g.Initializers["w"].Float[4*c : 4*c+4] {
				w = append(w, float32(float64(x)*s))
			}
			b = append(b, float32(float64(bias[c])*s+float64(bt[c])-float64(mu[c])*s))
		}
		return w, b
	}
	for _, c := range []struct {
		name string
		edit func(g *Graph)
		bias []float32 // the Conv's bias, nil: none
	}{
		{"with a bias", nil, []float32{0.25, -3}},
		{"without a bias", func(g *Graph) { g.Nodes[0].Inputs = g.Nodes[0].Inputs[:2]; delete(g.Initializers, "b") }, []float32{0, 0}},
		{"without a bias, empty name", func(g *Graph) { g.Nodes[0].Inputs[2] = ""; delete(g.Initializers, "b") }, []float32{0, 0}},
	} {
		g := graph(c.edit)
		ref := graph(c.edit)
		got := FoldConvBatchNorm(g)
		if len(got) != 1 || !slices.Equal(got[0], []string{"conv", "bn"}) || len(g.Nodes) != 1 {
			t.Fatalf("%s: folded %v, %d nodes left; want conv + bn, one node", c.name, got, len(g.Nodes))
		}
		conv := g.Nodes[0]
		ww, wb := want(ref, c.bias)
		w, b := g.Initializers[conv.Input(1)], g.Initializers[conv.Input(2)]
		if conv.Outputs[0] != "y" || w == nil || b == nil || !slices.Equal(w.Float, ww) || !slices.Equal(b.Float, wb) ||
			!slices.Equal(w.Shape, []int{2, 1, 2, 2}) || !slices.Equal(b.Shape, []int{2}) {
			t.Errorf("%s: conv %v -> %v, weights %v bias %v; want y, %v and %v", c.name, conv.Inputs, conv.Outputs, w, b, ww, wb)
		}
		for _, name := range []string{"w", "b", "gamma", "beta", "mean", "var"} {
			if g.Initializers[name] != nil {
				t.Errorf("%s: initializer %s, read by nothing now, kept", c.name, name)
			}
		}
	}
	for _, c := range []struct {
		name string
		edit func(g *Graph)
	}{
		{"a Conv output read twice", func(g *Graph) {
			g.Nodes = append(g.Nodes, &Node{OpType: "Relu", Inputs: []string{"c"}, Outputs: []string{"r"}})
		}},
		{"a Conv output that is a graph output", func(g *Graph) { g.Outputs = append(g.Outputs, &Value{Name: "c"}) }},
		{"a training BatchNormalization", func(g *Graph) {
			g.Nodes[1].Attrs["training_mode"] = Attr{Type: AttributeProto_INT, Int: 1}
		}},
		{"a BatchNormalization's running mean output", func(g *Graph) { g.Nodes[1].Outputs = []string{"y", "rm"} }},
		{"a per-activation BatchNormalization", func(g *Graph) {
			g.Nodes[1].Attrs["spatial"] = Attr{Type: AttributeProto_INT, Int: 0}
		}},
		{"a mean computed at run time", func(g *Graph) { delete(g.Initializers, "mean") }},
		{"weights computed at run time", func(g *Graph) { delete(g.Initializers, "w") }},
		{"a variance plus epsilon below zero", func(g *Graph) { g.Initializers["var"].Float[1] = -1 }},
		{"a NaN variance", func(g *Graph) { g.Initializers["var"].Float[0] = float32(math.NaN()) }},
		{"an infinite mean", func(g *Graph) { g.Initializers["mean"].Float[0] = float32(math.Inf(1)) }},
		{"parameters of another channel count", func(g *Graph) { g.Initializers["beta"].Float = []float32{1, 2, 3} }},
		{"integer weights", func(g *Graph) { g.Initializers["w"].DType = Int64 }},
		{"a Relu between", func(g *Graph) {
			g.Nodes[1].Inputs[0] = "r"
			g.Nodes = slices.Insert(g.Nodes, 1, &Node{OpType: "Relu", Inputs: []string{"c"}, Outputs: []string{"r"}})
		}},
	} {
		g := graph(c.edit)
		nodes := len(g.Nodes)
		if got := FoldConvBatchNorm(g); len(got) != 0 || len(g.Nodes) != nodes {
			t.Errorf("%s: folded %v", c.name, got)
		}
	}
}

// TestFoldConvBatchNormShared folds each of two Convs that share their
// weights into its own BatchNorm, keeping the shared weights for neither.
func TestFoldConvBatchNormShared(t *testing.T) {
	g := &Graph{Initializers: map[string]*Tensor{
		"w": {DType: Float, Shape: []int{1, 1, 1, 1}, Float: []float32{3}},
		"g": {DType: Float, Shape: []int{1}, Float: []float32{2}},
		"h": {DType: Float, Shape: []int{1}, Float: []float32{4}},
		"z": {DType: Float, Shape: []int{1}, Float: []float32{0}},
		"v": {DType: Float, Shape: []int{1}, Float: []float32{float32(1 - 1e-5)}},
	}, Inputs: []*Value{{Name: "x"}}, Outputs: []*Value{{Name: "y1"}, {Name: "y2"}}}
	g.Nodes = []*Node{
		{OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c1"}},
		{OpType: "BatchNormalization", Inputs: []string{"c1", "g", "z", "z", "v"}, Outputs: []string{"y1"}},
		{OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c2"}},
		{OpType: "BatchNormalization", Inputs: []string{"c2", "h", "z", "z", "v"}, Outputs: []string{"y2"}},
	}
	if got := FoldConvBatchNorm(g); len(got) != 2 || len(g.Nodes) != 2 {
		t.Fatalf("folded %v, %d nodes left", got, len(g.Nodes))
	}
	for i, want := range []float32{6, 12} {
		n := g.Nodes[i]
		w := g.Initializers[n.Input(1)]
		if w == nil || math.Abs(float64(w.Float[0]-want)) > 1e-5 || n.Outputs[0] != []string{"y1", "y2"}[i] {
			t.Errorf("conv %d: weights %v, output %v; want %v", i, w, n.Outputs, want)
		}
	}
	for _, name := range []string{"w", "g", "h", "z", "v"} {
		if g.Initializers[name] != nil {
			t.Errorf("initializer %s kept", name)
		}
	}
	if n := len(g.Initializers); n != 4 {
		t.Errorf("%d initializers, want the 2 weights and 2 biases", n)
	}
}
