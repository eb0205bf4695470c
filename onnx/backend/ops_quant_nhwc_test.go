package backend

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/qgemm"
	"github.com/lenetkit/lenetkit/internal/winograd"
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
		q := nhwcCase{c: []int{1, 2, 3, 4, 5, 8, 12}[rng.IntN(7)], m: []int{1, 4, 8, 16, 24, 32, 40}[rng.IntN(7)],
			kh: 1 + rng.IntN(5), kw: 1 + rng.IntN(5), xdt: onnx.Uint8}
		q.h, q.w = q.kh+rng.IntN(9), q.kw+rng.IntN(9)
		q.pads = []int64{int64(rng.IntN(q.kh)), int64(rng.IntN(q.kw)), int64(rng.IntN(q.kh)), int64(rng.IntN(q.kw))}
		if rng.IntN(3) == 0 {
			q.xdt = onnx.Int8
		}
		pool := rng.IntN(2) == 0
		q.wz = make([]int64, q.m)
		if rng.IntN(2) == 0 {
			for i := range q.wz {
				q.wz[i] = int64(rng.IntN(9)) - 4
			}
		}
		if oh, ow := q.h+int(q.pads[0]+q.pads[2])-q.kh+1, q.w+int(q.pads[1]+q.pads[3])-q.kw+1; pool && min(oh, ow) >= 1 {
			q.pk = 1 + rng.IntN(min(3, oh, ow))
			q.ps = 1 + rng.IntN(3)
		}
		one := q.check(t, rng, trial)
		if q.pk > 0 && !slices.ContainsFunc(one.steps, func(s step) bool { _, ok := s.(qmaxPoolStep); return ok }) {
			pooled++
		}
	}
	t.Logf("%d trials, %d with the MaxPool in the convolution's epilogue", trials, pooled)
	if pooled == 0 {
		t.Error("no MaxPool taken in")
	}
}

// TestQConvWinogradAndGrey is TestQConvNHWCMatchesNCHW on the shapes that
// take winograd.IntConv (3x3, padding 1 or none, 16 channels or more) and
// the grey kernel (one channel to 32 or 64, pooled 2x2): maps of one tile
// to several, not whole tiles, every pooling, signed inputs, weights'
// zero points. Where this CPU runs those kernels, the steps must have
// taken them as expected.
func TestQConvWinogradAndGrey(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	trials := 60
	if testing.Short() {
		trials = 16
	}
	wino, grey, valid := 0, 0, 0
	for trial := range trials {
		q := nhwcCase{c: []int{16, 32, 48}[rng.IntN(3)], m: []int{16, 32, 64}[rng.IntN(3)], kh: 3, kw: 3,
			h: 1 + rng.IntN(13), w: 1 + rng.IntN(13), pads: []int64{1, 1, 1, 1}, xdt: onnx.Uint8}
		if trial%3 == 1 { // Keras's "valid": no padding
			q.h, q.w, q.pads = 3+rng.IntN(13), 3+rng.IntN(13), []int64{0, 0, 0, 0}
		}
		if trial%3 == 0 {
			q.c, q.m = 1, []int{32, 64}[rng.IntN(2)]
			q.h, q.w = 2+rng.IntN(12), 2+rng.IntN(12)
		}
		if rng.IntN(4) == 0 {
			q.xdt = onnx.Int8
		}
		q.wz = make([]int64, q.m)
		if rng.IntN(4) == 0 {
			for i := range q.wz {
				q.wz[i] = int64(rng.IntN(9)) - 4
			}
		}
		oh, ow := q.h+int(q.pads[0]+q.pads[2])-2, q.w+int(q.pads[1]+q.pads[3])-2
		switch k := []int{0, 2, 4, 3}[rng.IntN(4)]; {
		case k == 3 && min(oh, ow) >= 3:
			q.pk, q.ps = 3, 2
		case k > 0 && min(oh, ow) >= k:
			q.pk, q.ps = k, k
		}
		if q.c == 1 && trial%6 == 0 {
			q.pk, q.ps = 2, 2
		}
		one := q.check(t, rng, trial)
		for _, s := range one.steps {
			if n, ok := s.(*qnhwcStep); ok {
				if n.wino != nil {
					wino++
					if n.pt == 0 {
						valid++
					}
				}
				if n.grey != nil {
					grey++
				}
			}
		}
	}
	t.Logf("%d trials: %d by Winograd (%d without padding), %d by the grey kernel", trials, wino, valid, grey)
	c := winograd.IntConv{H: 8, W: 8, In: 16, Out: 16}
	if c.Fast() && (wino == 0 || valid == 0) {
		t.Errorf("%d convolutions took winograd.IntConv, %d of them without padding", wino, valid)
	}
	if e, _ := qgemm.NewEpilogue(32, nil, []float32{1}, uint8(0), uint8(0), nil, nil); e.GreyFast() && grey == 0 {
		t.Error("no convolution took the grey kernel")
	}
}

// nhwcCase is one QLinearConv, and the MaxPool after it where pk > 0,
// of the tests above.
type nhwcCase struct {
	c, m, kh, kw, h, w int
	pads               []int64
	xdt                onnx.DType
	wz                 []int64 // the weights' zero points, m
	pk, ps             int     // the MaxPool's window and stride
}

