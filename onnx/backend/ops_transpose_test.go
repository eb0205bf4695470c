package backend

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// tensorInput declares a float input of the given dimensions, -1 being
// the symbolic batch.
func tensorInput(name string, dims ...int64) *onnx.ValueInfoProto {
	var ds []*onnx.TensorShapeProto_Dimension
	for _, d := range dims {
		if d < 0 {
			ds = append(ds, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "N"}})
		} else {
			ds = append(ds, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
		ElemType: int32(onnx.TensorProto_FLOAT), Shape: &onnx.TensorShapeProto{Dim: ds}}}}}
}

func floatOutput(name string) *onnx.ValueInfoProto {
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
		ElemType: int32(onnx.TensorProto_FLOAT)}}}}
}

// graphModel wraps a builder's nodes into a model of one input and output "y".
func graphModel(b *builder, opset int64, in *onnx.ValueInfoProto) *onnx.ModelProto {
	return &onnx.ModelProto{
		IrVersion:   7,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: "", Version: opset}},
		Graph: &onnx.GraphProto{Name: "t", Node: b.nodes, Initializer: b.inits,
			Input: []*onnx.ValueInfoProto{in}, Output: []*onnx.ValueInfoProto{floatOutput("y")}},
	}
}

// kerasPair builds one network twice: channels-last as Keras exporters
// write it (input [N, H, W, C], Transpose, Conv, Relu, Transpose back,
// Reshape, MatMul) and channels-first, the MatMul's rows reordered to
// match, so that both give the same logits for the same NCHW images.
func kerasPair(c, h, w, k int64) (nhwc, nchw *onnx.ModelProto) {
	feat := k * h * w
	mk := func(last bool) *onnx.ModelProto {
		b := &builder{rng: rand.New(rand.NewPCG(5, 6))}
		conv := b.weight(k, c, 3, 3)
		bias := b.weight(k)
		x := "x"
		if last {
			b.node("Transpose", []string{"x"}, "xt", ints("perm", 0, 3, 1, 2))
			x = "xt"
		}
		b.node("Conv", []string{x, conv, bias}, "cv", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("Relu", []string{"cv"}, "r")
		flat := "r"
		if last {
			b.node("Transpose", []string{"r"}, "rt", ints("perm", 0, 2, 3, 1))
			flat = "rt"
		}
		b.node("Reshape", []string{flat, b.ints(-1, feat)}, "f")
		// The dense layer's weights, rows in HWC order for the
		// channels-last graph and CHW for the other.
		wm := make([]float32, feat*10)
		for i := range wm {
			wm[i] = float32(math.Sin(float64(i)*0.37)) * 0.1
		}
		if !last {
			chw := make([]float32, len(wm))
			for ci := int64(0); ci < k; ci++ {
				for p := int64(0); p < h*w; p++ {
					copy(chw[(ci*h*w+p)*10:(ci*h*w+p+1)*10], wm[(p*k+ci)*10:(p*k+ci+1)*10])
				}
			}
			wm = chw
		}
		b.inits = append(b.inits, &onnx.TensorProto{Name: "dense", Dims: []int64{feat, 10}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: wm})
		b.node("MatMul", []string{"f", "dense"}, "y")
		in := tensorInput("x", -1, c, h, w)
		if last {
			in = tensorInput("x", -1, h, w, c)
		}
		return graphModel(b, 13, in)
	}
	return mk(true), mk(false)
}

func openModel(t testing.TB, m *onnx.ModelProto, opt Options) (*Plan, error) {
	t.Helper()
	data, err := onnx.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return open(data, "model.onnx", t.TempDir(), opt)
}

func mustOpen(t testing.TB, m *onnx.ModelProto, opt Options) *Plan {
	t.Helper()
	p, err := openModel(t, m, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNHWCInput(t *testing.T) {
	const c, h, w, k = 3, 12, 10, 8
	mh, mc := kerasPair(c, h, w, k)
	ph, pc := mustOpen(t, mh, Options{}), mustOpen(t, mc, Options{})
	if ph.Channels != c || ph.Height != h || ph.Width != w {
		t.Fatalf("NHWC plan takes %dx%dx%d, want %dx%dx%d", ph.Channels, ph.Height, ph.Width, c, h, w)
	}
	// The input's Transpose is folded away: the NHWC plan has one step
	// more than the NCHW one, the Transpose before the Reshape.
	if len(ph.steps) != len(pc.steps)+1 {
		t.Errorf("NHWC plan of %d steps, NCHW of %d", len(ph.steps), len(pc.steps))
	}
	const n = 5
	x := make([]float32, n*c*h*w)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range x {
		x[i] = rng.Float32()
	}
	yh, yc := make([]float32, n*10), make([]float32, n*10)
	if err := ph.Logits(yh, x, n); err != nil {
		t.Fatal(err)
	}
	if err := pc.Logits(yc, x, n); err != nil {
		t.Fatal(err)
	}
	for i := range yc {
		if math.Abs(float64(yh[i]-yc[i])) > 1e-5 {
			t.Fatalf("logit %d: NHWC %v, NCHW %v", i, yh[i], yc[i])
		}
	}
	// As whole tensors, the NHWC graph takes NHWC data and runs its
	// Transposes as steps: the same logits from the transposed image
	// (one: convolution takes one image a tensor).
	pw := mustOpen(t, mh, Options{Shapes: map[string][]int{"x": {1, h, w, c}}})
	xt := make([]float32, c*h*w)
	for ci := 0; ci < c; ci++ {
		for p := 0; p < h*w; p++ {
			xt[p*c+ci] = x[ci*h*w+p]
		}
	}
	y, err := pw.Run([][]float32{xt})
	if err != nil {
		t.Fatal(err)
	}
	for i := range y[0] {
		if math.Abs(float64(y[0][i]-yc[i])) > 1e-5 {
			t.Fatalf("whole logit %d: %v, NCHW %v", i, y[0][i], yc[i])
		}
	}
}

func TestNHWCInputRefused(t *testing.T) {
	// [N, 28, 28, 1] read by a Conv directly: channels-last without the
	// Transpose, refused as such.
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Conv", []string{"x", b.weight(4, 28, 3, 3)}, "c", ints("kernel_shape", 3, 3))
	b.node("Flatten", []string{"c"}, "y")
	_, err := openModel(t, graphModel(b, 13, tensorInput("x", -1, 28, 28, 1)), Options{})
	if !errors.Is(err, onnx.ErrUnsupported) || !strings.Contains(err.Error(), "channels-last") {
		t.Fatalf("got %v, want channels-last refused", err)
	}
	// Read by the Transpose and something else: not folded, refused too.
	b = &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Transpose", []string{"x"}, "t", ints("perm", 0, 3, 1, 2))
	b.node("Relu", []string{"x"}, "r")
	b.node("Add", []string{"t", "r"}, "y")
	if _, err := openModel(t, graphModel(b, 13, tensorInput("x", -1, 28, 28, 1)), Options{}); !errors.Is(err, onnx.ErrUnsupported) {
		t.Fatalf("got %v, want refused", err)
	}
}

func TestTransposeBatchAxis(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Transpose", []string{"x"}, "y", ints("perm", 1, 0, 2, 3))
	m := graphModel(b, 13, tensorInput("x", -1, 2, 3, 3))
	if _, err := openModel(t, m, Options{}); !errors.Is(err, onnx.ErrUnsupported) {
		t.Fatalf("classifier: got %v, want unsupported", err)
	}
	// As whole tensors it runs.
	p := mustOpen(t, m, Options{Shapes: map[string][]int{"x": {2, 2, 3, 3}}})
	x := make([]float32, 36)
	for i := range x {
		x[i] = float32(i)
	}
	y, err := p.Run([][]float32{x})
	if err != nil {
		t.Fatal(err)
	}
	// y[j][i] = x[i][j] over the first two axes, 9 values each.
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			for e := 0; e < 9; e++ {
				if y[0][(j*2+i)*9+e] != x[(i*2+j)*9+e] {
					t.Fatalf("y[%d][%d][%d] = %v", j, i, e, y[0][(j*2+i)*9+e])
				}
			}
		}
	}
}

// BenchmarkNHWCInput classifies the same network and images through its
// channels-last and channels-first graphs: the input's Transpose is
// folded away, the one before the Reshape is a cheap copy.
func BenchmarkNHWCInput(b *testing.B) {
	const c, h, w, k, n = 1, 28, 28, 16, 64
	mh, mc := kerasPair(c, h, w, k)
	x := make([]float32, n*c*h*w)
	for i := range x {
		x[i] = float32(i%255) / 255
	}
	for _, tc := range []struct {
		name string
		m    *onnx.ModelProto
	}{{"nchw", mc}, {"nhwc", mh}} {
		b.Run(tc.name, func(b *testing.B) {
			p := mustOpen(b, tc.m, Options{})
			y := make([]float32, n*10)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Logits(y, x, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/image")
		})
	}
}
