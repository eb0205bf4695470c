package onnxtrain

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestBatchNormReluMatchesTwoLayers: the fused layer's output, running
// statistics and gradients (of x, scale and bias) are, bit for bit, what
// BatchNorm then Relu give as two layers, in training and eval mode, on
// planes of lengths around the vector kernels' edges and on a NaN input.
func TestBatchNormReluMatchesTwoLayers(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		n, c, hw int
		train    bool
		nan      bool
	}{
		{2, 3, 1, true, false}, {3, 2, 7, true, false}, {4, 8, 784, true, false},
		{2, 5, 33, false, false}, {2, 2, 16, true, true}, {3, 4, 9, false, true},
	} {
		size := tc.n * tc.c * tc.hw
		x, dy := make([]float32, size), make([]float32, size)
		for i := range x {
			x[i], dy[i] = rng.Float32()*4-2, rng.Float32()*2-1
		}
		if tc.nan {
			x[size/2] = float32(math.NaN())
		}
		params := func() [][]float32 {
			p := make([][]float32, 4)
			for i := range p {
				p[i] = make([]float32, tc.c)
				for j := range p[i] {
					p[i][j] = 0.5 + float32(i+j)*0.25
				}
				if i == 1 { // the bias: around 0, so that the Relu cuts some
					for j := range p[i] {
						p[i][j] = 0.1 * float32(j-1)
					}
				}
			}
			return p
		}
		newBN := func(relu bool) *batchNorm {
			train := tc.train
			return &batchNorm{n: tc.n, c: tc.c, hw: tc.hw, eps: 1e-5, momentum: 0.9, train: &train,
				mean: make([]float64, tc.c), invStd: make([]float64, tc.c), relu: relu}
		}
		grads := func() [][]float32 {
			return [][]float32{make([]float32, size), make([]float32, tc.c), make([]float32, tc.c), nil, nil}
		}
		// Two layers.
		p2 := params()
		in2 := append([][]float32{x}, p2...)
		bn, relu := newBN(false), &unary{relu: true}
		z, y2 := make([]float32, size), make([]float32, size)
		bn.forward(z, in2)
		relu.forward(y2, [][]float32{z})
		dz := make([]float32, size)
		relu.backward([][]float32{dz}, dy, y2, [][]float32{z})
		d2 := grads()
		bn.backward(d2, dz, z, in2)
		// One.
		p1 := params()
		in1 := append([][]float32{x}, p1...)
		fused := newBN(true)
		y1 := make([]float32, size)
		fused.forward(y1, in1)
		d1 := grads()
		fused.backward(d1, dy, y1, in1)

		for _, r := range []struct {
			what      string
			got, want []float32
		}{
			{"output", y1, y2}, {"running mean", p1[2], p2[2]}, {"running variance", p1[3], p2[3]},
			{"dx", d1[0], d2[0]}, {"dscale", d1[1], d2[1]}, {"dbias", d1[2], d2[2]},
		} {
			if i := firstDiff(r.got, r.want); i >= 0 {
				t.Fatalf("%+v: %s [%d] = %g, two layers give %g", tc, r.what, i, r.got[i], r.want[i])
			}
		}
		if !tc.nan && !slices.ContainsFunc(y1, func(v float32) bool { return v == 0 }) {
			t.Fatalf("%+v: no output was cut to 0: the test does not reach the mask", tc)
		}
	}
}

// firstDiff is the first index where a and b differ in their bits (any
// NaN matching any other), or -1.
func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i
		}
	}
	return -1
}

