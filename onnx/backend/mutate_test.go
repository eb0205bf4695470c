package backend

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/onnx"
)

// The values a mutation writes where a model has an integer or a float:
// the edges of each range and of each check.
var (
	intEdges   = []int64{-1, 0, 1, 2, 1<<31 - 1, 1 << 31, 1 << 62, math.MaxInt64, math.MinInt64}
	floatEdges = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), -1, 0, 1e30}
)

// mutation changes one thing of a model: where names it for errors.
type mutation struct {
	where string
	apply func(m *onnx.ModelProto)
}

// mutations are the single changes of m that the byte fuzzer rarely
// makes, a protobuf being hard to mutate into another valid one: every
// integer and float attribute, int64 initializer value, dimension of an
// initializer or of the input set to each edge value, each node's last
// input and its outputs dropped, each opset the backend reads.
func mutations(m *onnx.ModelProto) []mutation {
	var out []mutation
	add := func(where string, f func(m *onnx.ModelProto)) { out = append(out, mutation{where, f}) }
	for i, n := range m.Graph.Node {
		for j, a := range n.Attribute {
			at := fmt.Sprintf("node %d (%s) attribute %s", i, n.OpType, a.Name)
			switch {
			case a.I != nil:
				for _, v := range intEdges {
					add(fmt.Sprint(at, " = ", v), func(m *onnx.ModelProto) { *m.Graph.Node[i].Attribute[j].I = v })
				}
			case a.F != nil:
				for _, v := range floatEdges {
					add(fmt.Sprint(at, " = ", v), func(m *onnx.ModelProto) { *m.Graph.Node[i].Attribute[j].F = v })
				}
			case len(a.Ints) > 0:
				for k := range a.Ints {
					for _, v := range intEdges {
						add(fmt.Sprint(at, "[", k, "] = ", v), func(m *onnx.ModelProto) { m.Graph.Node[i].Attribute[j].Ints[k] = v })
					}
				}
				add(at+" shortened", func(m *onnx.ModelProto) {
					m.Graph.Node[i].Attribute[j].Ints = m.Graph.Node[i].Attribute[j].Ints[1:]
				})
			}
		}
		if len(n.Input) > 0 {
			add(fmt.Sprintf("node %d (%s) without its last input", i, n.OpType), func(m *onnx.ModelProto) {
				m.Graph.Node[i].Input = m.Graph.Node[i].Input[:len(m.Graph.Node[i].Input)-1]
			})
		}
		add(fmt.Sprintf("node %d (%s) without outputs", i, n.OpType), func(m *onnx.ModelProto) { m.Graph.Node[i].Output = nil })
	}
	for i, t := range m.Graph.Initializer {
		for k := range min(len(t.Int64Data), 8) {
			for _, v := range intEdges {
				add(fmt.Sprintf("initializer %s[%d] = %d", t.Name, k, v), func(m *onnx.ModelProto) { m.Graph.Initializer[i].Int64Data[k] = v })
			}
		}
		for k := range t.Dims {
			for _, v := range []int64{-1, 0, 1 << 31, 1 << 62} {
				add(fmt.Sprintf("initializer %s dims[%d] = %d", t.Name, k, v), func(m *onnx.ModelProto) { m.Graph.Initializer[i].Dims[k] = v })
			}
		}
	}
	for k := 1; k < 4; k++ {
		for _, v := range []int64{0, 1, 4096, 4097, 1 << 62} {
			add(fmt.Sprintf("input dims[%d] = %d", k, v), func(m *onnx.ModelProto) {
				if t := m.Graph.Input[0].GetType().GetTensorType(); t != nil && len(t.GetShape().GetDim()) > k {
					t.Shape.Dim[k].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: v}
				}
			})
		}
	}
	for _, v := range []int64{7, 9, 11, 13, 21} {
		add(fmt.Sprint("opset ", v), func(m *onnx.ModelProto) { m.OpsetImport[0].Version = v })
	}
	return out
}

// TestMutatedModels: no single change of the tests' and the hostile
// models makes the backend panic or pass 2 s or 256 MB to open, compile
// and classify an image; every refusal is one line naming the file.
func TestMutatedModels(t *testing.T) {
	var bases []*onnx.ModelProto
	for i, gc := range graphCases {
		bases = append(bases, gc.model(uint64(i)))
	}
	for _, c := range hostileCases() {
		bases = append(bases, c.m)
	}
	if testing.Short() {
		bases = bases[:3]
	}
	dir := hostileDir(t)
	runs, compiled := 0, 0
	start := time.Now()
	for bi, base := range bases {
		data, err := onnx.Marshal(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, mu := range mutations(base) {
			m := &onnx.ModelProto{}
			if err := m.Unmarshal(data); err != nil {
				t.Fatal(err)
			}
			mu.apply(m)
			b, err := onnx.Marshal(m)
			if err != nil {
				continue
			}
			what := fmt.Sprintf("model %d (%s), %s", bi, base.Graph.Name, mu.where)
			var p *Plan
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s: panic: %v", what, r)
					}
				}()
				testtool.Bounded(t, what, testtool.FuzzSeconds, func() {
					if p, err = open(b, "mutated.onnx", dir, Options{}); err == nil {
						y := make([]float32, p.Outputs)
						err = p.Logits(y, make([]float32, p.Channels*p.Height*p.Width), 1)
					}
				})
			}()
			runs++
			if err == nil {
				compiled++
			} else if !strings.HasPrefix(err.Error(), "onnx: mutated.onnx: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error is not one line naming the file: %q", what, err)
			}
		}
	}
	t.Logf("%d mutated models, %d compiled and ran, in %v", runs, compiled, time.Since(start).Round(time.Millisecond))
}
