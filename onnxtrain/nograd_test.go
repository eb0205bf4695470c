package onnxtrain

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// backendOps reads the operators the inference backend registers: the
// string keys of the map literals its ops_*.go files pass to register.
// The backend has no list to export, so its source is the registry.
func backendOps(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "onnx", "backend", "ops_*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			family := defaultDomainFamily(call)
			if family == nil {
				return true
			}
			lit, ok := family.(*ast.CompositeLit)
			if !ok {
				t.Errorf("%s: register of a %T, not a map literal", path, family)
				return true
			}
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if s, ok := kv.Key.(*ast.BasicLit); ok && s.Kind == token.STRING {
					op, _ := strconv.Unquote(s.Value)
					ops = append(ops, op)
				}
			}
			return true
		})
	}
	slices.Sort(ops)
	return ops
}

// defaultDomainFamily is the family a backend call registers in the
// default domain: register(family), or registerQuant(register, family)
// for the quantized operators; nil for any other call (registerContrib's
// operators are another domain's).
func defaultDomainFamily(call *ast.CallExpr) ast.Expr {
	id, ok := call.Fun.(*ast.Ident)
	switch {
	case !ok:
	case id.Name == "register" && len(call.Args) == 1:
		return call.Args[0]
	case id.Name == "registerQuant" && len(call.Args) == 2:
		if reg, ok := call.Args[0].(*ast.Ident); ok && reg.Name == "register" {
			return call.Args[1]
		}
	}
	return nil
}

// TestEveryBackendOperatorHasAGradientOrIsRefused is the registry's
// contract: each operator the backend runs is a family of this package
// (a layer with its gradient), a constant evaluation, or listed in
// noGradient, which the builder refuses by name on a weight's path.
func TestEveryBackendOperatorHasAGradientOrIsRefused(t *testing.T) {
	ops := backendOps(t)
	if len(ops) < 50 {
		t.Fatalf("read %d operators from the backend's register calls: %v", len(ops), ops)
	}
	for _, op := range ops {
		if !backend.Supported(op) {
			t.Errorf("%s: read from the backend's source, but backend.Supported says no", op)
		}
		_, fam := families[op]
		_, k := constants[op]
		_, ng := noGradient[op]
		if !fam && !k && !ng {
			t.Errorf("%s: the backend runs it, but onnxtrain has no layer, no constant evaluation and no noGradient entry for it", op)
		}
		if fam && ng {
			t.Errorf("%s: both a family and in noGradient", op)
		}
	}
	for op := range noGradient {
		if !slices.Contains(ops, op) {
			t.Errorf("noGradient lists %s, which the backend does not run", op)
		}
	}
}

// refusalGraph is x -> Conv(W) -> mid -> Flatten -> Gemm -> scores, with
// mid the nodes given between the convolution and the flatten.
func refusalGraph(mid ...*onnx.Node) *onnx.Model {
	w := &onnx.Tensor{DType: onnx.Float, Shape: []int{2, 1, 3, 3}, Float: make([]float32, 18)}
	fc := &onnx.Tensor{DType: onnx.Float, Shape: []int{8, 3}, Float: make([]float32, 24)}
	for i := range w.Float {
		w.Float[i] = float32(i%5) / 10
	}
	g := &onnx.Graph{
		Initializers: map[string]*onnx.Tensor{"W": w, "fc": fc},
		Inputs:       []*onnx.Value{{Name: "x", DType: onnx.Float, Dims: []int64{-1, 1, 4, 4}, Params: []string{"N", "", "", ""}}},
		Outputs:      []*onnx.Value{{Name: "scores", DType: onnx.Float}},
	}
	g.Nodes = append(g.Nodes, &onnx.Node{Name: "conv", OpType: "Conv", Inputs: []string{"x", "W"}, Outputs: []string{"c"}})
	g.Nodes = append(g.Nodes, mid...)
	g.Nodes = append(g.Nodes,
		&onnx.Node{Name: "flat", OpType: "Flatten", Inputs: []string{"m"}, Outputs: []string{"f"}},
		&onnx.Node{Name: "fc", OpType: "Gemm", Inputs: []string{"f", "fc"}, Outputs: []string{"scores"}})
	for i, n := range g.Nodes {
		n.Index = i
	}
	return &onnx.Model{IRVersion: 8, Opset: 13, Graph: g}
}

