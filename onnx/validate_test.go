package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// lenetModel is lenetkit's export of a LeNet, changed by edit.
func lenetModel(t testing.TB, edit func(g *GraphProto)) *ModelProto {
	t.Helper()
	m, err := FromStateDict(lenet.Init(3), ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m.Graph)
	}
	return m
}

func constantNode(name, output string, input ...string) *NodeProto {
	return &NodeProto{Name: name, OpType: "Constant", Input: input, Output: []string{output},
		Attribute: []*AttributeProto{{Name: "value", Type: AttributeProto_TENSOR, T: floatTensor("", []int{1}, []float32{1})}}}
}

func identities(n int, from string) []*NodeProto {
	var ns []*NodeProto
	for i := range n {
		in := from
		if i > 0 {
			in = fmt.Sprint("id", i-1)
		}
		ns = append(ns, &NodeProto{OpType: "Identity", Input: []string{in}, Output: []string{fmt.Sprint("id", i)}})
	}
	return ns
}

// nested returns depth+1 graphs: depth levels of If nodes, each nesting
// the next graph in its then_branch, around an empty one.
func nested(depth int) *GraphProto {
	g := &GraphProto{}
	for range depth {
		g = &GraphProto{Node: []*NodeProto{{OpType: "If", Attribute: []*AttributeProto{{Name: "then_branch", Type: AttributeProto_GRAPH, G: g}}}}}
	}
	return g
}

// TestValidate: each rule of Validate refuses a graph that breaks it alone,
// through Validate, Unmarshal (a file) and ToStateDict, with one line.
func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(g *GraphProto)
		want string
	}{
		{"cycle", func(g *GraphProto) {
			g.Node[0].Input[1] = "w"
			c := constantNode("c", "w", "relu2")
			c.Attribute[0].T = g.Initializer[0]
			g.Node = append(g.Node, c)
		}, `node 0 (Conv "conv1") takes "w" from node 15 (Constant "c"), which depends on it: the graph has a cycle`},
		{"self-loop", func(g *GraphProto) {
			g.Node[1].Input = append(g.Node[1].Input, "relu1")
		}, `node 1 (Relu "relu1") takes "relu1", its own output: a self-loop`},
		{"nothing produces", func(g *GraphProto) {
			g.Node[3].Input[0] = "nowhere"
		}, `node 3 (MaxPool "pool1") takes "nowhere", which nothing produces`},
		{"two producers", func(g *GraphProto) {
			g.Node = append(g.Node, constantNode("again", "relu1"))
		}, `value "relu1" is produced twice: by node 1 (Relu "relu1") and by node 15 (Constant "again")`},
		{"node output is a graph input", func(g *GraphProto) {
			g.Node[1].Output[0] = "input"
			g.Node[2].Input[0] = "input"
		}, `value "input" is produced twice: by a graph input and by node 1 (Relu "relu1")`},
		{"node output is an initializer", func(g *GraphProto) {
			g.Node[1].Output[0] = "conv_layers.0.bias"
		}, `value "conv_layers.0.bias" is produced twice: by an initializer and by node 1`},
		{"Constant shadowing an initializer", func(g *GraphProto) {
			g.Node = append([]*NodeProto{constantNode("shadow", "conv_layers.0.weight")}, g.Node...)
		}, `node 0 (Constant "shadow") gives "conv_layers.0.weight", an initializer's name: it would shadow the initializer`},
		{"initializer twice", func(g *GraphProto) {
			g.Initializer = append(g.Initializer, g.Initializer[0])
		}, `two initializers are named "conv_layers.0.weight"`},
		{"graph input twice", func(g *GraphProto) {
			g.Input = append(g.Input, g.Input[0])
		}, `two graph inputs are named "input"`},
		{"too many nodes", func(g *GraphProto) {
			g.Node = append(identities(modelfile.MaxGraphNodes, "input"), g.Node...)
		}, fmt.Sprintf("more than %d", modelfile.MaxGraphNodes)},
		{"subgraphs too deep", func(g *GraphProto) {
			g.Node[1].Attribute = append(g.Node[1].Attribute, &AttributeProto{Name: "x", Type: AttributeProto_GRAPH, G: nested(modelfile.MaxGraphNesting - 1)})
		}, fmt.Sprintf("subgraphs nested more than %d deep, refused", modelfile.MaxGraphNesting)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := lenetModel(t, c.edit)
			err := Validate(m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: %v, want %q", err, c.want)
			}
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Unmarshal(b, "bad.onnx")
			if err == nil || !strings.HasPrefix(err.Error(), "onnx: bad.onnx: ") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Unmarshal: %v, want one line naming bad.onnx and %q", err, c.want)
			}
			if _, err := ToStateDict(m); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ToStateDict: %v, want %q", err, c.want)
			}
		})
	}

	// What the rules allow: a graph input that is also an initializer (IR
	// 3), absent optional inputs and outputs, subgraphs within the limit.
	m := lenetModel(t, func(g *GraphProto) {
		g.Input = append(g.Input, &ValueInfoProto{Name: g.Initializer[0].Name})
		g.Node[1].Input = append(g.Node[1].Input, "")
		g.Node[1].Output = append(g.Node[1].Output, "")
		g.Node[1].Attribute = append(g.Node[1].Attribute, &AttributeProto{Name: "x", Type: AttributeProto_GRAPH, G: nested(modelfile.MaxGraphNesting - 2)})
	})
	if err := Validate(m); err != nil {
		t.Errorf("valid graph refused: %v", err)
	}

	// Nodes out of order, as keras2onnx 1.5.1 writes them: valid, and
	// Decode sorts them.
	m = lenetModel(t, func(g *GraphProto) {
		g.Node[0].Input[1] = "w"
		c := constantNode("", "w")
		c.Attribute[0].T = g.Initializer[0]
		g.Node = append(g.Node, c)
	})
	if err := Validate(m); err != nil {
		t.Fatalf("nodes out of order refused: %v", err)
	}
	d, err := Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Graph.Reordered || d.Graph.Nodes[0].OpType != "Constant" || d.Graph.Nodes[1].OpType != "Conv" {
		t.Errorf("Decode: reordered %v, first nodes %s, %s; want the Constant moved before the Conv",
			d.Graph.Reordered, d.Graph.Nodes[0].OpType, d.Graph.Nodes[1].OpType)
	}
}

