package onnxtrain

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// fixtures are the graphs of testdata/onnx that the training graph must
// build: every producer's form of a small classifier.
var fixtures = []string{
	"lenet5.onnx", "cnn28.onnx", "mlp.onnx", "seed_view.onnx", "seed_reshape.onnx", "seed_softmax.onnx",
	"producers/keras2onnx_151.onnx", "producers/keras2onnx_160.onnx", "producers/tf2onnx.onnx", "producers/cntk_mnist8.onnx",
}

func loadFixture(t testing.TB, name string) *onnx.Model {
	t.Helper()
	m, err := onnx.Load(filepath.Join("..", "testdata", "onnx", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func logSoftmax(row []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(row))
	for i, v := range row {
		out[i] = float64(v) - mx - math.Log(s)
	}
	return out
}

// TestForwardMatchesBackend runs each fixture's training graph in eval mode
// and compares its scores with the inference backend's on the same images:
// two independent implementations of every operator's forward pass.
func TestForwardMatchesBackend(t *testing.T) {
	const batch = 4
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			m := loadFixture(t, name)
			net, err := New(m, Options{Batch: batch, ForwardOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			net.SetTraining(false)
			rng := rand.New(rand.NewPCG(1, 2))
			x := make([]float32, len(net.x))
			for i := range x {
				x[i] = rng.Float32()
			}
			if _, err := net.Step(x, make([]int64, batch)); err != nil {
				t.Fatal(err)
			}
			plan, err := backend.Open(filepath.Join("..", "testdata", "onnx", name))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, batch*plan.Outputs)
			if err := plan.Logits(want, x, batch); err != nil {
				t.Fatal(err)
			}
			got, c := net.Logits(), net.Classes()
			if c != plan.Outputs {
				t.Fatalf("%d classes, backend %d", c, plan.Outputs)
			}
			for i := range batch {
				g := logSoftmax(got[i*c : (i+1)*c])
				w := make([]float64, c)
				if plan.LogProbabilities {
					for j := range w {
						w[j] = float64(want[i*c+j])
					}
				} else {
					w = logSoftmax(want[i*c : (i+1)*c])
				}
				for j := range g {
					if math.Abs(g[j]-w[j]) > 1e-4*(1+math.Abs(w[j])) {
						t.Fatalf("image %d class %d: log-probability %g, backend %g", i, j, g[j], w[j])
					}
				}
			}
		})
	}
}

// TestFirstOutputTrains: a classifier that also outputs a feature map (a
// file made for a visualiser) trains on its first output, the scores, as
// the backend reads it, giving the same scores as without the extra one.
func TestFirstOutputTrains(t *testing.T) {
	const batch = 2
	logits := func(m *onnx.Model) []float32 {
		net, err := New(m, Options{Batch: batch, ForwardOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		net.SetTraining(false)
		x := make([]float32, len(net.x))
		for i := range x {
			x[i] = float32(i%29) / 29
		}
		if _, err := net.Step(x, make([]int64, batch)); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(net.Logits())
	}
	one, two := loadFixture(t, "cnn28.onnx"), loadFixture(t, "cnn28.onnx")
	two.Graph.Outputs = append(two.Graph.Outputs, &onnx.Value{Name: two.Graph.Nodes[0].Outputs[0]})
	if a, b := logits(one), logits(two); !slices.Equal(a, b) || len(a) != batch*10 {
		t.Errorf("scores with one output %v, with a feature map too %v", a, b)
	}
}
