package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// A conv block's channels-last map, flattened, is read by a dense layer
// in (H, W, C) order, the layer's weights permuted to match (no layout
// step), but by any other reader in ONNX's (C, H, W) order. The tests
// build the graph Conv 3x3 -> Relu -> BatchNormalization -> MaxPool 2
// (a fused block) -> Flatten -> a dense layer "y", with another reader of
// the flattened values beside it or not, and check every output against
// the same graph computed here, channels-first, naively.

const (
	flatSide  = 8
	flatC     = 8
	flatPix   = flatSide / 2 * flatSide / 2
	flatWidth = flatC * flatPix
	flatOut   = 20 // more outputs than a gemvStep takes: packed, batched
)

type denseKind int

const (
	gemmTransB denseKind = iota // Gemm, weights [out][in]
	gemmPlain                   // Gemm, weights [in][out]
	matmulAdd                   // MatMul then Add of a bias
)

func (k denseKind) String() string { return [...]string{"Gemm transB", "Gemm", "MatMul+Add"}[k] }

// flatModel returns the graph, its weights by name, and the names of its
// outputs: "y" first, then "s" (Softmax of the flattened values) or "f"
// (them, through Identity) as reader says.
func flatModel(kind denseKind, reader string) (*onnx.ModelProto, map[string][]float32, []string) {
	b := &builder{rng: rand.New(rand.NewPCG(11, 7))}
	wc, bc := b.weight(flatC, 1, 3, 3), b.weight(flatC)
	scale, shift, mean, variance := b.weight(flatC), b.weight(flatC), b.weight(flatC), b.positive(flatC)
	b.node("Conv", []string{"x", wc, bc}, "c1", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
	b.node("Relu", []string{"c1"}, "r1")
	b.node("BatchNormalization", []string{"r1", scale, shift, mean, variance}, "n1")
	b.node("MaxPool", []string{"n1"}, "h", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	b.node("Flatten", []string{"h"}, "flat", intAttr("axis", 1))
	var wd, bd string
	switch kind {
	case gemmTransB:
		wd, bd = b.weight(flatOut, flatWidth), b.weight(flatOut)
		b.node("Gemm", []string{"flat", wd, bd}, "y", intAttr("transB", 1))
	case gemmPlain:
		wd, bd = b.weight(flatWidth, flatOut), b.weight(flatOut)
		b.node("Gemm", []string{"flat", wd, bd}, "y")
	case matmulAdd:
		wd, bd = b.weight(flatWidth, flatOut), b.weight(1, flatOut)
		b.node("MatMul", []string{"flat", wd}, "mm")
		b.node("Add", []string{"mm", bd}, "y")
	}
	outs := []string{"y"}
	switch reader {
	case "Softmax":
		b.node("Softmax", []string{"flat"}, "s", intAttr("axis", -1))
		outs = append(outs, "s")
	case "Identity":
		b.node("Identity", []string{"flat"}, "f")
		outs = append(outs, "f")
	}
	w := map[string][]float32{}
	for _, t := range b.inits {
		w[t.Name] = t.FloatData
	}
	named := map[string][]float32{"wc": w[wc], "bc": w[bc], "scale": w[scale], "shift": w[shift],
		"mean": w[mean], "var": w[variance], "wd": w[wd], "bd": w[bd]}
	var vis []*onnx.ValueInfoProto
	for _, o := range outs {
		vis = append(vis, &onnx.ValueInfoProto{Name: o, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: int32(onnx.TensorProto_FLOAT)}}}})
	}
	return &onnx.ModelProto{
		IrVersion:   7,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: "", Version: 13}},
		Graph: &onnx.GraphProto{Name: "flat", Node: b.nodes, Initializer: b.inits,
			Input: []*onnx.ValueInfoProto{imageInput("x", flatSide)}, Output: vis},
	}, named, outs
}

// flatReference computes one image's flattened map, in ONNX's order, and
// the dense layer's outputs.
func flatReference(kind denseKind, w map[string][]float32, x []float32) (flat, y []float32) {
	const s = flatSide
	flat = make([]float32, flatWidth)
	for c := range flatC {
		bn := func(v float64) float64 {
			v = max(v, 0) // Relu
			return float64(w["scale"][c])*(v-float64(w["mean"][c]))/math.Sqrt(float64(w["var"][c])+1e-5) + float64(w["shift"][c])
		}
		conv := func(r, q int) float64 {
			sum := float64(w["bc"][c])
			for i := range 3 {
				for j := range 3 {
					if rr, qq := r+i-1, q+j-1; rr >= 0 && rr < s && qq >= 0 && qq < s {
						sum += float64(w["wc"][c*9+i*3+j]) * float64(x[rr*s+qq])
					}
				}
			}
			return bn(sum)
		}
		for r := range s / 2 {
			for q := range s / 2 {
				m := math.Inf(-1)
				for i := range 2 {
					for j := range 2 {
						m = max(m, conv(2*r+i, 2*q+j))
					}
				}
				flat[(c*s/2+r)*s/2+q] = float32(m)
			}
		}
	}
	y = make([]float32, flatOut)
	for j := range y {
		sum := float64(w["bd"][j])
		for k, v := range flat {
			wk := w["wd"][k*flatOut+j]
			if kind == gemmTransB {
				wk = w["wd"][j*flatWidth+k]
			}
			sum += float64(wk) * float64(v)
		}
		y[j] = float32(sum)
	}
	return flat, y
}

