package backend

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// refStandardize standardises rows of cols values of x and applies
// scale(r, j) and shift(r, j); it returns the rows' means and 1/stddev too.
func refStandardize(x []float32, cols int, eps float64, scale, shift func(r, j int) float64) (y, mean, inv []float64) {
	for r := range len(x) / cols {
		row := x[r*cols : (r+1)*cols]
		m, v := 0.0, 0.0
		for _, e := range row {
			m += float64(e)
		}
		m /= float64(cols)
		for _, e := range row {
			v += (float64(e) - m) * (float64(e) - m)
		}
		is := 1 / math.Sqrt(v/float64(cols)+eps)
		mean, inv = append(mean, m), append(inv, is)
		for j, e := range row {
			y = append(y, (float64(e)-m)*is*scale(r, j)+shift(r, j))
		}
	}
	return y, mean, inv
}

func TestNormalisations(t *testing.T) {
	xs := []int{2, 5, 3, 4}
	x := randn(7, numel(xs))
	s, b := randn(8, 5), randn(9, 5)
	ls, lb := randn(10, 12), randn(11, 12)
	nodes := []*onnx.NodeProto{
		nodeOf("LRN", []string{"x"}, "lrn", intAttr("size", 3), floatAttr("alpha", 0.01), floatAttr("beta", 0.6), floatAttr("bias", 1.5)),
		nodeOf("InstanceNormalization", []string{"x", "s", "b"}, "in", floatAttr("epsilon", 1e-3)),
		{OpType: "LayerNormalization", Input: []string{"x", "ls", "lb"}, Output: []string{"ln", "mean", "inv"}, Attribute: []*onnx.AttributeProto{intAttr("axis", -2)}},
		nodeOf("LayerNormalization", []string{"x", "one"}, "ln1", intAttr("axis", 1), floatAttr("epsilon", 0.1)),
	}
	inits := []*onnx.TensorProto{{Name: "one", Dims: []int64{1}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: []float32{2}}}
	got, err := runWhole(t, 17, nodes, inits, []wholeIn{{"x", xs, x}, {"s", []int{5}, s}, {"b", []int{5}, b},
		{"ls", []int{3, 4}, ls}, {"lb", []int{1, 3, 4}, lb}}, "lrn", "in", "ln", "mean", "inv", "ln1")
	if err != nil {
		t.Fatal(err)
	}
	var lrn []float64
	for i := range x {
		n, c, p := i/60, i/12%5, i%12
		var sq float64
		for k := max(0, c-1); k <= min(4, c+1); k++ {
			v := float64(x[n*60+k*12+p])
			sq += v * v
		}
		lrn = append(lrn, float64(x[i])/math.Pow(1.5+0.01/3*sq, 0.6))
	}
	closeTo(t, "LRN", got[0], lrn)
	in, _, _ := refStandardize(x, 12, 1e-3, func(r, _ int) float64 { return float64(s[r%5]) }, func(r, _ int) float64 { return float64(b[r%5]) })
	closeTo(t, "InstanceNormalization", got[1], in)
	ln, mean, inv := refStandardize(x, 12, 1e-5, func(_, j int) float64 { return float64(ls[j]) }, func(_, j int) float64 { return float64(lb[j]) })
	closeTo(t, "LayerNormalization", got[2], ln)
	closeTo(t, "LayerNormalization's Mean", got[3], mean)
	closeTo(t, "LayerNormalization's InvStdDev", got[4], inv)
	ln1, _, _ := refStandardize(x, 60, 0.1, func(_, _ int) float64 { return 2 }, func(_, _ int) float64 { return 0 })
	closeTo(t, "LayerNormalization over axis 1, one scale, no bias", got[5], ln1)
}

func TestNormalisationRefusals(t *testing.T) {
	cases := []struct {
		name string
		node *onnx.NodeProto
		kind error
	}{
		{"LRN without size", nodeOf("LRN", []string{"x"}, "y"), modelfile.ErrFormat},
		{"LRN size 0", nodeOf("LRN", []string{"x"}, "y", intAttr("size", 0)), modelfile.ErrFormat},
		{"LayerNormalization axis out of range", nodeOf("LayerNormalization", []string{"x", "s4"}, "y", intAttr("axis", 4)), modelfile.ErrFormat},
		{"LayerNormalization Scale of the wrong size", nodeOf("LayerNormalization", []string{"x", "s3"}, "y"), modelfile.ErrFormat},
		{"LayerNormalization Scale broadcast", nodeOf("LayerNormalization", []string{"x", "s3x1"}, "y", intAttr("axis", 2)), onnx.ErrUnsupported},
		{"InstanceNormalization scale of the wrong size", nodeOf("InstanceNormalization", []string{"x", "s4", "s4"}, "y"), modelfile.ErrFormat},
	}
	f := func(name string, dims ...int64) *onnx.TensorProto {
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), FloatData: make([]float32, n)}
	}
	inits := []*onnx.TensorProto{f("s4", 4), f("s3", 3), f("s3x1", 3, 1)}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runWhole(t, 17, []*onnx.NodeProto{tc.node}, inits, []wholeIn{{"x", []int{1, 2, 3, 4}, make([]float32, 24)}}, "y")
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want one matching %v", err, tc.kind)
			}
		})
	}
}

// TestMVNAcrossImagesRefused: MeanVarianceNormalization's default axes,
// 0, 2 and 3, take statistics across a batch's images, which a
// classifier's plan, run an image at a time, does not compute.
func TestMVNAcrossImagesRefused(t *testing.T) {
	gc := graphCase{opset: 13, side: 4, features: 16, nodes: func(b *builder) {
		b.node("MeanVarianceNormalization", []string{"x"}, "h")
	}}
	_, err := openModel(t, gc.model(1), Options{})
	if !errors.Is(err, onnx.ErrUnsupported) || !strings.Contains(err.Error(), "across the images of a batch") {
		t.Errorf("%v, want ErrUnsupported saying it mixes the images of a batch", err)
	}
}
