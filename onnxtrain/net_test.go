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

// TestScoresWithUnitAxis: an MLP of [batch, 1, D] inputs (torch's
// x.view(1, 1, 784) at export) keeps the unit axis to its scores,
// [batch, 1, classes]; it trains on them as [batch, classes]: the loss and
// the weights' gradient are softmax cross-entropy's, computed here.
func TestScoresWithUnitAxis(t *testing.T) {
	const d, classes, batch = 16, 3, 4
	w := make([]float32, d*classes)
	for i := range w {
		w[i] = float32(i%7-3) / 10
	}
	m := &onnx.Model{Opset: 13, Opsets: map[string]int64{"": 13}, Metadata: map[string]string{}, Graph: &onnx.Graph{
		Initializers: map[string]*onnx.Tensor{"w": {Name: "w", DType: onnx.Float, Shape: []int{d, classes}, Float: w}},
		Nodes:        []*onnx.Node{{OpType: "MatMul", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}},
		Inputs:       []*onnx.Value{{Name: "x", DType: onnx.Float, Dims: []int64{-1, 1, d}, Params: []string{"N", "", ""}}},
		Outputs:      []*onnx.Value{{Name: "y", DType: onnx.Float}},
		ValueInfo:    map[string]*onnx.Value{},
	}}
	net, err := New(m, Options{Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	x, y := make([]float32, batch*d), []int64{0, 1, 2, 0}
	for i := range x {
		x[i] = float32(i%5) / 5
	}
	loss, err := net.Step(x, y)
	if err != nil || net.Classes() != classes {
		t.Fatalf("%v, %d classes", err, net.Classes())
	}
	var want float64
	grad := make([]float64, d*classes)
	for b := range batch {
		z := make([]float64, classes)
		for c := range classes {
			for k := range d {
				z[c] += float64(x[b*d+k]) * float64(w[k*classes+c])
			}
		}
		p := softmax64(z)
		want -= math.Log(p[y[b]]) / batch
		for c := range classes {
			g := p[c]
			if int64(c) == y[b] {
				g--
			}
			for k := range d {
				grad[k*classes+c] += float64(x[b*d+k]) * g / batch
			}
		}
	}
	if math.Abs(loss-want) > 1e-5 {
		t.Errorf("loss %v, want %v", loss, want)
	}
	got := net.Grad(0)
	for i := range grad {
		if math.Abs(float64(got[i])-grad[i]) > 1e-5 {
			t.Fatalf("gradient %v, want %v", got, grad)
		}
	}
}

func softmax64(z []float64) []float64 {
	mx := slices.Max(z)
	p := make([]float64, len(z))
	var s float64
	for i, v := range z {
		p[i] = math.Exp(v - mx)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}
