package onnxtrain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// seedExport is lenetkit's own export of the seed's trained network.
func seedExport(t *testing.T) *onnx.Model {
	t.Helper()
	sd, err := convert.ReadPTHStateDict(testtool.Testdata("lenet_trained.pth"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.FromStateDict(sd, onnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fusedLayers counts the seed blocks net runs as one layer.
func fusedLayers(net *Net) int {
	k := 0
	for _, n := range net.eg.AllNodes() {
		if o, ok := n.Op().(*nodeOp); ok {
			if _, ok := o.l.(*seedBlockLayer); ok {
				k++
			}
		}
	}
	return k
}

// TestSeedBlockFusion trains two copies of each graph with the seed's
// blocks, one with the blocks fused and one node by node, for two steps
// with an Adam update between (the same update applied to both, so that
// the comparison is of the layers and not of Adam's amplification of
// rounding in near-zero gradients), in training and in eval mode: the
// loss, logits, every gradient and the running statistics must agree.
func TestSeedBlockFusion(t *testing.T) {
	models := map[string]func(t *testing.T) *onnx.Model{
		"seed_view.onnx": func(t *testing.T) *onnx.Model { return loadFixture(t, "seed_view.onnx") },
		"export":         seedExport,
	}
	for name, load := range models {
		for _, training := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/train=%v", name, training), func(t *testing.T) {
				mf, mu := load(t), load(t)
				fu, un := newPair(t, mf, mu)
				fu.SetTraining(training)
				un.SetTraining(training)
				rng := rand.New(rand.NewPCG(3, 4))
				x := make([]float32, len(un.x))
				labels := make([]int64, un.opts.Batch)
				adam := newTestAdam()
				for step := range 2 {
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
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
					at := fmt.Sprintf("step %d: ", step)
					sameWithin(t, at+"loss", []float32{float32(lf)}, []float32{float32(lu)})
					sameWithin(t, at+"logits", fu.Logits(), un.Logits())
					grads := map[string][]float32{}
					for i, p := range fu.Params() {
						grads[p.Name] = fu.Grad(i)
					}
					var params, ug [][]float32
					for i, p := range un.Params() {
						sameWithin(t, at+"gradient of "+p.Name, grads[p.Name], un.Grad(i))
						params, ug = append(params, p.Data), append(ug, un.Grad(i))
					}
					for _, n := range mu.Graph.Nodes {
						if n.OpType == "BatchNormalization" {
							for _, s := range n.Inputs[3:] {
								sameWithin(t, at+s, mf.Graph.Initializers[s].Float, mu.Graph.Initializers[s].Float)
							}
						}
					}
					adam.step(params, ug)
					for i := range params {
						copy(fu.Params()[i].Data, params[i])
					}
				}
			})
		}
	}
}

// newPair builds mf fused and mu node by node, and checks that the three
// blocks of the seed's network are fused.
func newPair(t *testing.T, mf, mu *onnx.Model) (fused, unfused *Net) {
	t.Helper()
	fu, err := New(mf, Options{Batch: 16, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fu.Close() })
	un, err := New(mu, Options{Batch: 16, Seed: 5, NoFusion: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { un.Close() })
	if k := fusedLayers(fu); k != 3 {
		t.Fatalf("%d seed blocks fused, want 3", k)
	}
	if k := fusedLayers(un); k != 0 {
		t.Fatalf("NoFusion: %d seed blocks fused", k)
	}
	for i, p := range un.Params() {
		if q := fu.Params()[i]; q.Name != p.Name {
			t.Fatalf("parameter %d is %s fused, %s unfused", i, q.Name, p.Name)
		}
	}
	return fu, un
}

// TestSeedBlockPlain: Conv, Relu, MaxPool without a BatchNorm is a block
// with no bn, fused where this CPU's kernels take its shapes (cnn28's
// and Keras's, 14-wide maps widened on AVX2), and never
// under NoFusion.
func TestSeedBlockPlain(t *testing.T) {
	for _, name := range []string{"cnn28.onnx", "producers/keras2onnx_160.onnx"} {
		t.Run(name, func(t *testing.T) {
			m := loadFixture(t, name)
			blocks := map[*seedBlock]bool{}
			for _, b := range seedBlocks(m.Graph) {
				if b.bn != nil {
					t.Fatalf("%s: a BatchNormalization in a graph without one", b.conv.Describe())
				}
				blocks[b] = true
			}
			if len(blocks) != 2 {
				t.Fatalf("%d blocks, want 2", len(blocks))
			}
			want := 2
			if kernel.KernelName() == "go" {
				want = 0 // the Go kernels lose to im2col: node by node
			}
			for _, off := range []bool{false, true} {
				net, err := New(m, Options{Batch: 4, NoFusion: off})
				if err != nil {
					t.Fatal(err)
				}
				defer net.Close()
				if k := fusedLayers(net); k != map[bool]int{false: want, true: 0}[off] {
					t.Fatalf("NoFusion=%v: %d blocks fused", off, k)
				}
			}
		})
	}
}

// sameWithin compares got with want within 1e-4 of want's largest magnitude.
func sameWithin(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= 1e-4*scale) {
			t.Fatalf("%s[%d] = %g, want %g (largest %g)", what, i, got[i], want[i], scale)
		}
	}
}

// testAdam is Adam with PyTorch's defaults and a learning rate of 1e-3
// (package train's imports this one).
type testAdam struct {
	t    int
	m, v [][]float64
}

func newTestAdam() *testAdam { return &testAdam{} }

func (a *testAdam) step(params, grads [][]float32) {
	const lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
	if a.m == nil {
		for _, p := range params {
			a.m, a.v = append(a.m, make([]float64, len(p))), append(a.v, make([]float64, len(p)))
		}
	}
	a.t++
	c1, c2 := 1-math.Pow(b1, float64(a.t)), 1-math.Pow(b2, float64(a.t))
	for i, p := range params {
		for j, g := range grads[i] {
			a.m[i][j] = b1*a.m[i][j] + (1-b1)*float64(g)
			a.v[i][j] = b2*a.v[i][j] + (1-b2)*float64(g)*float64(g)
			p[j] -= float32(lr * a.m[i][j] / c1 / (math.Sqrt(a.v[i][j]/c2) + eps))
		}
	}
}

// BenchmarkSeedBlockFusion times BenchmarkStep's step on seed_view.onnx
// with the seed's blocks fused and node by node.
func BenchmarkSeedBlockFusion(b *testing.B) {
	for _, off := range []bool{false, true} {
		b.Run(fmt.Sprintf("NoFusion=%v", off), func(b *testing.B) {
			net, err := New(loadFixture(b, "seed_view.onnx"), Options{Batch: 128, NoFusion: off})
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
			for range b.N {
				if _, err := net.Step(x, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
