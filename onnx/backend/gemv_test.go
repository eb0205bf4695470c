package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/internal/testtool"
)

// denseCases are classifiers whose first dense layer is one row times
// constant weights of more outputs than gemvStep takes: packed once, for
// rowBatch's products of many images and for one image's one-row kernel.
// Their outputs are not multiples of the kernels' widths, their C of
// every shape Gemm broadcasts from.
var denseCases = []graphCase{
	{name: "Gemm 784x64 transB, C [64], Relu", opset: 13, side: 28, features: 64, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "f")
		b.node("Gemm", []string{"f", b.weight(64, 784), b.weight(64)}, "g", intAttr("transB", 1))
		b.node("Relu", []string{"g"}, "h")
	}},
	{name: "MatMul 900x37, Add", opset: 13, side: 30, features: 37, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "f")
		b.node("MatMul", []string{"f", b.weight(900, 37)}, "m")
		b.node("Add", []string{"m", b.weight(37)}, "h")
	}},
	{name: "Gemm 400x100 alpha beta, C [1, 100]", opset: 11, side: 20, features: 100, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "f")
		b.node("Gemm", []string{"f", b.weight(400, 100), b.weight(1, 100)}, "g", floatAttr("alpha", 0.5), floatAttr("beta", 2))
		b.node("Tanh", []string{"g"}, "h")
	}},
	{name: "Gemm 256x24 transB, C [1], no split", opset: 13, side: 16, features: 24, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "f")
		b.node("Gemm", []string{"f", b.weight(24, 256), b.weight(1)}, "h", intAttr("transB", 1), floatAttr("beta", -1))
	}},
	{name: "Gemm 529x17, no C", opset: 13, side: 23, features: 17, nodes: func(b *builder) {
		b.node("Flatten", []string{"x"}, "f")
		b.node("Gemm", []string{"f", b.weight(529, 17)}, "h")
	}},
}

// denseStep returns the plan's first gemmStep.
func denseStep(t *testing.T, p *Plan) gemmStep {
	t.Helper()
	for _, s := range p.steps {
		if g, ok := s.(gemmStep); ok {
			return g
		}
	}
	t.Fatal("the plan has no gemmStep")
	return gemmStep{}
}

// TestDenseMatchesORT: the dense layers match ONNX Runtime for a batch,
// which rowBatch multiplies with the packed weights, and for one image.
func TestDenseMatchesORT(t *testing.T) {
	matchORT(t, denseCases, 24, 40, func(t *testing.T, gc graphCase, p *Plan) {
		if g := denseStep(t, p); g.pb == nil {
			t.Errorf("dense layer %dx%d: weights not packed", g.k, g.n)
		}
		if p.rows == nil {
			t.Error("the dense layer is not batched")
		}
	})
}

// TestDenseBatchSizes: every batch size, through each of Logits' paths
// (one image split between the CPUs, a few images each split, a batch
// spread over them and batched by rowBatch), gives each image exactly what
// it gives alone, bit for bit: a server batches whatever requests queue
// together, and an image's answer must not depend on them.
func TestDenseBatchSizes(t *testing.T) {
	for i, gc := range denseCases {
		t.Run(gc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.onnx")
			writeModel(t, gc.model(uint64(60+i)), path)
			p, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			const n = 70 // more than rowBatch's chunk of 64
			px := gc.side * gc.side
			x := randomImages(n, gc.side)
			alone := make([]float32, n*10)
			for i := range n {
				if err := p.Logits(alone[i*10:(i+1)*10], x[i*px:(i+1)*px], 1); err != nil {
					t.Fatal(err)
				}
			}
			for _, batch := range []int{2, 3, 5, n} {
				got := make([]float32, batch*10)
				if err := p.Logits(got, x, batch); err != nil {
					t.Fatal(err)
				}
				for j, v := range got {
					if math.Float32bits(v) != math.Float32bits(alone[j]) {
						t.Fatalf("batch of %d: image %d output %d is %g, alone %g", batch, j/10, j%10, v, alone[j])
					}
				}
			}
		})
	}
}