func flatImages(n int) []float32 {
	rng := rand.New(rand.NewPCG(3, 5))
	x := make([]float32, n*flatSide*flatSide)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// layoutSteps counts a plan's steps that move a map between layouts, and
// says whether it has a fused block (the channels-last map the test needs).
func layoutSteps(p *Plan) (layouts int, block bool) {
	for _, s := range p.steps {
		switch s.(type) {
		case layoutStep:
			layouts++
		case blockStep:
			block = true
		}
	}
	return layouts, block
}

// near reports whether got is want within tol, relative to want past 1.
func near(got, want []float32, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > tol*max(1, math.Abs(float64(want[i]))) {
			return fmt.Errorf("value %d is %g, want %g (off by %.3g)", i, got[i], want[i], d)
		}
	}
	return nil
}

func TestFlattenNHWCReaders(t *testing.T) {
	x := flatImages(1)
	for _, kind := range []denseKind{gemmTransB, gemmPlain, matmulAdd} {
		var folded []float32 // y of the graph with the dense layer its only reader
		for _, tc := range []struct {
			reader string
			// layouts is the layout steps the plan should have: none when
			// only the dense layer reads the flattened map.
			layouts int
		}{
			{"", 0},
			{"Softmax", 1},
			{"Identity", 1},
		} {
			t.Run(fmt.Sprintf("%v, %q", kind, tc.reader), func(t *testing.T) {
				m, w, outs := flatModel(kind, tc.reader)
				path := filepath.Join(t.TempDir(), "flat.onnx")
				writeModel(t, m, path)
				p, err := OpenOptions(path, Options{Shapes: map[string][]int{"x": {1, 1, flatSide, flatSide}}})
				if err != nil {
					t.Fatal(err)
				}
				layouts, block := layoutSteps(p)
				if !block {
					t.Fatal("the Conv, Relu, BatchNormalization and MaxPool were not fused into a channels-last block")
				}
				if layouts != tc.layouts {
					t.Errorf("%d layout steps, want %d", layouts, tc.layouts)
				}
				got, err := p.Run([][]float32{x})
				if err != nil {
					t.Fatal(err)
				}
				flat, y := flatReference(kind, w, x)
				if err := near(got[0], y, 1e-4); err != nil {
					t.Errorf("%s: %v", outs[0], err)
				}
				switch tc.reader {
				case "":
					folded = got[0]
				case "Softmax":
					mx := float32(math.Inf(-1))
					for _, v := range flat {
						mx = max(mx, v)
					}
					sum := 0.0
					for _, v := range flat {
						sum += math.Exp(float64(v - mx))
					}
					want := make([]float32, len(flat))
					for i, v := range flat {
						want[i] = float32(math.Exp(float64(v-mx)) / sum)
					}
					if err := near(got[1], want, 1e-5); err != nil {
						t.Errorf("%s: %v", outs[1], err)
					}
				case "Identity":
					if err := near(got[1], flat, 1e-5); err != nil {
						t.Errorf("%s: %v", outs[1], err)
					}
				}
				if folded != nil && tc.reader != "" {
					// The same weights, read in ONNX's order this time.
					if err := near(folded, got[0], 1e-5); err != nil {
						t.Errorf("the folded dense layer's outputs and the unfolded one's differ: %v", err)
					}
				}
			})
		}
	}
}

// TestFlattenNHWCBatch runs the folded and the unfolded graphs on a batch
// large enough for rowBatch to multiply many images' rows at once.
func TestFlattenNHWCBatch(t *testing.T) {
	const n = 37
	x := flatImages(n)
	for _, kind := range []denseKind{gemmTransB, gemmPlain, matmulAdd} {
		t.Run(kind.String(), func(t *testing.T) {
			var logits [2][]float32
			var w map[string][]float32
			for i, reader := range []string{"", "Identity"} {
				var m *onnx.ModelProto
				m, w, _ = flatModel(kind, reader)
				path := filepath.Join(t.TempDir(), "flat.onnx")
				writeModel(t, m, path)
				p, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				if layouts, _ := layoutSteps(p); layouts != i {
					t.Errorf("reader %q: %d layout steps, want %d", reader, layouts, i)
				}
				if reader == "" && p.rows == nil {
					t.Error("the dense layer is not batched")
				}
				logits[i] = make([]float32, n*p.Outputs)
				if err := p.Logits(logits[i], x, n); err != nil {
					t.Fatal(err)
				}
			}
			for img := range n {
				_, y := flatReference(kind, w, x[img*flatSide*flatSide:(img+1)*flatSide*flatSide])
				row := logits[0][img*flatOut : (img+1)*flatOut]
				if err := near(row, y, 1e-4); err != nil {
					t.Fatalf("image %d: %v", img, err)
				}
				if err := near(row, logits[1][img*flatOut:(img+1)*flatOut], 1e-5); err != nil {
					t.Fatalf("image %d, folded against unfolded: %v", img, err)
				}
			}
		})
	}
}
