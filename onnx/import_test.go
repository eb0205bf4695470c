package onnx

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// equalStateDicts fails unless a and b hold the same names, shapes and
// values, float32 compared bit for bit (so NaN and -0 count too).
func equalStateDicts(t *testing.T, got, want lenet.StateDict, skipInt64 bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d tensors, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || g.DType != w.DType || fmt.Sprint(g.Shape) != fmt.Sprint(w.Shape) {
			t.Errorf("tensor %d: %s %v %v, want %s %v %v", i, g.Name, g.DType, g.Shape, w.Name, w.DType, w.Shape)
			continue
		}
		if w.DType == lenet.Int64 {
			if !skipInt64 && fmt.Sprint(g.I64) != fmt.Sprint(w.I64) {
				t.Errorf("%s = %v, want %v", w.Name, g.I64, w.I64)
			}
			continue
		}
		diff := 0
		for j := range w.F32 {
			if j >= len(g.F32) || bits(g.F32[j]) != bits(w.F32[j]) {
				diff++
			}
		}
		if diff > 0 || len(g.F32) != len(w.F32) {
			t.Errorf("%s: %d of %d values differ", w.Name, diff, len(w.F32))
		}
	}
}

// TestRoundTrip exports and imports back, through the file format, at every
// opset: the state dict must come back bit for bit, counters included.
func TestRoundTrip(t *testing.T) {
	odd := lenet.Init(7)
	// Values that a lossy path would change: a NaN payload, -0, a
	// subnormal, and counters no training run gives.
	w := odd.Lookup("fc_layer.3.weight").F32
	w[0], w[1], w[2] = fromBits(0x7fc12345), fromBits(0x80000000), fromBits(0x00000001)
	for i, name := range []string{"conv_layers.2", "conv_layers.6", "conv_layers.10"} {
		odd.Lookup(name + ".num_batches_tracked").I64[0] = int64(1)<<40 + int64(i)
	}
	sds := map[string]lenet.StateDict{"initial": lenet.Init(1), "odd values": odd}
	if _, err := os.Stat(trainedPTH); err == nil {
		sds["trained"] = trainedStateDict(t)
	}
	dir := t.TempDir()
	for name, sd := range sds {
		for opset := MinOpset; opset <= MaxOpset; opset++ {
			t.Run(fmt.Sprintf("%s opset %d", name, opset), func(t *testing.T) {
				m, err := FromStateDict(sd, ExportOptions{Opset: opset})
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, "model.onnx")
				if err := Write(path, m); err != nil {
					t.Fatal(err)
				}
				// NaN travels bit for bit where it is allowed.
				got, err := ReadStateDictWith(path, modelfile.ReadOptions{AllowNonFinite: true})
				if err != nil {
					t.Fatal(err)
				}
				equalStateDicts(t, got, sd, false)
			})
		}
	}
}

