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
// of sum(wy * y) with respect to x0 (nil when noXGrad), x1 and x2, how
// many blocks were fused, and how many of those never store the
// convolution's output (whole).
func runBlock(t *testing.T, m *onnx.Model, in [][]float32, wy []float32, fuse, noXGrad bool) (y []float32, grads [][]float32, fused, whole int) {
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
		b.vals[v.Name] = &value{node: n, shape: shape, grad: !(noXGrad && i == 0)}
		if !(noXGrad && i == 0) {
			nodes = append(nodes, n)
		}
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
			if l, ok := o.l.(*seedBlockLayer); ok {
				fused++
				if l.whole != nil {
					whole++
				}
			}
		}
	}
	y = append([]float32(nil), data(out.node.Value())...)
	if noXGrad {
		grads = append(grads, nil)
	}
	for _, n := range gn {
		grads = append(grads, append([]float32(nil), data(n.Value())...))
	}
	return y, grads, fused, whole
}

// TestPlainBlockFusion: Conv 3x3 -> Relu -> MaxPool with no BatchNorm,
// cnn28's and keras2onnx_160's blocks among them, fused where the kernels
// are vectorised (a 14-wide map on a widened one where no tile of 14
// pixels runs both passes; one input channel and no input gradient
// without storing conv(x)), must give the output
// and every gradient of the node-by-node layers within 1e-5 of each one's
// largest magnitude; shapes the kernels do not take must stay node by
// node.
func TestPlainBlockFusion(t *testing.T) {
	pad1 := func() onnx.Attrs { return onnx.Attrs{"pads": aInts(1, 1, 1, 1)} }
	same := func() onnx.Attrs {
		return onnx.Attrs{"auto_pad": {Type: onnx.AttributeProto_STRING, String: "SAME_UPPER"}}
	}
	cases := []struct {
		name                string
		n, in, out, h, w, k int
		conv                func() onnx.Attrs
		noXGrad             bool // as on a graph's input: the block never stores conv(x)
		fused               bool
	}{
		{"cnn28/1", 16, 1, 16, 28, 28, 2, pad1, false, true},
		{"cnn28/1/input", 16, 1, 16, 28, 28, 2, pad1, true, true},
		{"cnn28/2", 16, 16, 32, 14, 14, 2, pad1, false, true},
		{"keras2onnx_160/1", 16, 1, 8, 28, 28, 2, same, false, true},
		{"keras2onnx_160/1/input", 16, 1, 8, 28, 28, 2, same, true, true},
		{"keras2onnx_160/2", 16, 8, 16, 14, 14, 2, same, false, true},
		{"pool4", 3, 16, 16, 8, 8, 4, pad1, false, true},
		{"pool4/input", 3, 1, 16, 8, 8, 4, pad1, true, true},
		{"odd-channels-in", 4, 3, 16, 8, 8, 2, pad1, false, false},
		{"odd-channels-out", 4, 16, 5, 8, 8, 2, pad1, false, false},
		{"no-padding", 4, 16, 16, 10, 10, 2, func() onnx.Attrs { return onnx.Attrs{} }, false, false},
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
			yu, gu, k, _ := runBlock(t, m, in, wy, false, tc.noXGrad)
			if k != 0 {
				t.Fatalf("%d blocks fused node by node", k)
			}
			yf, gf, k, whole := runBlock(t, m, in, wy, true, tc.noXGrad)
			one := map[bool]int{true: 1, false: 0}
			if k != one[tc.fused] || whole != one[tc.fused && tc.noXGrad] {
				t.Fatalf("%d blocks fused, %d whole; want %d and %d", k, whole, one[tc.fused], one[tc.fused && tc.noXGrad])
			}
			closeWithin(t, 1e-5, "y", yf, yu)
			for i, what := range []string{"dx", "dw", "dbias"} {
				if gu[i] != nil || gf[i] != nil {
					closeWithin(t, 1e-5, what, gf[i], gu[i])
				}
			}
		})
	}
}

// TestPlainBlockNets steps cnn28 and keras2onnx_160 fused and node by
// node from the same weights on the same batch: both blocks must be
// fused, the first, on the graph's input, with the convolution's output
// never stored (kernel.ConvBNPool), and the loss and logits agree within
// 1e-5. The gradients are TestPlainBlockFusion's and the PyTorch parity
// test's to check: on a whole network's random batch, two pooled values
// within float32 rounding of each other (one in 50,000 windows here) may
// be won by either, moving a window's gradient by a pixel.
func TestPlainBlockNets(t *testing.T) {
	for _, name := range []string{"cnn28.onnx", "producers/keras2onnx_160.onnx"} {
		t.Run(name, func(t *testing.T) {
			if kernel.KernelName() == "go" {
				t.Skip("no block is fused on the Go kernels")
			}
			fu, err := New(loadFixture(t, name), Options{Batch: 16, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			defer fu.Close()
			un, err := New(loadFixture(t, name), Options{Batch: 16, Seed: 5, NoFusion: true})
			if err != nil {
				t.Fatal(err)
			}
			defer un.Close()
			whole := 0
			for _, n := range fu.eg.AllNodes() {
				if o, ok := n.Op().(*nodeOp); ok {
					if l, ok := o.l.(*seedBlockLayer); ok && l.whole != nil {
						whole++
					}
				}
			}
			if k := fusedLayers(fu); k != 2 || whole != 1 {
				t.Fatalf("%d blocks fused, %d of them whole; want 2 and 1", k, whole)
			}
			rng := rand.New(rand.NewPCG(11, 12))
			x := make([]float32, len(un.x))
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			labels := make([]int64, 16)
			for i := range labels {
				labels[i] = int64(rng.IntN(un.Classes()))
			}
			lf, err := fu.Step(x, labels)
			if err != nil {
				t.Fatal(err)
			}
			lu, err := un.Step(x, labels)
			if err != nil {
				t.Fatal(err)
			}
			closeWithin(t, 1e-5, "loss", []float32{float32(lf)}, []float32{float32(lu)})
			closeWithin(t, 1e-5, "logits", fu.Logits(), un.Logits())
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
				net, x, y := benchNet(b, name, Options{Batch: 128, NoFusion: off})
				defer net.Close()
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
