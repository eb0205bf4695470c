package backend

import (
	"path/filepath"
	"testing"
)

// convPlanCase is a classifier of 32x32 images through the conv path the
// fast kernels take: the fused seed block, a 3x3 stride-2 convolution and
// a 1x1 one (splitConvStep), then pooling.
var convPlanCase = graphCase{name: "conv plan", opset: 13, side: 32, features: 32, nodes: func(b *builder) {
	conv3(b, "x", "c", 1, 16)
	b.node("Relu", []string{"c"}, "r")
	b.node("BatchNormalization", []string{"r", b.positive(16), b.weight(16), b.weight(16), b.positive(16)}, "n", floatAttr("epsilon", 1e-5))
	b.node("MaxPool", []string{"n"}, "p", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	b.node("Conv", []string{"p", b.weight(32, 16, 3, 3), b.weight(32)}, "c2", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 2, 2))
	b.node("Conv", []string{"c2", b.weight(32, 32, 1, 1)}, "c3", ints("kernel_shape", 1, 1))
	b.node("GlobalAveragePool", []string{"c3"}, "h")
}}

// BenchmarkPlanConv classifies one image and a batch of 16 through
// convPlanCase.
func BenchmarkPlanConv(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.onnx")
	writeModel(&testing.T{}, convPlanCase.model(1), path)
	p, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 16} {
		x := randomImages(n, 32)
		out := make([]float32, n*p.Outputs)
		b.Run(map[int]string{1: "one", 16: "batch16"}[n], func(b *testing.B) {
			for range b.N {
				if err := p.Logits(out, x, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