// check compiles q on one image and on a batch of two copies of it,
// checks that they give the same bytes, and returns the first plan.
func (q nhwcCase) check(t *testing.T, rng *rand.Rand, trial int) *Plan {
	t.Helper()
	c, m, kh, kw, h, w, xdt := q.c, q.m, q.kh, q.kw, q.h, q.w, q.xdt
	g := newQGraph(uint64(trial))
	g.input("x", xdt, 1, int64(c), int64(h), int64(w)) // batch 1; the batch of two overrides it
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
		g.init("ws", onnx.Float, []int64{int64(m)}, ws), g.init("wz", onnx.Int8, []int64{int64(m)}, q.wz),
		g.scalar("ys", 0.05+rng.Float32()), g.zero("yz", xdt, yz), g.init("b", onnx.Int32, []int64{int64(m)}, g.ints(onnx.Int32, m))}
	g.node("QLinearConv", inputs, "y", ints("pads", q.pads...))
	out := "y"
	if q.pk > 0 {
		g.node("MaxPool", []string{"y"}, "p", ints("kernel_shape", int64(q.pk), int64(q.pk)), ints("strides", int64(q.ps), int64(q.ps)))
		out = "p"
	}
	model := g.model(out)
	x := make([]float32, c*h*w)
	lo, hi := typeRange(xdt)
	for i := range x {
		x[i] = float32(int(lo) + rng.IntN(int(hi-lo)+1))
	}
	what := fmt.Sprintf("trial %d: %s x [%d %d %d], %d filters %dx%d, pads %v, weights' zero points %v, pool %d/%d", trial, xdt, c, h, w, m, kh, kw, q.pads,
		slices.ContainsFunc(q.wz, func(v int64) bool { return v != 0 }), q.pk, q.ps)
	one, err := compileQ(model, map[string][]int{"x": {1, c, h, w}}, Options{})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !slices.ContainsFunc(one.steps, func(s step) bool { _, ok := s.(*qnhwcStep); return ok }) {
		t.Fatalf("%s: not channels-last", what)
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
	return one
}

// TestQConvBatchedWinograd: a quantized convolution of a map of one tile
// before a dense layer runs batched (rowBatch, winograd.IntConv's
// ForwardImages) where an image alone runs the direct kernels: each
// image's logits in a batch equal its own alone, with no pooling, a 2x2
// one the product takes in, and a 3x3 of stride 2 that reads fewer rows
// than the map has.
func TestQConvBatchedWinograd(t *testing.T) {
	for i, pool := range [][2]int64{{0, 0}, {2, 2}, {3, 2}} {
		g := newQGraph(uint64(50 + i))
		const c, m, side, n = 16, 32, 4, 11
		g.input("x", onnx.Float, 1, c, side, side)
		g.node("QuantizeLinear", []string{"x", g.scalar("xs", 0.02), g.zero("xz", onnx.Uint8, 3)}, "xq")
		ws := make([]float32, m)
		for j := range ws {
			ws[j] = 0.002 + 0.001*float32(j%5)
		}
		g.node("QLinearConv", []string{"xq", "xs", "xz", g.init("w", onnx.Int8, []int64{m, c, 3, 3}, g.ints(onnx.Int8, m*c*9)),
			g.init("ws", onnx.Float, []int64{m}, ws), g.init("wz", onnx.Int8, []int64{m}, make([]int64, m)),
			g.scalar("ys", 0.5), g.zero("yz", onnx.Uint8, 20), g.init("b", onnx.Int32, []int64{m}, g.ints(onnx.Int32, m))}, "y",
			ints("pads", 1, 1, 1, 1))
		out, pixels := "y", int64(side*side)
		if pool[0] > 0 {
			g.node("MaxPool", []string{"y"}, "p", ints("kernel_shape", pool[0], pool[0]), ints("strides", pool[1], pool[1]))
			s := (side-pool[0])/pool[1] + 1
			out, pixels = "p", s*s
		}
		g.node("Flatten", []string{out}, "f")
		k := m * pixels
		g.node("QLinearMatMul", []string{"f", "ys", "yz", g.init("mw", onnx.Int8, []int64{k, 10}, g.ints(onnx.Int8, int(k)*10)),
			g.scalar("mws", 0.01), g.zero("mwz", onnx.Int8, 0), g.scalar("os", 0.3), g.zero("oz", onnx.Uint8, 128)}, "o")
		g.node("DequantizeLinear", []string{"o", "os", "oz"}, "logits")
		model := g.model("logits")
		p, err := compileQ(model, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c := (winograd.IntConv{H: side, W: side, In: c, Out: m}); c.Fast() && (p.rows == nil || len(p.rows.q) < 2 || !strings.Contains(p.Int8Kernel, "winograd")) {
			t.Fatalf("pool %v: the convolution is not batched, or not named (%s): %+v", pool, p.Int8Kernel, p.rows)
		}
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		x := make([]float32, n*c*side*side)
		for j := range x {
			x[j] = rng.Float32() * 5
		}
		batch := make([]float32, n*p.Outputs)
		if err := p.Logits(batch, x, n); err != nil {
			t.Fatal(err)
		}
		for img := range n {
			alone := make([]float32, p.Outputs)
			if err := p.Logits(alone, x[img*c*side*side:(img+1)*c*side*side], 1); err != nil {
				t.Fatal(err)
			}
			if got := batch[img*p.Outputs : (img+1)*p.Outputs]; !slices.Equal(got, alone) {
				t.Fatalf("pool %v, image %d: in a batch %v, alone %v", pool, img, got, alone)
			}
		}
	}
}