// TestNoGradientRefusedByName: an operator without a gradient between a
// trained weight and the loss is refused with ErrNoGradient, naming the
// node and saying why; freezing the weights before it lifts the
// refusal of its gradient.
func TestNoGradientRefusedByName(t *testing.T) {
	for _, tc := range []struct {
		name string
		mid  []*onnx.Node
		want []string
	}{
		{"Cast to INT64", []*onnx.Node{
			{Name: "to_int", OpType: "Cast", Attrs: onnx.Attrs{"to": aInt(int64(onnx.Int64))}, Inputs: []string{"c"}, Outputs: []string{"i"}},
			{Name: "to_float", OpType: "Cast", Attrs: onnx.Attrs{"to": aInt(int64(onnx.Float))}, Inputs: []string{"i"}, Outputs: []string{"m"}},
		}, []string{`node 1 (Cast "to_int")`, "INT64"}},
		// No exporter feeds ConstantOfShape a float, but the refusal of an
		// operator of noGradient must name it and say why all the same.
		{"ConstantOfShape", []*onnx.Node{
			{Name: "fill", OpType: "ConstantOfShape", Inputs: []string{"c"}, Outputs: []string{"k"}},
			{Name: "add", OpType: "Add", Inputs: []string{"c", "k"}, Outputs: []string{"m"}},
		}, []string{`node 1 (ConstantOfShape "fill")`, noGradient["ConstantOfShape"]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(refusalGraph(tc.mid...), Options{Batch: 2})
			if !errors.Is(err, ErrNoGradient) {
				t.Fatalf("got %v, want ErrNoGradient", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			// With the convolution frozen nothing before the node is
			// trained: it is no longer a gradient's refusal.
			_, err = New(refusalGraph(tc.mid...), Options{Batch: 2, Freeze: []string{"W"}})
			if errors.Is(err, ErrNoGradient) {
				t.Errorf("frozen: %v", err)
			}
		})
	}
}

// TestNewLayersTrainInAGraph builds a classifier through several of the
// new families (PRelu with its trained slope, LRN, GlobalMaxPool, Split
// and Concat, ReduceMean) and checks a weight's gradient end to end.
func TestNewLayersTrainInAGraph(t *testing.T) {
	slope := &onnx.Tensor{DType: onnx.Float, Shape: []int{2, 1, 1}, Float: []float32{0.25, 0.1}}
	m := refusalGraph(
		&onnx.Node{Name: "prelu", OpType: "PRelu", Inputs: []string{"c", "slope"}, Outputs: []string{"p"}},
		&onnx.Node{Name: "lrn", OpType: "LRN", Attrs: onnx.Attrs{"size": aInt(3), "alpha": aFloat(0.1)}, Inputs: []string{"p"}, Outputs: []string{"l"}},
		&onnx.Node{Name: "split", OpType: "Split", Attrs: onnx.Attrs{"axis": aInt(1)}, Inputs: []string{"l"}, Outputs: []string{"s0", "s1"}},
		&onnx.Node{Name: "gmp", OpType: "GlobalMaxPool", Inputs: []string{"s0"}, Outputs: []string{"g"}},
		&onnx.Node{Name: "mean", OpType: "ReduceMean", Attrs: onnx.Attrs{"axes": aInts(2, 3)}, Inputs: []string{"s1"}, Outputs: []string{"r"}},
		&onnx.Node{Name: "cat", OpType: "Concat", Attrs: onnx.Attrs{"axis": aInt(1)}, Inputs: []string{"g", "r"}, Outputs: []string{"m"}},
	)
	m.Graph.Initializers["slope"] = slope
	m.Graph.Initializers["fc"].Shape = []int{2, 3}
	m.Graph.Initializers["fc"].Float = []float32{0.3, -0.2, 0.1, -0.4, 0.5, 0.2}
	net, err := New(m, Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	var names []string
	for _, p := range net.Params() {
		names = append(names, p.Name)
	}
	if !slices.Contains(names, "slope") {
		t.Fatalf("trained weights %v: PRelu's slope is missing", names)
	}
	x := make([]float32, 2*16)
	for i := range x {
		x[i] = float32((i*7)%11)/5 - 1
	}
	labels := []int64{0, 2}
	if _, err := net.Step(x, labels); err != nil {
		t.Fatal(err)
	}
	for i, p := range net.Params() {
		grad := slices.Clone(net.Grad(i))
		for _, j := range []int{0, len(p.Data) - 1} {
			const h = 1e-3
			old := p.Data[j]
			p.Data[j] = old + h
			up, _ := net.Step(x, labels)
			p.Data[j] = old - h
			down, _ := net.Step(x, labels)
			p.Data[j] = old
			if fd := (up - down) / (2 * h); abs(float64(grad[j])-fd) > 2e-3*(1+abs(fd)) {
				t.Errorf("%s[%d]: gradient %g, finite difference %g", p.Name, j, grad[j], fd)
			}
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
