package quantize

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// quantizeSeed quantizes the seed's float graph (torch's names) with
// MinMax over MNIST training images 0..255, as testdata/quant's QDQ files
// were.
func quantizeSeed(t *testing.T, opt Options) (*onnx.Model, *Summary) {
	t.Helper()
	m := seedFloat(t)
	p, err := NewPlan(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Calibrate(context.Background(), m, p.Tensors(), mnistImages{realMNIST(t, "train"), 256}, Calibration{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, sum, err := p.Apply(r)
	if err != nil {
		t.Fatal(err)
	}
	return q, sum
}

// TestSeedQDQMatchesFixtures quantizes the seed's LeNet as
// reference/quant_fixtures.py did with ONNX Runtime's rules and compares
// the result with its files: the same nodes in the same order, with the
// same inputs, outputs and names; the same initializers, of the same
// types and shapes; the same int8 weights; scales within float32's
// rounding of ONNX Runtime's ranges (its float graph's activations differ
// from lenetkit's in the last bits), zero points and int32 biases within
// one step.
func TestSeedQDQMatchesFixtures(t *testing.T) {
	for _, tc := range []struct {
		file string
		opt  Options
	}{{"seed_qdq_channel.onnx", Options{}}, {"seed_qdq_tensor.onnx", Options{PerTensor: true}}} {
		t.Run(tc.file, func(t *testing.T) {
			got, _ := quantizeSeed(t, tc.opt)
			want, err := onnx.Load(testtool.Testdata("quant/" + tc.file))
			if err != nil {
				t.Fatal(err)
			}
			compareQDQ(t, got, want)
		})
	}
}

func compareQDQ(t *testing.T, got, want *onnx.Model) {
	t.Helper()
	if got.Opset != want.Opset {
		t.Errorf("opset %d, want %d", got.Opset, want.Opset)
	}
	gn, wn := got.Graph.Nodes, want.Graph.Nodes
	if len(gn) != len(wn) {
		t.Fatalf("%d nodes, want %d:\n%s\nwant\n%s", len(gn), len(wn), nodeList(gn), nodeList(wn))
	}
	for i := range gn {
		g, w := gn[i], wn[i]
		if g.OpType != w.OpType || g.Name != w.Name || !slices.Equal(g.Inputs, w.Inputs) || !slices.Equal(g.Outputs, w.Outputs) {
			t.Errorf("node %d: %s %q %v -> %v, want %s %q %v -> %v", i, g.OpType, g.Name, g.Inputs, g.Outputs, w.OpType, w.Name, w.Inputs, w.Outputs)
			continue
		}
		ga, _ := g.Attrs.Int("axis", -99)
		wa, _ := w.Attrs.Int("axis", -99)
		if ga != wa {
			t.Errorf("node %d (%s): axis %d, want %d (-99: none)", i, g.Name, ga, wa)
		}
	}
	gi, wi := got.Graph.Initializers, want.Graph.Initializers
	for name := range wi {
		if gi[name] == nil {
			t.Errorf("initializer %q missing", name)
		}
	}
	for name, g := range gi {
		w := wi[name]
		if w == nil {
			t.Errorf("initializer %q is not in the fixture", name)
			continue
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) {
			t.Errorf("initializer %q: %s %v, want %s %v", name, g.DType, g.Shape, w.DType, w.Shape)
			continue
		}
		switch {
		case g.DType == onnx.Float:
			for k := range g.Float {
				if d := math.Abs(float64(g.Float[k] - w.Float[k])); d > 2e-6*math.Abs(float64(w.Float[k])) {
					t.Errorf("initializer %q[%d] = %g, want %g", name, k, g.Float[k], w.Float[k])
					break
				}
			}
		case strings.HasSuffix(name, ".weight_quantized"):
			if !slices.Equal(g.Int, w.Int) {
				t.Errorf("initializer %q: int8 weights differ", name)
			}
		default: // zero points and int32 biases: within one step
			for k := range g.Int {
				if d := g.Int[k] - w.Int[k]; d < -1 || d > 1 {
					t.Errorf("initializer %q[%d] = %d, want %d", name, k, g.Int[k], w.Int[k])
					break
				}
			}
		}
	}
}

func nodeList(nodes []*onnx.Node) string {
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString(n.OpType + " " + n.Name + " " + strings.Join(n.Inputs, ",") + " -> " + strings.Join(n.Outputs, ",") + "\n")
	}
	return b.String()
}
