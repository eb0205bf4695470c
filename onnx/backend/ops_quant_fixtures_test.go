package backend

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/qgemm"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/tensorfile"
)

// The quantized fixtures of testdata/quant (reference/quant_fixtures.py)
// hold ONNX Runtime's outputs beside each graph: every data set of the
// operator graphs, and 32 MNIST test images through the image models.

// quantFixture returns the path of testdata/quant/name.onnx, skipping the
// test when the fixtures are not there.
func quantFixture(t *testing.T, name string) string {
	t.Helper()
	path := testtool.Testdata(filepath.Join("quant", name+".onnx"))
	if _, err := os.Stat(path); err != nil {
		testtool.Missing(t, "testdata/quant: reference/quant_fixtures.py has not written "+name+".onnx")
	}
	return path
}

// dataSets reads the test_data_set_N folders beside a fixture: each one's
// inputs and outputs in the graph's order.
func dataSets(t *testing.T, path string) (ins, outs [][]*onnx.Tensor) {
	t.Helper()
	dir := path[:len(path)-len(".onnx")]
	for n := 0; ; n++ {
		set := filepath.Join(dir, "test_data_set_"+strconv.Itoa(n))
		if _, err := os.Stat(set); err != nil {
			break
		}
		var in, out []*onnx.Tensor
		for _, kind := range []string{"input", "output"} {
			for i := 0; ; i++ {
				f := filepath.Join(set, kind+"_"+strconv.Itoa(i)+".pb")
				if _, err := os.Stat(f); err != nil {
					break
				}
				if kind == "input" {
					in = append(in, readNodeTestTensor(t, f))
				} else {
					out = append(out, readNodeTestTensor(t, f))
				}
			}
		}
		ins, outs = append(ins, in), append(outs, out)
	}
	if len(ins) == 0 {
		t.Fatalf("%s: no test_data_set_0", dir)
	}
	return ins, outs
}

// TestQuantOpsMatchORT runs the operator graphs (MatMulInteger,
// ConvInteger, DynamicQuantizeLinear, quantize_dynamic's MatMul) on every
// data set: integer outputs must equal ONNX Runtime's exactly, and float
// ones, which ONNX Runtime computes in the same float32 operations, too.
func TestQuantOpsMatchORT(t *testing.T) {
	for _, name := range []string{"ops_matmulinteger", "ops_convinteger", "ops_dynamicquantizelinear", "ops_dynamic_matmul", "ops_qgemm"} {
		t.Run(name, func(t *testing.T) {
			path := quantFixture(t, name)
			ins, outs := dataSets(t, path)
			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			for s := range ins {
				shapes := map[string][]int{}
				var feed [][]float32
				for i, in := range m.Graph.Inputs {
					shapes[in.Name] = ins[s][i].Shape
					feed = append(feed, ins[s][i].Floats())
				}
				p, err := OpenOptions(path, Options{Shapes: shapes})
				if err != nil {
					t.Fatal(err)
				}
				got, err := p.Run(feed)
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range outs[s] {
					g := &onnx.Tensor{DType: onnx.Float, Shape: p.Results()[i].Shape, Float: got[i]}
					if err := tensorfile.Compare(g, want, 0, 0); err != nil {
						t.Errorf("data set %d, output %s: %v", s, m.Graph.Outputs[i].Name, err)
					}
				}
			}
		})
	}
}

// outputScale is the scale of the DequantizeLinear that writes a graph's
// output: one step of its quantized logits.
func outputScale(t *testing.T, m *onnx.Model) float64 {
	t.Helper()
	for _, n := range m.Graph.Nodes {
		if n.OpType == "DequantizeLinear" && n.Outputs[0] == m.Graph.Outputs[0].Name {
			return float64(m.Graph.Initializers[n.Input(1)].Float[0])
		}
	}
	t.Fatal("the output is not a DequantizeLinear's")
	return 0
}

// logitsOf classifies the images of a fixture's data set 0 with plan p.
func logitsOf(t *testing.T, p *Plan, x *onnx.Tensor) []float32 {
	t.Helper()
	n := x.Shape[0]
	y := make([]float32, n*p.Outputs)
	if err := p.Logits(y, x.Float, n); err != nil {
		t.Fatal(err)
	}
	return y
}

// steps is the largest difference between a and b in steps of scale, and
// how many values differ at all.
func steps(a, b []float32, scale float64) (worst float64, differ int) {
	for i := range a {
		d := math.Abs(float64(a[i])-float64(b[i])) / scale
		worst = max(worst, d)
		if d > 0.5 {
			differ++
		}
	}
	return worst, differ
}

