package quantize

import (
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

func describeFile(t *testing.T, name string) *Quantization {
	t.Helper()
	m, err := onnx.Load(testtool.Testdata(name))
	if err != nil {
		t.Fatal(err)
	}
	return Describe(m)
}

func find(q *Quantization, tensor string) *QuantizedTensor {
	for i := range q.Tensors {
		if q.Tensors[i].Tensor == tensor {
			return &q.Tensors[i]
		}
	}
	return nil
}

// TestDescribeQDQ reads testdata/quant's per-channel seed: 13 activations
// (the MaxPool outputs among them, with their input's parameters), 8
// weights and 8 biases, with the scales figures.json gives.
func TestDescribeQDQ(t *testing.T) {
	q := describeFile(t, "quant/seed_qdq_channel.onnx")
	if q == nil || q.Form != "QDQ" || q.Activations != 13 || q.Weights != 8 || q.Biases != 8 {
		t.Fatalf("%+v", q)
	}
	in := find(q, "input")
	if in == nil || in.Kind != "activation" || in.Type != "UINT8" || *in.Scale != float32(0.003921568859368563) || *in.ZeroPoint != 0 || in.Axis != nil {
		t.Errorf("input: %+v", in)
	}
	bn := find(q, "/conv_layers/conv_layers.10/BatchNormalization_output_0")
	if bn == nil || *bn.Scale != float32(0.035743746906518936) || *bn.ZeroPoint != 14 {
		t.Errorf("bn3: %+v", bn)
	}
	w := find(q, "conv_layers.4.weight_quantized")
	if w == nil || w.Kind != "weight" || w.Type != "INT8" || w.Axis == nil || *w.Axis != 0 || w.Channels != 64 || w.Scale != nil ||
		!(*w.ScaleMin > 0 && *w.ScaleMin < *w.ScaleMax) || *w.ZeroPoint != 0 {
		t.Errorf("conv2 weight: %+v", w)
	}
	b := find(q, "conv_layers.2.bias_quantized") // BatchNorm's bias: one scale, shape [1]
	if b == nil || b.Kind != "bias" || b.Type != "INT32" || b.Axis != nil || b.Scale == nil {
		t.Errorf("bn1 bias: %+v", b)
	}
	if tq := describeFile(t, "quant/seed_qdq_tensor.onnx"); tq == nil || find(tq, "conv_layers.4.weight_quantized").Axis != nil {
		t.Errorf("per tensor: %+v", tq)
	}
}

// TestDescribeQOperator reads the mnist-12-int8-shaped file: its
// QLinearConv's weights per channel, the int32 biases' scale named as the
// product it is, the activations each once.
func TestDescribeQOperator(t *testing.T) {
	q := describeFile(t, "quant/seed_qoperator.onnx")
	if q == nil || q.Form != "QOperator" || q.Weights != 4 || q.Biases != 2 {
		t.Fatalf("%+v", q)
	}
	w := find(q, "Parameter5_quantized")
	if w == nil || w.Channels != 8 || *w.ScaleMin != float32(0.002470624865964055) || *w.ScaleMax != float32(0.0031796719413250685) {
		t.Errorf("Parameter5: %+v", w)
	}
	b := find(q, "Parameter6_quantized")
	if b == nil || b.Kind != "bias" || b.ScaleOf == "" {
		t.Errorf("Parameter6: %+v", b)
	}
	c := find(q, "Plus30_Output_0_quantized")
	if c == nil || *c.Scale != float32(0.011805789545178413) || *c.ZeroPoint != 0 {
		t.Errorf("first conv's output: %+v", c)
	}
	for _, tc := range []struct {
		file, form string
		dynamic    bool
	}{
		{"quant/ops_dynamic_matmul.onnx", "QOperator, dynamic", true},
		{"quant/ops_matmulinteger.onnx", "QOperator", false},
		{"quant/ops_convinteger.onnx", "QOperator", false},
		{"quant/ops_qgemm.onnx", "QOperator", false},
	} {
		q := describeFile(t, tc.file)
		if q == nil || q.Form != tc.form || q.Tensors[0].Dynamic != tc.dynamic {
			t.Errorf("%s: %+v", tc.file, q)
		}
	}
	if a := find(describeFile(t, "quant/ops_matmulinteger.onnx"), "A_int8"); a == nil || a.Type != "INT8" || *a.ZeroPoint != -5 {
		t.Errorf("ops_matmulinteger A_int8: %+v", a)
	}
	qg := describeFile(t, "quant/ops_qgemm.onnx")
	if w := find(qg, "W"); w == nil || w.Kind != "weight" || w.Axis == nil || *w.Axis != 0 || w.Channels != 5 {
		t.Errorf("ops_qgemm W, transposed, per column: %+v", w)
	}
	if c, y := find(qg, "C"), find(qg, "Y"); c == nil || c.Kind != "bias" || y == nil || *y.Scale != 0.05 || *y.ZeroPoint != 120 {
		t.Errorf("ops_qgemm C %+v, Y %+v", c, y)
	}
	if q := describeFile(t, "quant/mnist12_float.onnx"); q != nil {
		t.Errorf("a float model: %+v", q)
	}
}