// TestImportWithoutCounters reads a model without lenetkit's metadata: the
// counters are 0, as in a state dict nothing has trained.
func TestImportWithoutCounters(t *testing.T) {
	sd := lenet.Init(3)
	for _, p := range lenet.Params() {
		if p.DType == lenet.Int64 {
			sd.Lookup(p.Name).I64[0] = 99
		}
	}
	m, err := FromStateDict(sd, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.MetadataProps = nil
	got, err := ToStateDict(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lenet.Params() {
		if p.DType == lenet.Int64 {
			if v := got.Lookup(p.Name).I64; len(v) != 1 || v[0] != 0 {
				t.Errorf("%s = %v, want [0]", p.Name, v)
			}
		}
	}
}

// TestImportTorchExports reads torch.onnx.export's graphs of a trained
// state dict at every opset, named and plain: the weights must be the
// state dict's, bit for bit. torch writes no counters; they read as 0.
func TestImportTorchExports(t *testing.T) {
	py := requireTorch(t)
	sd := trainedStateDict(t)
	for _, kind := range torchExportKinds {
		for opset := MinOpset; opset <= MaxOpset; opset++ {
			t.Run(fmt.Sprintf("%s opset %d", kind.name, opset), func(t *testing.T) {
				path := torchExportPath(t, py, kind, opset)
				m, err := Read(path)
				if err != nil {
					t.Fatal(err)
				}
				if m.ProducerName != "pytorch" {
					t.Fatalf("producer %q: not a torch export", m.ProducerName)
				}
				got, err := ToStateDict(m)
				if err != nil {
					t.Fatal(err)
				}
				equalStateDicts(t, got, sd, true)
				for _, p := range lenet.Params() {
					if p.DType == lenet.Int64 && got.Lookup(p.Name).I64[0] != 0 {
						t.Errorf("%s = %d, want 0 (torch writes no counters)", p.Name, got.Lookup(p.Name).I64[0])
					}
				}
			})
		}
	}
}

// TestImportByStructure renames every value and initializer of an export
// and stores weights as float_data instead of raw bytes: import must not
// care.
func TestImportByStructure(t *testing.T) {
	sd := lenet.Init(5)
	m, err := FromStateDict(sd, ExportOptions{Opset: 11})
	if err != nil {
		t.Fatal(err)
	}
	rename := map[string]string{}
	newName := func(s string) string {
		if r, ok := rename[s]; ok {
			return r
		}
		rename[s] = fmt.Sprintf("onnx::Conv_%d", 100+len(rename))
		return rename[s]
	}
	g := m.Graph
	for _, init := range g.Initializer {
		init.Name = newName(init.Name)
		v, err := floats(init)
		if err != nil {
			t.Fatal(err)
		}
		init.RawData, init.FloatData = nil, v
	}
	// Reverse the initializers' order too: only the node inputs tell which is which.
	for i, j := 0, len(g.Initializer)-1; i < j; i, j = i+1, j-1 {
		g.Initializer[i], g.Initializer[j] = g.Initializer[j], g.Initializer[i]
	}
	for _, n := range g.Node {
		n.Name = ""
		for i := range n.Input {
			n.Input[i] = newName(n.Input[i])
		}
		for i := range n.Output {
			n.Output[i] = newName(n.Output[i])
		}
	}
	g.Input[0].Name = newName(g.Input[0].Name)
	g.Output[0].Name = newName(g.Output[0].Name)
	got, err := ToStateDict(m)
	if err != nil {
		t.Fatal(err)
	}
	equalStateDicts(t, got, sd, false)
}

// TestImportErrors feeds files that are not ONNX, and ONNX graphs that are
// not this network: each gives one line naming the file and the difference.
func TestImportErrors(t *testing.T) {
	good, err := FromStateDict(lenet.Init(2), ExportOptions{Opset: 13})
	if err != nil {
		t.Fatal(err)
	}
	goodBytes, err := Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(g *GraphProto)) []byte {
		m, err := Unmarshal(goodBytes, "good")
		if err != nil {
			t.Fatal(err)
		}
		f(m.Graph)
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	node := func(g *GraphProto, op string, k int) *NodeProto {
		for _, n := range g.Node {
			if n.OpType == op {
				if k == 0 {
					return n
				}
				k--
			}
		}
		t.Fatalf("no %s", op)
		return nil
	}
	attr := func(n *NodeProto, name string) *AttributeProto {
		for _, a := range n.Attribute {
			if a.Name == name {
				return a
			}
		}
		t.Fatalf("%s has no attribute %s", n.Name, name)
		return nil
	}
	init := func(g *GraphProto, name string) *TensorProto {
		for _, i := range g.Initializer {
			if i.Name == name {
				return i
			}
		}
		t.Fatalf("no initializer %s", name)
		return nil
	}
	other, err := os.ReadFile(filepath.Join("..", "testdata", "onnx", "mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not an ONNX model: no graph"},
		{"text", []byte("conv_layers.0.weight,0.1,0.2\n"), "not an ONNX model"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x1c"), "not an ONNX model"},
		{"truncated", goodBytes[:len(goodBytes)/2], "not an ONNX model: truncated protobuf data"},
		{"another network (torch MLP)", other, "not the seed's LeNet: node 0 is Flatten, expected Conv"},
		{"Add for BatchNormalization", mutate(func(g *GraphProto) {
			n := node(g, "BatchNormalization", 1)
			n.OpType, n.Input, n.Attribute = "Add", n.Input[:2], nil
		}), "not the seed's LeNet: node 6 is Add, expected BatchNormalization"},
		{"BatchNorm before ReLU", mutate(func(g *GraphProto) {
			g.Node[1].OpType, g.Node[2].OpType = "BatchNormalization", "Relu"
		}), "not the seed's LeNet: node 1 is BatchNormalization, expected Relu"},
		{"5x5 kernel", mutate(func(g *GraphProto) {
			n := node(g, "Conv", 0)
			attr(n, "kernel_shape").Ints = []int64{5, 5}
		}), "node 0 (Conv): attribute kernel_shape is [5, 5], expected [3, 3]"},
		{"wider conv", mutate(func(g *GraphProto) {
			// Well-formed, data and all: Decode reads every tensor first.
			i := init(g, "conv_layers.4.weight")
			i.Dims, i.RawData = []int64{64, 32, 3, 4}, make([]byte, 4*64*32*3*4)
		}), `node 4 (Conv): input 1 (conv_layers.4.weight) has shape [64, 32, 3, 4], expected [64, 32, 3, 3]`},
		{"pool 2 for 4", mutate(func(g *GraphProto) {
			n := node(g, "MaxPool", 1)
			attr(n, "kernel_shape").Ints = []int64{2, 2}
		}), "node 7 (MaxPool): attribute kernel_shape is [2, 2], expected [4, 4]"},
		{"weights as a computed value", mutate(func(g *GraphProto) {
			node(g, "Gemm", 0).Input[1] = "relu1"
		}), `node 13 (Gemm): input 1 (fc_layer.1.weight) "relu1" is not a constant`},
		{"float64 weights", mutate(func(g *GraphProto) {
			i := init(g, "fc_layer.3.bias")
			i.DataType, i.RawData = int32(TensorProto_DOUBLE), make([]byte, 8*10)
		}), `node 14 (Gemm): input 2 (fc_layer.3.bias): tensor "fc_layer.3.bias" is DOUBLE, expected FLOAT`},
		{"short weights", mutate(func(g *GraphProto) {
			i := init(g, "conv_layers.0.bias")
			i.RawData = i.RawData[:8]
		}), `tensor "conv_layers.0.bias" of shape [32] has 8 bytes of data, expected 128`},
		{"external data", mutate(func(g *GraphProto) {
			i := init(g, "conv_layers.8.weight")
			i.RawData, i.DataLocation = nil, TensorProto_EXTERNAL
			i.ExternalData = []*StringStringEntryProto{{Key: "location", Value: "weights.bin"}}
		}), `tensor "conv_layers.8.weight" is stored in an external file, which is not supported`},
		{"missing last layer", mutate(func(g *GraphProto) {
			g.Node = g.Node[:len(g.Node)-1]
		}), "not the seed's LeNet: the graph ends after 14 of the network's 15 layers, expected Gemm next"},
		{"extra softmax", mutate(func(g *GraphProto) {
			g.Node = append(g.Node, &NodeProto{OpType: "Softmax", Input: []string{"logits"}, Output: []string{"probs"}})
			g.Output[0].Name = "probs"
		}), "not the seed's LeNet: node 15 is Softmax, expected the end of the graph"},
		{"branch", mutate(func(g *GraphProto) {
			g.Node[3].Input[0] = "relu1"
		}), `not the seed's LeNet: node 3 (MaxPool) does not take "bn1", the output of the node before it`},
		{"two data inputs", mutate(func(g *GraphProto) {
			g.Input = append(g.Input, floatValue("mask", "batch", 10))
		}), `not the seed's LeNet: the graph has 2 data inputs ["input", "mask"], expected 1`},
		{"RGB input", mutate(func(g *GraphProto) {
			g.Input[0] = floatValue("input", "batch", 3, 32, 32)
		}), `not the seed's LeNet: input "input" has shape [batch, 3, 32, 32], expected [batch, 1, 32, 32]`},
		{"training-mode BatchNorm", mutate(func(g *GraphProto) {
			node(g, "BatchNormalization", 2).Attribute = append(node(g, "BatchNormalization", 2).Attribute, attrInt("training_mode", 1))
		}), "node 10 (BatchNormalization): attribute training_mode is 1, expected 0 (inference)"},
		{"Unsqueeze not undone", mutate(func(g *GraphProto) {
			fc2 := g.Node[len(g.Node)-1]
			u := &NodeProto{OpType: "Unsqueeze", Input: []string{"fc1"}, Output: []string{"u"}, Attribute: []*AttributeProto{attrInts("axes", 0)}}
			fc2.Input[0] = "u"
			g.Node = append(g.Node[:len(g.Node)-1], u, fc2)
		}), "not the seed's LeNet: node 15 is Gemm, expected the Squeeze undoing the Unsqueeze of node 14"},
		{"counter not a number", func() []byte {
			m, _ := Unmarshal(goodBytes, "good")
			for _, p := range m.MetadataProps {
				if p.Key == "conv_layers.2.num_batches_tracked" {
					p.Value = "many"
				}
			}
			b, _ := Marshal(m)
			return b
		}(), `metadata conv_layers.2.num_batches_tracked is "many", not an integer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "model.onnx")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadStateDict(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "onnx: "+path+": ") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error:\n  %s\nwant one line starting %q containing\n  %s", msg, "onnx: "+path+": ", tc.want)
			}
		})
	}
}

func bits(f float32) uint32     { return math.Float32bits(f) }
func fromBits(b uint32) float32 { return math.Float32frombits(b) }

// TestImportNodesOutOfOrder reads an export whose nodes are written in
// reverse, with a weight from a Constant node placed last, as keras2onnx
// 1.5 writes graphs: Decode sorts the nodes, and the import matches them
// in that order.
func TestImportNodesOutOfOrder(t *testing.T) {
	sd := lenet.Init(4)
	m, err := FromStateDict(sd, ExportOptions{Opset: 13})
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	slices.Reverse(g.Node)
	// conv_layers.0.bias as a Constant node's value, not an initializer.
	k := slices.IndexFunc(g.Initializer, func(p *TensorProto) bool { return p.Name == "conv_layers.0.bias" })
	bias := g.Initializer[k]
	g.Initializer = slices.Delete(g.Initializer, k, k+1)
	g.Node = append(g.Node, &NodeProto{OpType: "Constant", Output: []string{bias.Name},
		Attribute: []*AttributeProto{{Name: "value", Type: AttributeProto_TENSOR, T: bias}}})
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "reversed.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStateDict(path)
	if err != nil {
		t.Fatal(err)
	}
	equalStateDicts(t, got, sd, false)

	// A difference is reported at the node's position in the file.
	g.Node[len(g.Node)-2].OpType = "Sigmoid" // the first Conv, reversed
	if _, err := ToStateDict(m); err == nil || !strings.Contains(err.Error(), "node 14 is Sigmoid, expected Conv") {
		t.Errorf("ToStateDict: %v, want node 14 named", err)
	}
}
