package onnxtrain

import (
	"errors"
	"math"
	"testing"
)

func TestReplaceHead(t *testing.T) {
	for _, tc := range []struct {
		file         string
		weight, bias string // "" when the head cannot be replaced
	}{
		{"cnn28.onnx", "10.weight", "10.bias"},
		{"producers/keras2onnx_160.onnx", "dense_1/kernel:0", "dense_1/bias:0"},
		{"producers/tf2onnx.onnx", "sequential/dense/MatMul/ReadVariableOp:0", "sequential/dense/BiasAdd/ReadVariableOp:0"},
		{"producers/cntk_mnist8.onnx", "", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m := loadFixture(t, tc.file)
			h, err := ReplaceHead(m, 3, 1)
			if tc.weight == "" {
				if !errors.Is(err, ErrNoHead) {
					t.Fatalf("error %v, want ErrNoHead", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Weight != tc.weight || h.Bias != tc.bias {
				t.Errorf("head %s + %s, want %s + %s", h.Weight, h.Bias, tc.weight, tc.bias)
			}
			bound := float32(1 / math.Sqrt(float64(h.In)))
			for _, v := range m.Graph.Initializers[h.Weight].Float {
				if v < -bound || v > bound {
					t.Fatalf("weight %g outside +-%g", v, bound)
				}
			}
			net, err := New(m, Options{Batch: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			if net.Classes() != 3 {
				t.Errorf("%d classes after replacing the head with 3", net.Classes())
			}
			if _, err := net.Step(make([]float32, size(net.inShape)), []int64{0, 2}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReinit(t *testing.T) {
	m := loadFixture(t, "dwbn.onnx")
	before := append([]float32(nil), m.Graph.Initializers["0.weight"].Float...)
	Reinit(m, 1)
	w := m.Graph.Initializers["0.weight"].Float
	bound := float32(1 / 3.0) // fan-in 1*3*3
	same := 0
	for i, v := range w {
		if v < -bound || v > bound {
			t.Fatalf("conv weight %g outside +-%g", v, bound)
		}
		if v == before[i] {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of %d weights kept their values", same, len(w))
	}
	for _, v := range m.Graph.Initializers["1.weight"].Float {
		if v != 1 {
			t.Fatalf("BatchNorm scale %g after Reinit, want 1", v)
		}
	}
}