// TestGemvStep: a gemvStep computes what the matrix kernels do, for
// outputs around the gemv kernels' passes and depths around their vectors,
// with and without a bias.
func TestGemvStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 15, 16, 17, 24, 37, 64, 100} {
		for _, k := range []int{0, 1, 33, 1000, 1568, 4000} {
			for _, hasC := range []bool{false, true} {
				s := gemmStep{m: 1, n: n, k: k, alpha: 0.75, beta: 1.5, transB: rng.IntN(2) == 1, hasC: hasC, in: 0, out: 1}
				s.bm = randomFloats(rng, n*k)
				if hasC {
					s.c, s.cShape = randomFloats(rng, n), []int{n}
				}
				g := newGemv(s)
				a := randomFloats(rng, k)
				want := make([]float32, n)
				nchw.Gemm(want, 1, n, k, false, s.transB, s.alpha, a, s.bm, s.beta, s.c, s.cShape)
				b := [][]float32{a, make([]float32, n+1)}
				b[1][n] = 12345
				g.run(b)
				if b[1][n] != 12345 {
					t.Fatalf("n=%d k=%d: wrote past the outputs", n, k)
				}
				for j := range n {
					tol := 1e-5 * float64(k+1)
					if d := math.Abs(float64(b[1][j] - want[j])); !(d <= tol*(1+math.Abs(float64(want[j])))) {
						t.Fatalf("n=%d k=%d bias=%v: y[%d] = %g, the matrix kernels give %g", n, k, hasC, j, b[1][j], want[j])
					}
				}
			}
		}
	}
}

func randomFloats(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// BenchmarkGemvStep times one image's gemv.
func BenchmarkGemvStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ n, k int }{{10, 1568}, {16, 784}, {16, 2048}} {
		g := newGemv(gemmStep{m: 1, n: s.n, k: s.k, alpha: 1, bm: randomFloats(rng, s.n*s.k), transB: true, out: 1})
		buf := [][]float32{randomFloats(rng, s.k), make([]float32, s.n)}
		b.Run(fmt.Sprintf("%dx%d", s.k, s.n), func(b *testing.B) {
			for b.Loop() {
				g.run(buf)
			}
		})
	}
}

// mlpCases are multilayer perceptrons, on an image flattened by the graph
// or by its caller (a flat input, [batch, H*W]): every dense layer, the
// ReLUs between them and the last one to 10 outputs run as one chain of
// products over many images' rows.
var mlpCases = []graphCase{
	{name: "flat input: Gemm 784x64, Relu, MatMul 64x48, Add, Relu", opset: 13, side: 28, features: 48, flat: true, nodes: mlpNodes},
	{name: "image input, Flatten: the same", opset: 13, side: 28, features: 48, nodes: mlpNodes},
}

func mlpNodes(b *builder) {
	b.node("Flatten", []string{"x"}, "f")
	b.node("Gemm", []string{"f", b.weight(64, 784), b.weight(64)}, "g1", intAttr("transB", 1))
	b.node("Relu", []string{"g1"}, "r1")
	b.node("MatMul", []string{"r1", b.weight(64, 48)}, "m2")
	b.node("Add", []string{"m2", b.weight(48)}, "g2")
	b.node("Relu", []string{"g2"}, "h")
}

// TestMLPMatchesORT: an MLP's layers run as one chain for a batch, and
// give ONNX Runtime's outputs, and one image's bits in any batch; a flat
// input is read as the image it flattens.
func TestMLPMatchesORT(t *testing.T) {
	matchORT(t, mlpCases, 40, 50, func(t *testing.T, gc graphCase, p *Plan) {
		if p.Channels != 1 || p.Height != 28 || p.Width != 28 {
			t.Errorf("input %d x %d x %d, want 1 x 28 x 28", p.Channels, p.Height, p.Width)
		}
		// Gemm, Relu, the MatMul's Gemm with its Add, Relu, the last Gemm's gemv.
		if p.rows == nil || p.rows.at != 0 || len(p.rows.f) != 5 {
			var kinds []string
			for _, s := range p.steps {
				kinds = append(kinds, fmt.Sprintf("%T", s))
			}
			t.Fatalf("steps %v, rows %v: want every step in one chain", kinds, p.rows != nil)
		}
		testtool.SameLogitsWhateverTheBatch(t, p.Logits, 28*28, 10)
	})
}
