package onnxtrain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/onnx"
)

// plainBlockModel is Conv 3x3 -> Relu -> MaxPool kxk/k on x [n, in, h, w],
// with x, the weights and the bias all graph inputs (x0, x1, x2), so that
// every one of their gradients is taken; conv holds the Conv's padding
// attributes.
func plainBlockModel(n, in, out, h, w, k int, conv onnx.Attrs) *onnx.Model {
	g := &onnx.Graph{Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.Value{}}
	for i, s := range [][]int64{{int64(n), int64(in), int64(h), int64(w)}, {int64(out), int64(in), 3, 3}, {int64(out)}} {
		g.Inputs = append(g.Inputs, &onnx.Value{Name: fmt.Sprintf("x%d", i), DType: onnx.Float, Dims: s})
	}
	conv["kernel_shape"] = aInts(3, 3)
	g.Nodes = []*onnx.Node{
		{Name: "conv", OpType: "Conv", Inputs: []string{"x0", "x1", "x2"}, Outputs: []string{"z"}, Attrs: conv},
		{Name: "relu", OpType: "Relu", Inputs: []string{"z"}, Outputs: []string{"r"}},
		{Name: "pool", OpType: "MaxPool", Inputs: []string{"r"}, Outputs: []string{"y"},
			Attrs: onnx.Attrs{"kernel_shape": aInts(int64(k), int64(k)), "strides": aInts(int64(k), int64(k))}},
	}
	g.Outputs = []*onnx.Value{{Name: "y", DType: onnx.Float}}
	return &onnx.Model{IRVersion: 8, Opset: 13, Graph: g}
}

// runBlock builds m's graph, its blocks fused or node by node, runs it in
// training mode on in (x0, x1, x2), and returns its output, the gradients
// of sum(wy * y) with respect to x0, x1 and x2, and how many blocks were
// fused.
func runBlock(t *testing.T, m *onnx.Model, in [][]float32, wy []float32, fuse bool) (y []float32, grads [][]float32, fused int) {
	t.Helper()
	g := m.Graph
	net := &Net{opts: Options{Batch: int(g.Inputs[0].Dims[0])}, train: true}
	b := &builder{net: net, g: g, opset: m.Opset, eg: G.NewGraph(), vals: map[string]*value{}, trained: map[string]bool{},
		rng: rand.New(rand.NewPCG(1, 2))}
	if fuse {
		b.blocks = seedBlocks(g)
	}
	var nodes G.Nodes
	for i, v := range g.Inputs {
		shape := v.Shape()
		tv := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(in[i]))
		n := G.NewTensor(b.eg, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(v.Name), G.WithValue(tv))
		b.vals[v.Name] = &value{node: n, shape: shape, grad: true}
		nodes = append(nodes, n)
	}
	for _, n := range g.Nodes {
		if err := b.node(n); err != nil {
			t.Fatal(err)
		}
	}
	out := b.vals["y"]
	wn := G.NewTensor(b.eg, tensor.Float32, len(out.shape), G.WithShape(out.shape...), G.WithName("wy"),
		G.WithValue(tensor.New(tensor.WithShape(out.shape...), tensor.WithBacking(wy))))
	p, err := G.HadamardProd(out.node, wn)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := G.Sum(p)
	if err != nil {
		t.Fatal(err)
	}
	gn, err := G.Grad(cost, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(b.eg)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, n := range b.eg.AllNodes() {
		if o, ok := n.Op().(*nodeOp); ok {
			if _, ok := o.l.(*seedBlockLayer); ok {
				fused++
			}
		}
	}
	y = append([]float32(nil), data(out.node.Value())...)
	for _, n := range gn {
		grads = append(grads, append([]float32(nil), data(n.Value())...))
	}
	return y, grads, fused
}

