package backend

import (
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestOldOpsetsAsOpset7: a graph of opset 1 or 6, in the forms of its
// time (broadcast and axis attributes, Reshape's shape attribute, Pad's
// paddings, Split's lengths as an input, Cast to a type name, a Concat
// without an axis, is_test, consumed_inputs), gives exactly the logits of
// the same network written at opset 7, drawn from the same weights.
func TestOldOpsetsAsOpset7(t *testing.T) {
	castTo := func(old bool) *onnx.AttributeProto {
		if old {
			return strAttr("to", "FLOAT")
		}
		return intAttr("to", int64(onnx.TensorProto_FLOAT))
	}
	cases := []struct {
		name     string
		opset    int64
		features int
		nodes    func(b *builder, old bool)
	}{
		{"opset 1: CNTK's and Caffe2's forms", 1, 2 * 4 * 6 * 6, func(b *builder, old bool) {
			w, bias := b.weight(4, 1, 3, 3), b.weight(4)
			b.node("Conv", []string{"x", w}, "c")
			if old {
				b.node("Add", []string{"c", bias}, "a", intAttr("broadcast", 1), intAttr("axis", 1))
				b.node("Relu", []string{"a"}, "r", ints("consumed_inputs", 0))
				b.node("Concat", []string{"r", "r"}, "cat")
				b.node("Reshape", []string{"cat"}, "rs", ints("shape", -1, 2*4*6*6))
			} else {
				b.node("Add", []string{"c", reshaped(b, bias, 4, 1, 1)}, "a")
				b.node("Relu", []string{"a"}, "r")
				b.node("Concat", []string{"r", "r"}, "cat", intAttr("axis", 1))
				b.node("Reshape", []string{"cat", b.ints(-1, 2*4*6*6)}, "rs")
			}
			b.node("Cast", []string{"rs"}, "h", castTo(old))
		}},
		{"opset 6: a computed operand broadcast at an axis, BatchNormalization and Dropout in test mode, Pad, Split, Gemm", 6, 6 * 4 * 8, func(b *builder, old bool) {
			b.node("Conv", []string{"x", b.weight(3, 1, 3, 3)}, "c")
			bn := []string{"c", b.positive(3), b.weight(3), b.weight(3), b.positive(3)}
			test := []*onnx.AttributeProto{}
			if old {
				test = append(test, intAttr("is_test", 1))
			}
			b.node("BatchNormalization", bn, "n", test...)
			b.node("Dropout", []string{"n"}, "d", append(test, floatAttr("ratio", 0.3))...)
			b.node("GlobalAveragePool", []string{"d"}, "gap")
			b.node("Squeeze", []string{"gap"}, "s", ints("axes", 2, 3))
			if old {
				b.node("Mul", []string{"d", "s"}, "m", intAttr("broadcast", 1), intAttr("axis", 0))
				b.node("Pad", []string{"m"}, "p", ints("paddings", 0, 0, 1, 1, 0, 0, 1, 1))
				b.node("Split", []string{"p", b.ints(4, 4)}, "top", intAttr("axis", 2))
			} else {
				b.node("Unsqueeze", []string{"s"}, "su", ints("axes", 2, 3))
				b.node("Mul", []string{"d", "su"}, "m")
				b.node("Pad", []string{"m"}, "p", ints("pads", 0, 0, 1, 1, 0, 0, 1, 1))
				b.node("Split", []string{"p"}, "top", intAttr("axis", 2), ints("split", 4, 4))
			}
			b.nodes[len(b.nodes)-1].Output = []string{"top", "bottom"}
			b.node("Concat", []string{"top", "bottom"}, "h", intAttr("axis", 1))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := func(old bool) *Plan {
				opset := int64(7)
				if old {
					opset = c.opset
				}
				gc := graphCase{opset: opset, side: 8, features: c.features, nodes: func(b *builder) { c.nodes(b, old) }}
				p, err := openModel(t, gc.model(3), Options{})
				if err != nil {
					t.Fatalf("opset %d: %v", opset, err)
				}
				return p
			}
			old, now := plan(true), plan(false)
			if old.Upgraded != c.opset || now.Upgraded != 0 {
				t.Errorf("Upgraded %d and %d, want %d and 0", old.Upgraded, now.Upgraded, c.opset)
			}
			rng := rand.New(rand.NewPCG(5, 5))
			const n = 3
			x := make([]float32, n*8*8)
			for i := range x {
				x[i] = rng.Float32()
			}
			got, want := make([]float32, n*10), make([]float32, n*10)
			if err := old.Logits(got, x, n); err != nil {
				t.Fatal(err)
			}
			if err := now.Logits(want, x, n); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("logit %d: %v at opset %d, %v at opset 7", i, got[i], c.opset, want[i])
				}
			}
		})
	}
}

// reshaped adds a copy of initializer name with the given shape.
func reshaped(b *builder, name string, dims ...int64) string {
	for _, t := range b.inits {
		if t.Name == name {
			c := *t
			c.Name, c.Dims = name+"_reshaped", dims
			b.inits = append(b.inits, &c)
			return c.Name
		}
	}
	panic("no initializer " + name)
}