// TestSeedGraphNodes: a LeNet graph padded with Identity nodes past
// modelfile.MaxSeedGraphNodes is not read as the seed's network.
func TestSeedGraphNodes(t *testing.T) {
	pad := func(n int) *ModelProto {
		return lenetModel(t, func(g *GraphProto) {
			g.Node[0].Input[0] = fmt.Sprint("id", n-1)
			g.Node = append(identities(n, "input"), g.Node...)
		})
	}
	if _, err := ToStateDict(pad(modelfile.MaxSeedGraphNodes - 15)); err != nil {
		t.Errorf("%d nodes: %v", modelfile.MaxSeedGraphNodes, err)
	}
	_, err := ToStateDict(pad(modelfile.MaxSeedGraphNodes - 14))
	want := fmt.Sprintf("not the seed's LeNet: the graph has %d nodes, more than the %d", modelfile.MaxSeedGraphNodes+1, modelfile.MaxSeedGraphNodes)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v, want %q", err, want)
	}
}

// deepModel is a model of depth+1 graphs, nested by If nodes, built
// on the wire from the inside out: the generated encoder would recurse.
func deepModel(depth int) []byte {
	le := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	field := func(f int, n uint64) []byte { return append(le(uint64(f)<<3|2), le(n)...) }
	op := append(field(4, 2), "If"...)
	attr := append(append(field(1, 1), 'g'), 0xa0, 0x01, 5) // name "g", type GRAPH
	var headers [][]byte
	inner := uint64(0)
	for range depth {
		a := uint64(len(attr)+len(field(6, inner))) + inner
		n := uint64(len(op)+len(field(5, a))) + a
		h := append(append(append(append(field(1, n), op...), field(5, a)...), attr...), field(6, inner)...)
		headers = append(headers, h)
		inner = uint64(len(field(1, n))) + n
	}
	var g []byte
	for i := len(headers) - 1; i >= 0; i-- {
		g = append(g, headers[i]...)
	}
	return append(field(7, uint64(len(g))), g...)
}