// TestPlainBlockFusion: Conv 3x3 -> Relu -> MaxPool with no BatchNorm,
// cnn28's and keras2onnx_160's blocks among them, fused where the kernels
// are vectorised (the 14-wide maps on a widened one), must give the
// output and every gradient of the node-by-node layers within 1e-5 of
// each one's largest magnitude; shapes the kernels do not take must stay
// node by node.
func TestPlainBlockFusion(t *testing.T) {
	pad1 := func() onnx.Attrs { return onnx.Attrs{"pads": aInts(1, 1, 1, 1)} }
	same := func() onnx.Attrs {
		return onnx.Attrs{"auto_pad": {Type: onnx.AttributeProto_STRING, String: "SAME_UPPER"}}
	}
	cases := []struct {
		name                string
		n, in, out, h, w, k int
		conv                func() onnx.Attrs
		fused               bool
	}{
		{"cnn28/1", 16, 1, 16, 28, 28, 2, pad1, true},
		{"cnn28/2", 16, 16, 32, 14, 14, 2, pad1, true},
		{"keras2onnx_160/1", 16, 1, 8, 28, 28, 2, same, true},
		{"keras2onnx_160/2", 16, 8, 16, 14, 14, 2, same, true},
		{"pool4", 3, 16, 16, 8, 8, 4, pad1, true},
		{"odd-channels-in", 4, 3, 16, 8, 8, 2, pad1, false},
		{"odd-channels-out", 4, 16, 5, 8, 8, 2, pad1, false},
		{"no-padding", 4, 16, 16, 10, 10, 2, func() onnx.Attrs { return onnx.Attrs{} }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fused && !kernelVectorized(tc.in, tc.out, tc.h, tc.w) {
				t.Skip("this CPU's kernels do not take the shape")
			}
			m := plainBlockModel(tc.n, tc.in, tc.out, tc.h, tc.w, tc.k, tc.conv())
			rng := rand.New(rand.NewPCG(uint64(tc.out), uint64(tc.h)))
			draw := func(k int, scale float64) []float32 {
				s := make([]float32, k)
				for i := range s {
					s[i] = float32(rng.NormFloat64() * scale)
				}
				return s
			}
			in := [][]float32{draw(tc.n*tc.in*tc.h*tc.w, 1), draw(tc.out*tc.in*9, 1/math.Sqrt(9*float64(tc.in))), draw(tc.out, 0.1)}
			oh, ow := tc.h/tc.k, tc.w/tc.k
			if tc.name == "no-padding" {
				oh, ow = (tc.h-2)/tc.k, (tc.w-2)/tc.k
			}
			wy := draw(tc.n*tc.out*oh*ow, 1)
			yu, gu, k := runBlock(t, m, in, wy, false)
			if k != 0 {
				t.Fatalf("%d blocks fused node by node", k)
			}
			yf, gf, k := runBlock(t, m, in, wy, true)
			if want := map[bool]int{true: 1, false: 0}[tc.fused]; k != want {
				t.Fatalf("%d blocks fused, want %d", k, want)
			}
			closeWithin(t, 1e-5, "y", yf, yu)
			for i, what := range []string{"dx", "dw", "dbias"} {
				closeWithin(t, 1e-5, what, gf[i], gu[i])
			}
		})
	}
}

// kernelVectorized reports whether the block's kernels run in assembly
// here, on the map or on one widened to a multiple of 16.
func kernelVectorized(in, out, h, w int) bool {
	for _, wd := range []int{w, (w + 15) / 16 * 16} {
		if (kernel.Conv3x3{H: h, W: wd, In: in, Out: out}).Vectorized() {
			return true
		}
	}
	return false
}

// closeWithin compares got with want within tol of want's largest magnitude.
func closeWithin(t *testing.T, tol float64, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	if scale == 0 {
		t.Fatalf("%s: all zero, a test that checks nothing", what)
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*scale) {
			t.Fatalf("%s[%d] = %g, want %g (largest %g)", what, i, got[i], want[i], scale)
		}
	}
}

// BenchmarkPlainBlockFusion times BenchmarkStep's step on the graphs with
// blocks without BatchNorm, fused and node by node, in one run, and
// reports the fastest step too.
func BenchmarkPlainBlockFusion(b *testing.B) {
	for _, name := range []string{"cnn28.onnx", "producers/keras2onnx_160.onnx"} {
		for _, off := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/NoFusion=%v", name, off), func(b *testing.B) {
				net, err := New(loadFixture(b, name), Options{Batch: 128, NoFusion: off})
				if err != nil {
					b.Fatal(err)
				}
				defer net.Close()
				rng := rand.New(rand.NewPCG(1, 2))
				x := make([]float32, len(net.x))
				for i := range x {
					x[i] = rng.Float32()
				}
				y := make([]int64, 128)
				b.ResetTimer()
				// The fastest step, beside the mean: on a machine shared
				// with other work it is the code's own time.
				var fastest time.Duration
				for range b.N {
					start := time.Now()
					if _, err := net.Step(x, y); err != nil {
						b.Fatal(err)
					}
					if d := time.Since(start); fastest == 0 || d < fastest {
						fastest = d
					}
				}
				b.ReportMetric(float64(fastest), "fastest-ns/op")
			})
		}
	}
}