// TestBatchNormReluPairs: a pair is a BatchNormalization whose one output
// only a Relu reads; a second reader, a graph output, a node of a seed
// block, or a training-mode BatchNorm's extra outputs leave it unfused.
func TestBatchNormReluPairs(t *testing.T) {
	bn := func(in, out string, extra ...string) *onnx.Node {
		return &onnx.Node{OpType: "BatchNormalization", Inputs: []string{in, "s", "b", "m", "v"}, Outputs: append([]string{out}, extra...)}
	}
	relu := func(in, out string) *onnx.Node {
		return &onnx.Node{OpType: "Relu", Inputs: []string{in}, Outputs: []string{out}}
	}
	outs := func(names ...string) []*onnx.Value {
		var v []*onnx.Value
		for _, n := range names {
			v = append(v, &onnx.Value{Name: n})
		}
		return v
	}
	plain := []*onnx.Node{bn("x", "a"), relu("a", "y")}
	twoReaders := []*onnx.Node{bn("x", "a"), relu("a", "y"), {OpType: "Add", Inputs: []string{"a", "y"}, Outputs: []string{"z"}}}
	tanh := []*onnx.Node{bn("x", "a"), {OpType: "Tanh", Inputs: []string{"a"}, Outputs: []string{"y"}}}
	extra := []*onnx.Node{bn("x", "a", "rm"), relu("a", "y")}
	for _, tc := range []struct {
		name    string
		nodes   []*onnx.Node
		outputs []string
		block   bool
		want    int
	}{
		{"pair", plain, []string{"y"}, false, 1},
		{"two readers", twoReaders, []string{"z"}, false, 0},
		{"output read outside", plain, []string{"y", "a"}, false, 0},
		{"not a Relu", tanh, []string{"y"}, false, 0},
		{"extra outputs", extra, []string{"y"}, false, 0},
		{"in a seed block", plain, []string{"y"}, true, 0},
	} {
		g := &onnx.Graph{Nodes: tc.nodes, Outputs: outs(tc.outputs...)}
		blocks := map[*onnx.Node]*seedBlock{}
		if tc.block {
			blocks[tc.nodes[0]] = &seedBlock{}
		}
		pairs := bnReluPairs(g, blocks)
		got := 0
		for n, p := range pairs {
			if p.bn == n {
				got++
				if p.relu != tc.nodes[1] {
					t.Errorf("%s: paired with %v", tc.name, p.relu.Outputs)
				}
			}
		}
		if got != tc.want {
			t.Errorf("%s: %d pairs, want %d", tc.name, got, tc.want)
		}
	}
}

// TestBatchNormReluFusesInDwbn: dwbn's two BatchNorm+Relu pairs run fused
// (and not with NoFusion), and two steps give the losses, gradients and
// weights, bit for bit, of the graph built node by node.
func TestBatchNormReluFusesInDwbn(t *testing.T) {
	const batch = 4
	nets := make([]*Net, 2)
	for i, off := range []bool{false, true} {
		net, err := New(loadFixture(t, "dwbn.onnx"), Options{Batch: batch, NoFusion: off})
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		fused, relus := 0, 0
		for _, n := range net.eg.AllNodes() {
			if o, ok := n.Op().(*nodeOp); ok {
				if bn, ok := o.l.(*batchNorm); ok && bn.relu {
					fused++
				}
				if u, ok := o.l.(*unary); ok && u.relu {
					relus++
				}
			}
		}
		if want := map[bool][2]int{false: {2, 1}, true: {0, 3}}[off]; fused != want[0] || relus != want[1] {
			t.Fatalf("NoFusion %v: %d fused pairs and %d Relus, want %d and %d", off, fused, relus, want[0], want[1])
		}
		nets[i] = net
	}
	rng := rand.New(rand.NewPCG(13, 14))
	x := make([]float32, len(nets[0].x))
	labels := make([]int64, batch)
	for step := range 2 {
		for i := range x {
			x[i] = rng.Float32()
		}
		for i := range labels {
			labels[i] = int64(rng.IntN(10))
		}
		var loss [2]float64
		for i, net := range nets {
			var err error
			if loss[i], err = net.Step(x, labels); err != nil {
				t.Fatal(err)
			}
		}
		if loss[0] != loss[1] {
			t.Fatalf("step %d: loss %g fused, %g node by node", step, loss[0], loss[1])
		}
		for i, p := range nets[0].Params() {
			q := nets[1].Params()[i]
			for _, c := range []struct {
				what      string
				got, want []float32
			}{{"gradient", nets[0].Grad(i), nets[1].Grad(i)}, {"weight", p.Data, q.Data}} {
				if j := firstDiff(c.got, c.want); j >= 0 {
					t.Fatalf("step %d: %s of %s [%d]: %g fused, %g node by node", step, c.what, p.Name, j, c.got[j], c.want[j])
				}
			}
		}
	}
}