// TestCheckWire: nesting and node counts are bounded before the protobuf
// decoder runs, which would otherwise exhaust the stack.
func TestCheckWire(t *testing.T) {
	var err error
	testtool.Bounded(t, "200,000 nested subgraphs", testtool.HostileSeconds, func() { _, err = Unmarshal(deepModel(200_000), "deep.onnx") })
	if err == nil || err.Error() != fmt.Sprintf("onnx: deep.onnx: subgraphs nested more than %d deep, refused", modelfile.MaxGraphNesting) {
		t.Errorf("deep: %v", err)
	}
	if err := checkWire(deepModel(modelfile.MaxGraphNesting - 1)); err != nil {
		t.Errorf("%d levels: %v", modelfile.MaxGraphNesting, err)
	}
	m := lenetModel(t, func(g *GraphProto) {
		g.Node = append(identities(2*modelfile.MaxGraphNodes, "x"), g.Node...)
	})
	b, _ := Marshal(m)
	if err := checkWire(b); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the graphs hold more than %d nodes", modelfile.MaxGraphNodes)) {
		t.Errorf("nodes: %v", err)
	}
	// Malformed data is left to the decoder's own errors.
	for _, b := range [][]byte{{0x3a, 0x05, 0x0a}, {0xff}, {0x3a, 0x02, 0x0a, 0xff}, {0x0b, 0x0c}, {0x0c}} {
		if err := checkWire(b); err != nil {
			t.Errorf("% x: %v", b, err)
		}
	}
}

// TestCheckFinite: a NaN or infinity in any float tensor, initializer or
// Constant, in any encoding, is refused by name unless allowed.
func TestCheckFinite(t *testing.T) {
	le := binary.LittleEndian
	nan32 := math.Float32frombits(0x7fc00000)
	cases := []struct {
		name string
		t    *TensorProto
		want string
	}{
		{"raw float", floatTensor("w", []int{2}, []float32{1, nan32}), `tensor "w" holds 1 non-finite value(s) of 2, the first NaN at element 1`},
		{"float_data", &TensorProto{Name: "w", Dims: []int64{2}, DataType: int32(TensorProto_FLOAT), FloatData: []float32{float32(math.Inf(1)), 0}}, "the first +Inf at element 0"},
		{"double", &TensorProto{Name: "w", Dims: []int64{1}, DataType: int32(TensorProto_DOUBLE), DoubleData: []float64{math.Inf(-1)}}, "the first -Inf"},
		{"raw double", &TensorProto{Name: "w", Dims: []int64{1}, DataType: int32(TensorProto_DOUBLE), RawData: le.AppendUint64(nil, math.Float64bits(math.NaN()))}, "the first NaN"},
		{"float16", &TensorProto{Name: "w", Dims: []int64{2}, DataType: int32(TensorProto_FLOAT16), RawData: []byte{0, 0x3c, 0, 0x7c}}, "the first +Inf at element 1"},
		{"float16 in int32_data", &TensorProto{Name: "w", Dims: []int64{1}, DataType: int32(TensorProto_FLOAT16), Int32Data: []int32{0x7e00}}, "the first NaN"},
		{"bfloat16", &TensorProto{Name: "w", Dims: []int64{1}, DataType: int32(TensorProto_BFLOAT16), RawData: []byte{0x80, 0xff}}, "the first -Inf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := lenetModel(t, func(g *GraphProto) { g.Initializer = append(g.Initializer, c.t) })
			if err := CheckFinite(m, modelfile.ReadOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("initializer: %v, want %q", err, c.want)
			}
			if err := CheckFinite(m, modelfile.ReadOptions{AllowNonFinite: true}); err != nil {
				t.Errorf("allowed: %v", err)
			}
			m = lenetModel(t, func(g *GraphProto) {
				c := constantNode("", "w")
				c.Attribute[0].T = cases[0].t
				g.Node = append(g.Node, c)
			})
			if err := CheckFinite(m, modelfile.ReadOptions{}); err == nil || !strings.Contains(err.Error(), `tensor "w"`) {
				t.Errorf("Constant: %v", err)
			}
		})
	}
	f := float32(math.Inf(1))
	m := lenetModel(t, func(g *GraphProto) {
		g.Node = append(g.Node, &NodeProto{OpType: "Constant", Output: []string{"f"}, Attribute: []*AttributeProto{{Name: "value_float", F: &f}}})
	})
	if err := CheckFinite(m, modelfile.ReadOptions{}); err == nil || !strings.Contains(err.Error(), `tensor "f"`) {
		t.Errorf("value_float: %v", err)
	}
	if err := CheckFinite(lenetModel(t, nil), modelfile.ReadOptions{}); err != nil {
		t.Errorf("finite model: %v", err)
	}
	// ReadStateDict refuses by default; ReadStateDictWith can allow.
	sd := lenet.Init(2)
	sd.Lookup("fc_layer.1.bias").F32[5] = nan32
	m, err := FromStateDict(sd, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nan.onnx")
	if err := Write(path, m); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStateDict(path); err == nil || !strings.Contains(err.Error(), `onnx: `+path+`: tensor "fc_layer.1.bias" holds 1 non-finite value(s) of 64, the first NaN at element 5`) {
		t.Errorf("ReadStateDict: %v", err)
	}
	if _, err := ReadStateDictWith(path, modelfile.ReadOptions{AllowNonFinite: true}); err != nil {
		t.Errorf("ReadStateDictWith: %v", err)
	}
}