// TestQuantModelsMatchORT classifies 32 MNIST images with each quantized
// image model: the fused plan against ONNX Runtime's (its QDQ groups
// fused into integer kernels too), the plan run as written
// (NoQuantFusion) against ONNX Runtime's with its optimizations off, and
// the two plans against each other; the fused plan must have taken the
// int8 kernels. Values are logits dequantized from uint8: each within one
// step of the output's scale.
func TestQuantModelsMatchORT(t *testing.T) {
	for _, c := range []struct {
		name  string
		fused int // chains the fused plan must report
	}{{"seed_qdq_tensor", 15}, {"seed_qdq_channel", 15}, {"seed_qoperator", 2}} {
		t.Run(c.name, func(t *testing.T) {
			path := quantFixture(t, c.name)
			ins, outs := dataSets(t, path)
			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			scale := outputScale(t, m)
			fused, err := OpenOptions(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			plain, err := OpenOptions(path, Options{NoQuantFusion: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(fused.Fused) != c.fused || fused.Int8Kernel == "" {
				t.Errorf("fused plan: %d chains %q, kernel %q; want %d chains and an int8 kernel", len(fused.Fused), fused.Fused, fused.Int8Kernel, c.fused)
			}
			yf, yp := logitsOf(t, fused, ins[0][0]), logitsOf(t, plain, ins[0][0])
			// One image alone runs the steps split between the CPUs.
			x := ins[0][0]
			one := &onnx.Tensor{Shape: append([]int{1}, x.Shape[1:]...), Float: x.Float[:len(x.Float)/x.Shape[0]]}
			if y1 := logitsOf(t, fused, one); !slices.Equal(y1, yf[:len(y1)]) {
				t.Errorf("image 0 alone: %v, in a batch: %v", y1, yf[:len(y1)])
			}
			noopt := readNodeTestTensor(t, filepath.Join(path[:len(path)-len(".onnx")], "noopt_output_0.pb"))
			for _, cmp := range []struct {
				what      string
				got, want []float32
			}{{"fused vs ONNX Runtime", yf, outs[0][0].Float}, {"as written vs ONNX Runtime unoptimized", yp, noopt.Float}, {"fused vs as written", yf, yp}} {
				worst, differ := steps(cmp.got, cmp.want, scale)
				t.Logf("%s: worst %.2f steps of %.4g, %d of %d values differ", cmp.what, worst, scale, differ, len(cmp.want))
				if worst > 1.01 {
					t.Errorf("%s: %.2f steps apart", cmp.what, worst)
				}
			}
		})
	}
}

// TestQuantModelsEveryKernel runs the fused plans of the image models
// with each int8 kernel set this CPU runs (qgemm.Kernels: AVX512-VNNI,
// AVX-VNNI, AVX2, pure Go, as the build and CPU allow): every set must
// give ONNX Runtime's logits, a batch and one image alone (split between
// the CPUs) alike.
func TestQuantModelsEveryKernel(t *testing.T) {
	defer func() { packKernels = "" }()
	for _, name := range []string{"seed_qdq_tensor", "seed_qdq_channel", "seed_qoperator"} {
		path := quantFixture(t, name)
		ins, outs := dataSets(t, path)
		m, err := onnx.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		scale := outputScale(t, m)
		x := ins[0][0]
		one := &onnx.Tensor{Shape: append([]int{1}, x.Shape[1:]...), Float: x.Float[:len(x.Float)/x.Shape[0]]}
		for _, ks := range qgemm.Kernels() {
			packKernels = ks
			p, err := OpenOptions(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(p.Int8Kernel, ks+"-") {
				t.Errorf("%s, %s: the plan runs %q", name, ks, p.Int8Kernel)
			}
			y := logitsOf(t, p, x)
			worst, differ := steps(y, outs[0][0].Float, scale)
			t.Logf("%s, %s (%s): worst %.2f steps of %.4g, %d of %d values differ from ONNX Runtime's", name, ks, p.Int8Kernel, worst, scale, differ, len(y))
			if worst > 1.01 {
				t.Errorf("%s, %s: %.2f steps from ONNX Runtime's", name, ks, worst)
			}
			if y1 := logitsOf(t, p, one); !slices.Equal(y1, y[:len(y1)]) {
				t.Errorf("%s, %s: image 0 alone %v, in a batch %v", name, ks, y1, y[:len(y1)])
			}
		}
	}
}

// BenchmarkQuantSeed classifies one image at a time with the seed's
// per-channel QDQ LeNet: fused into int8 kernels, and as written.
func BenchmarkQuantSeed(b *testing.B) {
	path := testtool.Testdata(filepath.Join("quant", "seed_qdq_channel.onnx"))
	if _, err := os.Stat(path); err != nil {
		b.Skip("no testdata/quant/seed_qdq_channel.onnx")
	}
	for _, c := range []struct {
		name string
		opt  Options
	}{{"fused", Options{}}, {"as-written", Options{NoQuantFusion: true}}} {
		b.Run(c.name, func(b *testing.B) {
			p, err := OpenOptions(path, c.opt)
			if err != nil {
				b.Fatal(err)
			}
			x, y := make([]float32, 32*32), make([]float32, 10)
			for i := range x {
				x[i] = float32(i%7) / 7
			}
			b.ResetTimer()
			for range b.N {
				if err := p.Logits(y, x, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDiagnoseQuantized: doctor says what the fused plan of a QDQ file
// runs, its int8 kernel included.
func TestDiagnoseQuantized(t *testing.T) {
	path := quantFixture(t, "seed_qoperator")
	d, err := Diagnose(path, modelfile.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Runs || d.Int8Kernel == "" || len(d.Blockers) != 0 {
		t.Errorf("runs %v, int8 kernel %q, blockers %v", d.Runs, d.Int8Kernel, d.Blockers)
	}
}
