package backend

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// opset13Cases are graphs in the forms of opsets 8 to 12 whose meaning
// UpgradeTo13 must keep: attributes that became inputs, BatchNormalization's
// spatial, and Softmax over a flattened input and over its last axis.
var opset13Cases = []graphCase{
	{name: "opset 8: spatial, Dropout's ratio, Clip's bounds, Pad's pads, axes attributes, Softmax at axis 1 of 4", opset: 8, side: 8, features: 4 * 5 * 5, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 4)
		b.node("BatchNormalization", []string{"c", b.positive(4), b.weight(4), b.weight(4), b.positive(4)}, "n", intAttr("spatial", 1))
		b.node("Dropout", []string{"n"}, "d", floatAttr("ratio", 0.3))
		b.node("Clip", []string{"d"}, "cl", floatAttr("min", -0.5), floatAttr("max", 2))
		b.node("Pad", []string{"cl"}, "p", ints("pads", 0, 0, 1, 1, 0, 0, 1, 1), floatAttr("value", 0.25))
		b.node("MaxPool", []string{"p"}, "m", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
		b.node("Unsqueeze", []string{"m"}, "u", ints("axes", 2))
		b.node("Squeeze", []string{"u"}, "s", ints("axes", 2))
		b.node("Softmax", []string{"s"}, "h", intAttr("axis", 1))
	}},
	{name: "opset 9: Slice's and Split's attributes, ReduceSum's axes, LogSoftmax on the last axis", opset: 9, side: 8, features: 4 * 6 * 1, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 4)
		b.node("Slice", []string{"c"}, "sl", ints("starts", 1, 1), ints("ends", 7, 7), ints("axes", 2, 3))
		b.node("Split", []string{"sl"}, "top", intAttr("axis", 1), ints("split", 1, 3))
		b.nodes[len(b.nodes)-1].Output = []string{"top", "rest"}
		b.node("Concat", []string{"rest", "top"}, "cat", intAttr("axis", 1))
		b.node("ReduceSum", []string{"cat"}, "r", ints("axes", 3), intAttr("keepdims", 1))
		b.node("LogSoftmax", []string{"r"}, "h", intAttr("axis", 3))
	}},
	{name: "opset 11: Squeeze's axes, Clip's inputs kept, a final Softmax at axis 1 of 2", opset: 11, side: 6, softmax: true, features: 3 * 6, nodes: func(b *builder) {
		conv3(b, "x", "c", 1, 3)
		b.node("Clip", []string{"c", b.scalar(0, false), b.scalar(6, false)}, "cl")
		b.node("ReduceMean", []string{"cl"}, "r", ints("axes", 3), intAttr("keepdims", 1))
		b.node("Squeeze", []string{"r"}, "h", ints("axes", 3))
	}},
}

// TestUpgradeTo13KeepsMeaning: each graph rewritten to opset 13 loads in
// ONNX Runtime and gives its outputs for the file as written, and the
// backend gives the same on the rewritten graph.
func TestUpgradeTo13KeepsMeaning(t *testing.T) {
	const n = 6
	dir := t.TempDir()
	var jobs []testtool.ORTJob
	var inputs [][]float32
	for i, gc := range opset13Cases {
		old, now := filepath.Join(dir, fmt.Sprintf("old%d.onnx", i)), filepath.Join(dir, fmt.Sprintf("new%d.onnx", i))
		proto := gc.model(uint64(40 + i))
		writeModel(t, proto, old)
		m, err := onnx.Decode(proto)
		if err != nil {
			t.Fatal(err)
		}
		if err := onnx.UpgradeTo13(m); err != nil {
			t.Fatalf("%s: %v", gc.name, err)
		}
		if m.Opset != onnx.ModernOpset || m.Opsets[""] != onnx.ModernOpset {
			t.Errorf("%s: opset %d after the upgrade", gc.name, m.Opset)
		}
		up, err := onnx.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		writeModel(t, up, now)
		x := randomImages(n, gc.side)
		for _, path := range []string{old, now} {
			jobs = append(jobs, testtool.ORTJob{Model: path, N: n, C: 1, H: gc.side, W: gc.side})
			inputs = append(inputs, x)
		}
	}
	outs := ortOutputs(t, jobs, inputs)
	for i, gc := range opset13Cases {
		t.Run(gc.name, func(t *testing.T) {
			before, after := outs[2*i], outs[2*i+1]
			compare(t, "ONNX Runtime, rewritten against as written", after, before)
			p, err := Open(jobs[2*i+1].Model)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, n*10)
			if err := p.Logits(got, inputs[2*i], n); err != nil {
				t.Fatal(err)
			}
			if gc.softmax { // the plan gives the log of a final Softmax
				for i := range got {
					got[i] = float32(math.Exp(float64(got[i])))
				}
			}
			compare(t, "lenetkit on the rewritten graph", got, before)
		})
	}
}

// TestUpgradeTo13Refuses: what changed meaning without a rewrite here is
// refused as unsupported, and the graph is not half rewritten into a
// file's opset 13.
func TestUpgradeTo13Refuses(t *testing.T) {
	cases := []struct {
		name  string
		opset int64
		node  func(b *builder)
	}{
		{"Upsample", 9, func(b *builder) {
			b.node("Upsample", []string{"x", b.ints(1, 1, 2, 2)}, "h")
		}},
		{"BatchNormalization per element", 8, func(b *builder) {
			b.node("BatchNormalization", []string{"x", b.positive(1), b.weight(1), b.weight(1), b.positive(1)}, "h", intAttr("spatial", 0))
		}},
		{"Clip with an input and an attribute", 10, func(b *builder) {
			b.node("Clip", []string{"x", b.scalar(0, false)}, "h", floatAttr("max", 6))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gc := graphCase{opset: c.opset, side: 4, features: 16, nodes: c.node}
			m, err := onnx.Decode(gc.model(1))
			if err != nil {
				t.Fatal(err)
			}
			err = onnx.UpgradeTo13(m)
			var up *onnx.UpgradeError
			if !errors.Is(err, onnx.ErrUnsupported) || !errors.As(err, &up) || up.Opset != c.opset {
				t.Fatalf("error %v, want an UpgradeError at opset %d that is ErrUnsupported", err, c.opset)
			}
			if m.Opset != c.opset {
				t.Errorf("opset %d after a refused upgrade, want %d", m.Opset, c.opset)
			}
		})
	}
}
