package backend

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestQConvNHWCMatchesNCHW compiles random QLinearConvs (kernels, pads,
// channels a multiple of 4 or not, signed and unsigned inputs, weights'
// zero points 0 or not, a Relu's clamp, a MaxPool after) on one image,
// which run channels-last (qnhwcStep), and on a batch of two copies of
// it, which run channels-first (qconvStep): the bytes must be the same.
func TestQConvNHWCMatchesNCHW(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	trials := 120
	if testing.Short() {
		trials = 30
	}
	pooled := 0 // trials whose MaxPool the convolution took in
	for trial := range trials {
		c := []int{1, 2, 3, 4, 5, 8, 12}[rng.IntN(7)]
		m := []int{1, 4, 8, 16, 24, 32, 40}[rng.IntN(7)]
		kh, kw := 1+rng.IntN(5), 1+rng.IntN(5)
		h, w := kh+rng.IntN(9), kw+rng.IntN(9)
		pads := []int64{int64(rng.IntN(kh)), int64(rng.IntN(kw)), int64(rng.IntN(kh)), int64(rng.IntN(kw))}
		xdt := onnx.Uint8
		if rng.IntN(3) == 0 {
			xdt = onnx.Int8
		}
		pool := rng.IntN(2) == 0
		g := newQGraph(uint64(trial))
		g.input("x", xdt, 1, int64(c), int64(h), int64(w)) // batch 1; the batch of two overrides it
		wz := make([]int64, m)
		if rng.IntN(2) == 0 {
			for i := range wz {
				wz[i] = int64(rng.IntN(9)) - 4
			}
		}
		ws := make([]float32, m)
		for i := range ws {
			ws[i] = 0.001 + 0.01*rng.Float32()
		}
		yz := int64(rng.IntN(256))
		if xdt == onnx.Int8 {
			yz -= 128
		}
		inputs := []string{"x", g.scalar("xs", 0.02), g.zero("xz", xdt, g.ints(xdt, 1)[0]),
			g.init("w", onnx.Int8, []int64{int64(m), int64(c), int64(kh), int64(kw)}, g.ints(onnx.Int8, m*c*kh*kw)),
			g.init("ws", onnx.Float, []int64{int64(m)}, ws), g.init("wz", onnx.Int8, []int64{int64(m)}, wz),
			g.scalar("ys", 0.05+rng.Float32()), g.zero("yz", xdt, yz), g.init("b", onnx.Int32, []int64{int64(m)}, g.ints(onnx.Int32, m))}
		g.node("QLinearConv", inputs, "y", ints("pads", pads...))
		out := "y"
		pk, ps := 0, 0
		if oh, ow := h+int(pads[0]+pads[2])-kh+1, w+int(pads[1]+pads[3])-kw+1; pool && min(oh, ow) >= 1 {
			pk = 1 + rng.IntN(min(3, oh, ow))
			ps = 1 + rng.IntN(3)
			g.node("MaxPool", []string{"y"}, "p", ints("kernel_shape", int64(pk), int64(pk)), ints("strides", int64(ps), int64(ps)))
			out = "p"
		}
		model := g.model(out)
		x := make([]float32, c*h*w)
		lo, hi := typeRange(xdt)
		for i := range x {
			x[i] = float32(int(lo) + rng.IntN(int(hi-lo)+1))
		}
		what := fmt.Sprintf("trial %d: %s x [%d %d %d], %d filters %dx%d, pads %v, weights' zero points %v, pool %d/%d", trial, xdt, c, h, w, m, kh, kw, pads, wz[0] != 0 || slices.ContainsFunc(wz, func(v int64) bool { return v != 0 }), pk, ps)
		one, err := compileQ(model, map[string][]int{"x": {1, c, h, w}}, Options{})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !slices.ContainsFunc(one.steps, func(s step) bool { _, ok := s.(*qnhwcStep); return ok }) {
			t.Fatalf("%s: not channels-last", what)
		}
		if pk > 0 && !slices.ContainsFunc(one.steps, func(s step) bool { _, ok := s.(qmaxPoolStep); return ok }) {
			pooled++
		}
		two, err := compileQ(model, map[string][]int{"x": {2, c, h, w}}, Options{})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		y1, err := one.Run([][]float32{x})
		if err != nil {
			t.Fatal(err)
		}
		y2, err := two.Run([][]float32{append(slices.Clone(x), x...)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := y1[0], y2[0][:len(y1[0])]; !slices.Equal(got, want) {
			t.Fatalf("%s: channels-last %v\nchannels-first %v", what, got, want)
		}
	}
	t.Logf("%d trials, %d with the MaxPool in the convolution's epilogue", trials, pooled)
	if pooled == 0 {
		t.Error("no MaxPool taken in")
	}
}
