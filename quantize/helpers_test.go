package quantize

import (
	"fmt"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"

	_ "github.com/lenetkit/lenetkit/convert" // .pth
)

// seedFloat is the seed's LeNet (testdata/lenet_trained.pth) as lenetkit
// exports it, its values and nodes renamed as torch.onnx.export names them
// (reference/quant_fixtures.py's float graph), so that its QDQ form can be
// set beside testdata/quant's.
func seedFloat(t testing.TB) *onnx.Model {
	t.Helper()
	sd, err := modelfile.Read(testtool.Testdata("lenet_trained.pth"))
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
	names := map[string]string{}
	for k := range 3 {
		c := 4 * k
		names[fmt.Sprint("conv", k+1)] = fmt.Sprintf("/conv_layers/conv_layers.%d/Conv", c)
		names[fmt.Sprint("relu", k+1)] = fmt.Sprintf("/conv_layers/conv_layers.%d/Relu", c+1)
		names[fmt.Sprint("bn", k+1)] = fmt.Sprintf("/conv_layers/conv_layers.%d/BatchNormalization", c+2)
		names[fmt.Sprint("pool", k+1)] = fmt.Sprintf("/conv_layers/conv_layers.%d/MaxPool", c+3)
	}
	names["flatten1"] = "/fc_layer/fc_layer.0/Flatten"
	names["fc1"] = "/fc_layer/fc_layer.1/Gemm"
	names["fc2"] = "/fc_layer/fc_layer.3/Gemm"
	value := func(s string) string {
		if n, ok := names[s]; ok {
			return n + "_output_0"
		}
		return s
	}
	for _, n := range m.Graph.Nodes {
		for i, in := range n.Inputs {
			n.Inputs[i] = value(in)
		}
		for i, o := range n.Outputs {
			n.Outputs[i] = value(o)
		}
		n.Name = names[n.Name]
	}
	return m
}

// mnistImages are the first n images of an MNIST part as the seed's
// input: 1x32x32, pixels in [0, 1].
type mnistImages struct {
	set *mnist.Set
	n   int
}

func (s mnistImages) Len() int { return s.n }

func (s mnistImages) Fill(i, n int, x []float32) error {
	idx := make([]int, n)
	for k := range idx {
		idx[k] = i + k
	}
	return s.set.Fill(idx, x, nil)
}
