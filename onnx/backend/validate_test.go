package backend

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// writeLeNet writes lenetkit's export of a LeNet, changed by edit, and
// returns its path.
func writeLeNet(t *testing.T, sd lenet.StateDict, edit func(g *onnx.GraphProto)) string {
	t.Helper()
	m, err := onnx.FromStateDict(sd, onnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m.Graph)
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenValidates: the backend reads only what onnx.Validate, the limits
// and the finiteness check let through, and a graph at the node limit
// compiles quickly.
func TestOpenValidates(t *testing.T) {
	identities := func(n int) func(g *onnx.GraphProto) {
		return func(g *onnx.GraphProto) {
			var ids []*onnx.NodeProto
			for i := range n {
				in := "input"
				if i > 0 {
					in = fmt.Sprint("id", i-1)
				}
				ids = append(ids, &onnx.NodeProto{OpType: "Identity", Input: []string{in}, Output: []string{fmt.Sprint("id", i)}})
			}
			g.Node[0].Input[0] = fmt.Sprint("id", n-1)
			g.Node = append(ids, g.Node...)
		}
	}
	nan := lenet.Init(5)
	nan.Lookup("conv_layers.4.bias").F32[2] = float32(math.Inf(1))
	cases := []struct {
		name string
		path string
		want string
	}{
		{"self-loop", writeLeNet(t, lenet.Init(5), func(g *onnx.GraphProto) { g.Node[1].Input = append(g.Node[1].Input, "relu1") }),
			`invalid graph: node 1 (Relu "relu1") takes "relu1", its own output: a self-loop`},
		{"too many nodes", writeLeNet(t, lenet.Init(5), identities(modelfile.MaxGraphNodes)),
			fmt.Sprintf("the graphs hold more than %d nodes, refused", modelfile.MaxGraphNodes)},
		{"infinite weight", writeLeNet(t, nan, nil), `tensor "conv_layers.4.bias" holds 1 non-finite value(s) of 64, the first +Inf at element 2`},
	}
	for _, c := range cases {
		_, err := OpenWith(c.path, modelfile.ReadOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), "onnx: "+c.path+": ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := OpenWith(cases[2].path, modelfile.ReadOptions{AllowNonFinite: true}); err != nil {
		t.Errorf("infinite weight allowed: %v", err)
	}
	path := writeLeNet(t, lenet.Init(5), identities(modelfile.MaxGraphNodes-15))
	start := time.Now()
	p, err := OpenWith(path, modelfile.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, 10)
	if err := p.Logits(logits, make([]float32, 32*32), 1); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%d nodes took %v to compile and run", modelfile.MaxGraphNodes, d)
	}
}