// TestHostileFiles: the hostile ONNX files of reference/hostile.py are
// refused with one line naming the file and what is wrong, quickly.
func TestHostileFiles(t *testing.T) {
	cases := []struct{ file, want string }{
		{"deep_subgraphs.onnx", "subgraphs nested more than 8 deep, refused"},
		{"identity_20000.onnx", "the graphs hold more than 4096 nodes, refused"},
		{"cycle.onnx", `invalid graph: node 0 (Conv "conv1") takes "cycle_w" from node 15 (Constant "cycle"), which depends on it: the graph has a cycle`},
		{"self_loop.onnx", `invalid graph: node 1 (Relu "relu1") takes "relu1", its own output: a self-loop`},
		{"two_producers.onnx", `invalid graph: value "relu1" is produced twice: by node 1 (Relu "relu1") and by node 15 (Constant "again")`},
		{"constant_shadow.onnx", `invalid graph: node 0 (Constant "shadow") gives "conv_layers.0.weight", an initializer's name: it would shadow the initializer`},
		{"nan.onnx", `tensor "conv_layers.0.weight" holds 1 non-finite value(s) of 288, the first NaN at element 0`},
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.file)
	}
	dir := testtool.HostileFiles(t, names...)
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			var err error
			testtool.Bounded(t, c.file, testtool.HostileSeconds, func() { _, err = modelfile.ReadWith(path, modelfile.ReadOptions{}) })
			if err == nil || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%v\nwant one line naming %s and %q", err, path, c.want)
			}
			testtool.Bounded(t, c.file, testtool.HostileSeconds, func() { _, err = modelfile.InspectWith(path, modelfile.ReadOptions{}) })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Inspect: %v, want %q", err, c.want)
			}
		})
	}
}

// FuzzUnmarshal: no input makes the ONNX reader panic, overflow the stack
// or take more than 2 s or 256 MB; whatever it accepts passes Validate,
// and the importer and the finiteness check run on it without trouble.
func FuzzUnmarshal(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "onnx", "*.onnx"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	small := &ModelProto{IrVersion: 7, OpsetImport: []*OperatorSetIdProto{{Version: 13}}, Graph: &GraphProto{
		Node:   []*NodeProto{{OpType: "Relu", Input: []string{"x"}, Output: []string{"y"}}, constantNode("c", "k")},
		Input:  []*ValueInfoProto{floatValue("x", "n", 4)},
		Output: []*ValueInfoProto{floatValue("y", "n", 4)},
	}}
	for _, edit := range []func(g *GraphProto){
		nil,
		func(g *GraphProto) { g.Node[0].Input[0] = "y" },
		func(g *GraphProto) { g.Node[1].Output[0] = "y" },
		func(g *GraphProto) { g.Node[1].Input = []string{"k"} },
		func(g *GraphProto) {
			g.Node[0].Attribute = []*AttributeProto{{Name: "g", Type: AttributeProto_GRAPH, G: nested(modelfile.MaxGraphNesting)}}
		},
	} {
		m := *small
		g := *small.Graph
		g.Node = []*NodeProto{{OpType: "Relu", Input: []string{"x"}, Output: []string{"y"}}, constantNode("c", "k")}
		m.Graph = &g
		if edit != nil {
			edit(m.Graph)
		}
		b, _ := Marshal(&m)
		f.Add(b)
	}
	f.Add(deepModel(40))
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			m   *ModelProto
			err error
		)
		testtool.Bounded(t, "Unmarshal", testtool.FuzzSeconds, func() {
			m, err = Unmarshal(b, "fuzz.onnx")
			if err == nil {
				ToStateDict(m)
				CheckFinite(m, modelfile.ReadOptions{})
			}
		})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "onnx: fuzz.onnx: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line naming the file: %q", err)
			}
			return
		}
		if err := Validate(m); err != nil {
			t.Fatalf("Unmarshal accepted what Validate refuses: %v", err)
		}
		if _, err := Marshal(m); err != nil {
			t.Fatalf("what was read does not encode again: %v", err)
		}
	})
}
