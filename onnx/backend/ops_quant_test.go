package backend

import (
	"errors"
	"fmt"
	"github.com/lenetkit/lenetkit/modelfile"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// qgraph builds a small graph of quantized operators for the tests.
type qgraph struct {
	nodes  []*onnx.NodeProto
	inits  []*onnx.TensorProto
	inputs []*onnx.ValueInfoProto
	opset  int64
	rng    *rand.Rand
}

func newQGraph(seed uint64) *qgraph {
	return &qgraph{opset: 13, rng: rand.New(rand.NewPCG(seed, 23))}
}

func (g *qgraph) node(typ string, in []string, out string, attrs ...*onnx.AttributeProto) {
	g.nodes = append(g.nodes, &onnx.NodeProto{OpType: typ, Name: out, Input: in, Output: []string{out}, Attribute: attrs})
}

// tensor is an initializer or node test input of type dt holding vals
// (float32 for FLOAT, int64 otherwise).
func qtensor(name string, dt onnx.DType, dims []int64, vals any) *onnx.TensorProto {
	t := &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(dt)}
	switch v := vals.(type) {
	case []float32:
		t.FloatData = v
	case []int64:
		for _, x := range v {
			switch dt {
			case onnx.Uint8, onnx.Int8:
				t.RawData = append(t.RawData, byte(x))
			case onnx.Int64:
				t.Int64Data = append(t.Int64Data, x)
			default:
				t.Int32Data = append(t.Int32Data, int32(x))
			}
		}
	}
	return t
}

func (g *qgraph) init(name string, dt onnx.DType, dims []int64, vals any) string {
	g.inits = append(g.inits, qtensor(name, dt, dims, vals))
	return name
}

func (g *qgraph) scalar(name string, v float32) string {
	return g.init(name, onnx.Float, nil, []float32{v})
}

func (g *qgraph) zero(name string, dt onnx.DType, v int64) string {
	return g.init(name, dt, nil, []int64{v})
}

// ints draws n integers of type dt.
func (g *qgraph) ints(dt onnx.DType, n int) []int64 {
	lo, hi := typeRange(dt)
	if dt == onnx.Int32 {
		lo, hi = -1000, 1000
	}
	v := make([]int64, n)
	for i := range v {
		v[i] = int64(lo) + g.rng.Int64N(int64(hi-lo)+1)
	}
	return v
}

func (g *qgraph) input(name string, dt onnx.DType, dims ...int64) {
	shape := &onnx.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	g.inputs = append(g.inputs, &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(dt), Shape: shape}}}})
}

func (g *qgraph) model(outputs ...string) *onnx.ModelProto {
	var outs []*onnx.ValueInfoProto
	for _, o := range outputs {
		outs = append(outs, &onnx.ValueInfoProto{Name: o})
	}
	return &onnx.ModelProto{IrVersion: 7,
		OpsetImport: []*onnx.OperatorSetIdProto{{Version: g.opset}, {Domain: "com.microsoft", Version: 1}},
		Graph:       &onnx.GraphProto{Name: "q", Node: g.nodes, Initializer: g.inits, Input: g.inputs, Output: outs}}
}

// compileQ compiles m as a plan of whole tensors of the given input
// shapes.
func compileQ(m *onnx.ModelProto, shapes map[string][]int, opt Options) (*Plan, error) {
	b, err := onnx.Marshal(m)
	if err != nil {
		return nil, err
	}
	opt.Shapes = shapes
	return open(b, "q.onnx", ".", opt)
}

func runQ(t *testing.T, m *onnx.ModelProto, shapes map[string][]int, in ...[]float32) [][]float32 {
	t.Helper()
	p, err := compileQ(m, shapes, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func floats(v []int64) []float32 {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return f
}

// requantRef is MlasRequantizeOutput's arithmetic on one sum.
func requantRef(acc int32, mult float32, zp int32, dt onnx.DType) int32 {
	lo, hi := typeRange(dt)
	f := float32(acc) * mult
	f = min(max(f, float32(lo-zp)), float32(hi-zp))
	return int32(math.RoundToEven(float64(f))) + zp
}

func TestQuantizeRounding(t *testing.T) {
	for _, c := range []struct {
		x, s float32
		zp   int32
		dt   onnx.DType
		want int32
	}{
		{0.5, 1, 0, onnx.Uint8, 0}, {1.5, 1, 0, onnx.Uint8, 2}, {2.5, 1, 0, onnx.Uint8, 2},
		{-0.5, 1, 0, onnx.Int8, 0}, {-1.5, 1, 0, onnx.Int8, -2}, {-2.5, 1, 3, onnx.Int8, 1},
		{300, 1, 0, onnx.Uint8, 255}, {-300, 1, 10, onnx.Uint8, 0}, {-1000, 2, 0, onnx.Int8, -128},
		{1000, 2, 0, onnx.Int8, 127}, {float32(math.NaN()), 1, 5, onnx.Uint8, 0}, {float32(math.Inf(1)), 1, 0, onnx.Int8, 127},
		{3, 2, 128, onnx.Uint8, 130}, {1, 0.25, 0, onnx.Int8, 4},
	} {
		lo, hi := typeRange(c.dt)
		if got := quantize(c.x, c.s, c.zp, lo, hi); got != c.want {
			t.Errorf("quantize(%v / %v + %d) to %s = %d, want %d", c.x, c.s, c.zp, c.dt, got, c.want)
		}
	}
}

// qconvCase is one QLinearConv or ConvInteger the plan is checked on
// against a direct loop.
type qconvCase struct {
	xdt, wdt                  onnx.DType
	inC, outC, h, w, k, group int
	stride, pad, dil          int
	perChannel, bias, integer bool
}

func TestQuantConvMatchesReference(t *testing.T) {
	cases := []qconvCase{
		{xdt: onnx.Uint8, wdt: onnx.Int8, inC: 1, outC: 8, h: 12, w: 12, k: 3, group: 1, stride: 1, pad: 1, dil: 1, perChannel: true, bias: true},
		{xdt: onnx.Uint8, wdt: onnx.Uint8, inC: 4, outC: 6, h: 9, w: 7, k: 3, group: 2, stride: 2, pad: 1, dil: 1, bias: true},
		{xdt: onnx.Int8, wdt: onnx.Int8, inC: 3, outC: 5, h: 8, w: 8, k: 3, group: 1, stride: 1, pad: 2, dil: 2, perChannel: true},
		{xdt: onnx.Int8, wdt: onnx.Uint8, inC: 6, outC: 4, h: 5, w: 5, k: 1, group: 1, stride: 1, pad: 0, dil: 1},
		{xdt: onnx.Uint8, wdt: onnx.Int8, inC: 2, outC: 3, h: 6, w: 6, k: 3, group: 1, stride: 1, pad: 1, dil: 1, integer: true},
		{xdt: onnx.Int8, wdt: onnx.Int8, inC: 4, outC: 4, h: 5, w: 5, k: 3, group: 4, stride: 1, pad: 1, dil: 1, integer: true, perChannel: true},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			g := newQGraph(uint64(i))
			g.input("x", c.xdt, 1, int64(c.inC), int64(c.h), int64(c.w))
			x := g.ints(c.xdt, c.inC*c.h*c.w)
			kg := c.inC / c.group * c.k * c.k
			w := g.ints(c.wdt, c.outC*kg)
			nz := 1
			if c.perChannel {
				nz = c.outC
			}
			xz, wz := g.ints(c.xdt, 1)[0], g.ints(c.wdt, nz)
			wzDims := []int64{int64(nz)}
			if !c.perChannel {
				wzDims = nil
			}
			wName := g.init("w", c.wdt, []int64{int64(c.outC), int64(c.inC / c.group), int64(c.k), int64(c.k)}, w)
			attrs := []*onnx.AttributeProto{ints("pads", int64(c.pad), int64(c.pad), int64(c.pad), int64(c.pad)),
				ints("strides", int64(c.stride), int64(c.stride)), ints("dilations", int64(c.dil), int64(c.dil)), intAttr("group", int64(c.group))}
			var mult []float32
			var bias []int64
			ydt, yz := onnx.Uint8, int32(0)
			if c.integer {
				g.node("ConvInteger", []string{"x", wName, g.zero("xz", c.xdt, xz), g.init("wz", c.wdt, wzDims, wz)}, "y", attrs...)
			} else {
				ws := make([]float32, nz)
				for j := range ws {
					ws[j] = 0.001 + 0.01*g.rng.Float32()
				}
				xs, ys := float32(0.02), float32(0.05)
				if c.xdt == onnx.Int8 {
					ydt = onnx.Int8
				}
				yz = int32(g.ints(ydt, 1)[0])
				in := []string{"x", g.scalar("xs", xs), g.zero("xz", c.xdt, xz), wName, g.init("ws", onnx.Float, wzDims, ws),
					g.init("wz", c.wdt, wzDims, wz), g.scalar("ys", ys), g.zero("yz", ydt, int64(yz))}
				if c.bias {
					bias = g.ints(onnx.Int32, c.outC)
					in = append(in, g.init("b", onnx.Int32, []int64{int64(c.outC)}, bias))
				}
				g.node("QLinearConv", in, "y", attrs...)
				mult = multipliers(xs, ws, ys)
			}
			got := runQ(t, g.model("y"), map[string][]int{"x": {1, c.inC, c.h, c.w}}, floats(x))[0]
			want := c.reference(x, w, int32(xz), wz, bias, mult, yz, ydt)
			if !slices.Equal(got, want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
}

// reference is the convolution of c as a direct loop: integer sums,
// requantized by requantRef unless c.integer.
func (c qconvCase) reference(x, w []int64, xz int32, wz []int64, bias []int64, mult []float32, yz int32, ydt onnx.DType) []float32 {
	ext := (c.k-1)*c.dil + 1
	oh, ow := (c.h+2*c.pad-ext)/c.stride+1, (c.w+2*c.pad-ext)/c.stride+1
	inCg, outCg := c.inC/c.group, c.outC/c.group
	var y []float32
	for o := range c.outC {
		g := o / outCg
		for oy := range oh {
			for ox := range ow {
				acc := int32(0)
				for ci := range inCg {
					for ky := range c.k {
						for kx := range c.k {
							iy, ix := oy*c.stride-c.pad+ky*c.dil, ox*c.stride-c.pad+kx*c.dil
							xv := xz
							if iy >= 0 && iy < c.h && ix >= 0 && ix < c.w {
								xv = int32(x[((g*inCg+ci)*c.h+iy)*c.w+ix])
							}
							wv := int32(w[((o*inCg+ci)*c.k+ky)*c.k+kx]) - int32(wz[o%len(wz)])
							acc += (xv - xz) * wv
						}
					}
				}
				if c.integer {
					y = append(y, float32(acc))
					continue
				}
				if bias != nil {
					acc += int32(bias[o])
				}
				y = append(y, float32(requantRef(acc, mult[o%len(mult)], yz, ydt)))
			}
		}
	}
	return y
}

// qmatmulCase is one QLinearMatMul or MatMulInteger checked against a
// direct loop: A [batchA..., m, k] times B [batchB..., k, n].
type qmatmulCase struct {
	adt, bdt                     onnx.DType
	batchA, batchB               []int
	m, k, n                      int
	runtimeB, perColumn, integer bool
}

func TestQuantMatMulMatchesReference(t *testing.T) {
	cases := []qmatmulCase{
		{adt: onnx.Uint8, bdt: onnx.Int8, m: 1, k: 40, n: 10, perColumn: true},
		{adt: onnx.Uint8, bdt: onnx.Uint8, batchA: []int{2}, batchB: []int{2}, m: 3, k: 5, n: 4},
		{adt: onnx.Int8, bdt: onnx.Int8, batchA: []int{2}, m: 3, k: 7, n: 20, perColumn: true},
		{adt: onnx.Int8, bdt: onnx.Uint8, m: 3, k: 5, n: 4, runtimeB: true, integer: true},
		{adt: onnx.Uint8, bdt: onnx.Int8, batchA: []int{2}, batchB: []int{2}, m: 2, k: 9, n: 3, runtimeB: true, perColumn: true},
		{adt: onnx.Uint8, bdt: onnx.Int8, m: 4, k: 33, n: 17, integer: true, perColumn: true},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			g := newQGraph(uint64(100 + i))
			aShape, bShape := append(slices.Clone(c.batchA), c.m, c.k), append(slices.Clone(c.batchB), c.k, c.n)
			g.input("a", c.adt, toInt64(aShape)...)
			a, b := g.ints(c.adt, numel(aShape)), g.ints(c.bdt, numel(bShape))
			shapes, feed := map[string][]int{"a": aShape}, [][]float32{floats(a)}
			bName := "b"
			if c.runtimeB {
				g.input("b", c.bdt, toInt64(bShape)...)
				shapes["b"] = bShape
				feed = append(feed, floats(b))
			} else {
				g.init("b", c.bdt, toInt64(bShape), b)
			}
			nz := 1
			var zDims []int64
			if c.perColumn {
				nz, zDims = c.n, []int64{int64(c.n)}
			}
			az, bz := g.ints(c.adt, 1)[0], g.ints(c.bdt, nz)
			var mult []float32
			ydt, yz := c.adt, int32(0)
			if c.integer {
				g.node("MatMulInteger", []string{"a", bName, g.zero("az", c.adt, az), g.init("bz", c.bdt, zDims, bz)}, "y")
			} else {
				bs := make([]float32, nz)
				for j := range bs {
					bs[j] = 0.002 + 0.01*g.rng.Float32()
				}
				as, ys := float32(0.03), float32(0.2)
				yz = int32(g.ints(ydt, 1)[0])
				g.node("QLinearMatMul", []string{"a", g.scalar("as", as), g.zero("az", c.adt, az), bName, g.init("bs", onnx.Float, zDims, bs),
					g.init("bz", c.bdt, zDims, bz), g.scalar("ys", ys), g.zero("yz", ydt, int64(yz))}, "y")
				mult = multipliers(as, bs, ys)
			}
			got := runQ(t, g.model("y"), shapes, feed...)[0]
			if want := c.reference(a, b, int32(az), bz, mult, yz, ydt); !slices.Equal(got, want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
}

func toInt64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func (c qmatmulCase) reference(a, b []int64, az int32, bz []int64, mult []float32, yz int32, ydt onnx.DType) []float32 {
	batches := max(numel(c.batchA), numel(c.batchB))
	var y []float32
	for bi := range batches {
		am, bm := a[bi%numel(c.batchA)*c.m*c.k:], b[bi%numel(c.batchB)*c.k*c.n:]
		for i := range c.m {
			for j := range c.n {
				acc := int32(0)
				for p := range c.k {
					acc += (int32(am[i*c.k+p]) - az) * (int32(bm[p*c.n+j]) - int32(bz[j%len(bz)]))
				}
				if c.integer {
					y = append(y, float32(acc))
				} else {
					y = append(y, float32(requantRef(acc, mult[j%len(mult)], yz, ydt)))
				}
			}
		}
	}
	return y
}

func TestQuantMaxPool(t *testing.T) {
	for i, dt := range []onnx.DType{onnx.Uint8, onnx.Int8} {
		for _, ceil := range []int64{0, 1} {
			g := newQGraph(uint64(200 + i))
			g.input("x", dt, 1, 2, 6, 7)
			x := g.ints(dt, 2*6*7)
			g.node("MaxPool", []string{"x"}, "y", ints("kernel_shape", 3, 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1), intAttr("ceil_mode", ceil))
			got := runQ(t, g.model("y"), map[string][]int{"x": {1, 2, 6, 7}}, floats(x))[0]
			oh, ow := 3, 4
			if ceil != 0 {
				oh, ow = 4, 4
			}
			var want []float32
			for c := range 2 {
				for oy := range oh {
					for ox := range ow {
						best := int64(math.MinInt64)
						for ky := range 3 {
							for kx := range 3 {
								iy, ix := oy*2-1+ky, ox*2-1+kx
								if iy >= 0 && iy < 6 && ix >= 0 && ix < 7 {
									best = max(best, x[(c*6+iy)*7+ix])
								}
							}
						}
						want = append(want, float32(best))
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s ceil_mode %d: got %v\nwant %v", dt, ceil, got, want)
			}
		}
	}
}

// TestQuantLayout runs Relu, Transpose, Flatten and Cast on int8 values.
func TestQuantLayout(t *testing.T) {
	g := newQGraph(300)
	g.input("x", onnx.Int8, 1, 2, 3, 4)
	x := g.ints(onnx.Int8, 24)
	g.node("Relu", []string{"x"}, "r")
	g.node("Transpose", []string{"r"}, "t", ints("perm", 0, 2, 3, 1))
	g.node("Flatten", []string{"t"}, "f", intAttr("axis", 1))
	g.node("Cast", []string{"f"}, "y", intAttr("to", int64(onnx.TensorProto_FLOAT)))
	got := runQ(t, g.model("y"), map[string][]int{"x": {1, 2, 3, 4}}, floats(x))[0]
	var want []float32
	for h := range 3 {
		for w := range 4 {
			for c := range 2 {
				want = append(want, float32(max(x[(c*3+h)*4+w], 0)))
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// TestQLinearAdd checks QLinearAdd of a run-time [1, 10] and a constant
// [10] against the real-valued sum, quantized: ONNX Runtime's float32
// arithmetic may round a value on a tie the other way, never further.
func TestQLinearAdd(t *testing.T) {
	g := newQGraph(400)
	g.input("a", onnx.Uint8, 1, 10)
	a, b := g.ints(onnx.Uint8, 10), g.ints(onnx.Uint8, 10)
	as, bs, cs := float32(0.05), float32(0.013), float32(0.07)
	az, bz, cz := int64(120), int64(30), int64(100)
	n := &onnx.NodeProto{OpType: "QLinearAdd", Domain: "com.microsoft", Name: "y", Output: []string{"y"},
		Input: []string{"a", g.scalar("as", as), g.zero("az", onnx.Uint8, az), g.init("b", onnx.Uint8, []int64{10}, b),
			g.scalar("bs", bs), g.zero("bz", onnx.Uint8, bz), g.scalar("cs", cs), g.zero("cz", onnx.Uint8, cz)}}
	g.nodes = append(g.nodes, n)
	got := runQ(t, g.model("y"), map[string][]int{"a": {1, 10}}, floats(a))[0]
	for i := range got {
		real := (float64(as)*float64(a[i]-az) + float64(bs)*float64(b[i]-bz)) / float64(cs)
		want := min(max(math.RoundToEven(real)+float64(cz), 0), 255)
		if math.Abs(float64(got[i])-want) > 1 {
			t.Errorf("y[%d] = %v, want %v (%.3f)", i, got[i], want, real+float64(cz))
		}
	}
}

// TestDynamicQuantMatMul runs a MatMul as quantize_dynamic writes it:
// DynamicQuantizeLinear, MatMulInteger with the run-time zero point, Cast,
// the scales' product, Mul; exact against the same integers computed
// here, and near the float product.
func TestDynamicQuantMatMul(t *testing.T) {
	g := newQGraph(500)
	g.input("x", onnx.Float, 2, 16)
	x := make([]float32, 32)
	for i := range x {
		x[i] = g.rng.Float32()*4 - 1
	}
	w := g.ints(onnx.Int8, 16*5)
	ws := float32(0.01)
	g.init("w", onnx.Int8, []int64{16, 5}, w)
	g.nodes = append(g.nodes, &onnx.NodeProto{OpType: "DynamicQuantizeLinear", Name: "dq", Input: []string{"x"}, Output: []string{"xq", "xs", "xz"}})
	g.node("MatMulInteger", []string{"xq", "w", "xz", g.zero("wz", onnx.Int8, 0)}, "acc")
	g.node("Cast", []string{"acc"}, "accf", intAttr("to", int64(onnx.TensorProto_FLOAT)))
	g.node("Mul", []string{"xs", g.scalar("ws", ws)}, "s")
	g.node("Mul", []string{"accf", "s"}, "y")
	got := runQ(t, g.model("y", "xz"), map[string][]int{"x": {2, 16}}, x)
	scale, zp := dynamicParams(x)
	if got[1][0] != float32(zp) {
		t.Errorf("zero point %v, want %d", got[1][0], zp)
	}
	for i := range 2 {
		for j := range 5 {
			acc, exact := int32(0), float64(0)
			for p := range 16 {
				acc += (quantize(x[i*16+p], scale, zp, 0, 255) - zp) * int32(w[p*5+j])
				exact += float64(x[i*16+p]) * float64(w[p*5+j]) * float64(ws)
			}
			want := float32(acc) * (scale * ws)
			if y := got[0][i*5+j]; y != want || math.Abs(float64(y)-exact) > 16*float64(scale*ws)*128 {
				t.Errorf("y[%d][%d] = %v, want %v (float %v)", i, j, y, want, exact)
			}
		}
	}
}

// qdqModel is a small classifier in the QDQ form ONNX Runtime's
// quantize_static writes (per-channel int8 weights, uint8 activations):
// Conv+Relu, MaxPool, BatchNormalization, Flatten, Gemm on 1x8x8 images.
func qdqModel(seed uint64) *onnx.ModelProto {
	g := newQGraph(seed)
	g.inputs = []*onnx.ValueInfoProto{imageInput("x", 8)}
	q := func(in, out string, s float32, z int64) {
		g.node("QuantizeLinear", []string{in, g.scalar(out+"_s", s), g.zero(out+"_z", onnx.Uint8, z)}, out)
		g.node("DequantizeLinear", []string{out, out + "_s", out + "_z"}, out+"_d")
	}
	weights := func(name string, dims []int64, perChannel bool, xs float32) (w, b string) {
		n := int(dims[0])
		v := g.ints(onnx.Int8, numel(toInts(dims)))
		ws := make([]float32, n)
		for i := range ws {
			ws[i] = 0.002 + 0.004*g.rng.Float32()
		}
		if !perChannel {
			ws = ws[:1]
		}
		sd := []int64{int64(len(ws))}
		if !perChannel {
			sd = nil
		}
		g.init(name, onnx.Int8, dims, v)
		g.node("DequantizeLinear", []string{name, g.init(name+"_s", onnx.Float, sd, ws), g.init(name+"_z", onnx.Int8, sd, make([]int64, len(ws)))}, name+"_d", intAttr("axis", 0))
		bs := make([]float32, len(ws))
		for i := range bs {
			bs[i] = xs * ws[i]
		}
		g.init(name+"b", onnx.Int32, []int64{int64(n)}, g.ints(onnx.Int32, n))
		g.node("DequantizeLinear", []string{name + "b", g.init(name+"b_s", onnx.Float, sd, bs)}, name+"b_d", intAttr("axis", 0))
		return name + "_d", name + "b_d"
	}
	q("x", "xq", 1.0/255, 0)
	w1, b1 := weights("w1", []int64{4, 1, 3, 3}, true, 1.0/255)
	g.node("Conv", []string{"xq_d", w1, b1}, "c1", ints("pads", 1, 1, 1, 1))
	g.node("Relu", []string{"c1"}, "r1")
	q("r1", "q1", 0.004, 0)
	g.node("MaxPool", []string{"q1_d"}, "p1", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	q("p1", "pq", 0.004, 0)
	g.node("BatchNormalization", []string{"pq_d", g.init("bn_s", onnx.Float, []int64{4}, []float32{1.5, 0.5, 1, 2}),
		g.init("bn_b", onnx.Float, []int64{4}, []float32{0.1, -0.1, 0, 0.2}), g.init("bn_m", onnx.Float, []int64{4}, []float32{0.2, 0.1, 0.3, 0}),
		g.init("bn_v", onnx.Float, []int64{4}, []float32{1, 2, 0.5, 1})}, "bn")
	q("bn", "bq", 0.01, 60)
	g.node("Flatten", []string{"bq_d"}, "fl", intAttr("axis", 1))
	q("fl", "fq", 0.011, 55)
	w2, b2 := weights("w2", []int64{10, 64}, false, 0.011)
	g.node("Gemm", []string{"fq_d", w2, b2}, "gm", intAttr("transB", 1))
	q("gm", "y", 0.05, 128)
	return g.model("y_d")
}

func toInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// TestQDQFusion compiles one QDQ model fused and as written: the fused
// plan must take the int8 kernels (its Fused chains say so) and agree
// with the float-emulated one within one step of the output's scale.
func TestQDQFusion(t *testing.T) {
	b, err := onnx.Marshal(qdqModel(600))
	if err != nil {
		t.Fatal(err)
	}
	fused, err := open(b, "q.onnx", ".", Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := open(b, "q.onnx", ".", Options{NoQuantFusion: true})
	if err != nil {
		t.Fatal(err)
	}
	// Flatten's Q has a scale of its own: DQ -> Flatten -> Q runs as
	// Flatten on the bytes and a table. The int8 convolution takes the
	// MaxPool into its epilogue (the BatchNormalization comes after it).
	want := [][]string{{"xq_d", "w1_d", "w1b_d", "c1", "r1", "q1"}, {"q1_d", "p1", "pq"}, {"pq_d", "bn", "bq"}, {"bq_d", "fl", "fq"},
		{"fq_d", "w2_d", "w2b_d", "gm", "y"}, {"c1", "p1"}}
	if !slices.EqualFunc(fused.Fused, want, slices.Equal) {
		t.Errorf("fused chains %q, want %q", fused.Fused, want)
	}
	// As written, float Conv and Relu may fuse (c1, r1), no DequantizeLinear
	// (named *_d) with them.
	dq := func(chain []string) bool {
		return slices.ContainsFunc(chain, func(n string) bool { return strings.HasSuffix(n, "_d") })
	}
	if fused.Int8Kernel == "" || plain.Int8Kernel != "" || slices.ContainsFunc(plain.Fused, dq) {
		t.Errorf("int8 kernel %q fused, %q (chains %q) as written", fused.Int8Kernel, plain.Int8Kernel, plain.Fused)
	}
	const n = 64
	x := make([]float32, n*64)
	rng := rand.New(rand.NewPCG(6, 0))
	for i := range x {
		x[i] = rng.Float32()
	}
	yf, yp := make([]float32, n*10), make([]float32, n*10)
	if err := fused.Logits(yf, x, n); err != nil {
		t.Fatal(err)
	}
	if err := plain.Logits(yp, x, n); err != nil {
		t.Fatal(err)
	}
	worst, differ, distinct := 0.0, 0, map[float32]bool{}
	for i := range yf {
		d := math.Abs(float64(yf[i]-yp[i])) / 0.05
		worst = max(worst, d)
		if d > 0.5 {
			differ++
		}
		distinct[yp[i]] = true
	}
	t.Logf("fused vs as written: worst %.2f steps, %d of %d values differ, %d distinct", worst, differ, len(yf), len(distinct))
	if worst > 1.01 || len(distinct) < 20 {
		t.Errorf("fused and float-emulated plans differ by %.2f steps (%d values), %d distinct outputs", worst, differ, len(distinct))
	}
}

// quantHostile is a quantized graph the compiler must refuse in one line
// naming what is wrong: kind is modelfile.ErrFormat, onnx.ErrUnsupported,
// or nil for either.
type quantHostile struct {
	name  string
	build func(g *qgraph) string // returns the output
	want  string
	kind  error
}

var quantHostiles = []quantHostile{
	{"scale 0", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0), g.zero("z", onnx.Uint8, 0)}, "y")
		return "y"
	}, "a scale must be positive", modelfile.ErrFormat},
	{"negative scale", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", -0.5)}, "q")
		g.node("DequantizeLinear", []string{"q", "s"}, "y")
		return "y"
	}, "scale -0.5", modelfile.ErrFormat},
	{"NaN scale", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", float32(math.NaN()))}, "y")
		return "y"
	}, "scale NaN", modelfile.ErrFormat},
	{"zero point out of range", func(g *qgraph) string {
		g.nodes = append(g.nodes, &onnx.NodeProto{OpType: "Constant", Output: []string{"z64"},
			Attribute: []*onnx.AttributeProto{{Name: "value", Type: onnx.AttributeProto_TENSOR, T: qtensor("", onnx.Int64, nil, []int64{300})}}})
		g.node("Cast", []string{"z64"}, "z", intAttr("to", int64(onnx.TensorProto_UINT8)))
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1), "z"}, "y")
		return "y"
	}, "zero point 300 is out of UINT8's range", modelfile.ErrFormat},
	{"zero point of int64", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1), g.init("z", onnx.Int64, nil, []int64{3})}, "y")
		return "y"
	}, "zero point \"z\" is INT64", modelfile.ErrFormat},
	{"zero point of another type", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1), g.zero("z", onnx.Int8, 0)}, "q")
		g.node("DequantizeLinear", []string{"q", "s", g.zero("z2", onnx.Uint8, 0)}, "y")
		return "y"
	}, "zero point \"z2\" is UINT8 for a INT8 tensor", modelfile.ErrFormat},
	{"per-axis scale of the wrong length", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.init("s", onnx.Float, []int64{4}, []float32{1, 1, 1, 1})}, "y", intAttr("axis", 1))
		return "y"
	}, "scale of 4 values for axis 1 of [1 3 4 4]", modelfile.ErrFormat},
	{"zero points and scales of different lengths", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.init("s", onnx.Float, []int64{3}, []float32{1, 1, 1}), g.zero("z", onnx.Uint8, 0)}, "y")
		return "y"
	}, "1 zero points for 3 scales", modelfile.ErrFormat},
	{"per-axis scale at opset 10", func(g *qgraph) string {
		g.opset = 10
		g.node("QuantizeLinear", []string{"x", g.init("s", onnx.Float, []int64{3}, []float32{1, 1, 1})}, "y")
		return "y"
	}, "scale of 3 values where one is allowed", modelfile.ErrFormat},
	{"dequantize floats", func(g *qgraph) string {
		g.node("DequantizeLinear", []string{"x", g.scalar("s", 0.1)}, "y")
		return "y"
	}, "DequantizeLinear of a float tensor", modelfile.ErrFormat},
	{"float zero point", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1), g.scalar("z", 1)}, "y")
		return "y"
	}, "zero point \"z\" is FLOAT", modelfile.ErrFormat},
	{"float weights", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1)}, "q")
		g.node("QLinearConv", []string{"q", "s", "", g.init("w", onnx.Float, []int64{1, 3, 1, 1}, []float32{1, 1, 1}), "s", "", "s", ""}, "y")
		return "y"
	}, "weights computed at run time or not int8", onnx.ErrUnsupported},
	{"bias of int8", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1)}, "q")
		g.node("QLinearConv", []string{"q", "s", "", g.init("w", onnx.Int8, []int64{1, 3, 1, 1}, []int64{1, 1, 1}), "s", "", "s", "",
			g.init("b", onnx.Int8, []int64{1}, []int64{1})}, "y")
		return "y"
	}, "want 1 INT32 values", modelfile.ErrFormat},
	{"per-channel weight scales of the wrong length", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1)}, "q")
		g.node("QLinearConv", []string{"q", "s", "", g.init("w", onnx.Int8, []int64{2, 3, 1, 1}, make([]int64, 6)),
			g.init("ws", onnx.Float, []int64{3}, []float32{1, 1, 1}), "", "s", ""}, "y")
		return "y"
	}, "scale of 3 values for axis 0 of [2 3 1 1]", modelfile.ErrFormat},
	{"a ninth input to QLinearMatMul", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1)}, "q")
		g.node("Reshape", []string{"q", g.init("shape", onnx.Int64, []int64{2}, []int64{1, 48})}, "r")
		g.node("QLinearMatMul", []string{"r", "s", "", g.init("w", onnx.Int8, []int64{48, 2}, make([]int64, 96)), "s", "", "s", "",
			g.init("b", onnx.Int32, []int64{2}, []int64{1, 1})}, "y")
		return "y"
	}, "QLinearMatMul takes 8 inputs", modelfile.ErrFormat},
	{"float operator on uint8 values", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1)}, "q")
		g.node("Sigmoid", []string{"q"}, "y")
		return "y"
	}, "Sigmoid of a UINT8 value", onnx.ErrUnsupported},
	{"QLinearAdd in the default domain", func(g *qgraph) string {
		g.node("QuantizeLinear", []string{"x", g.scalar("s", 0.1)}, "q")
		g.node("QLinearAdd", []string{"q", "s", "", "q", "s", "", "s", ""}, "y")
		return "y"
	}, "QLinearAdd", onnx.ErrUnsupported},
}

// TestQuantHostile: every hostile quantized graph is refused when it is
// compiled, in one line that says why, and nothing panics.
func TestQuantHostile(t *testing.T) {
	for _, c := range quantHostiles {
		t.Run(c.name, func(t *testing.T) {
			g := newQGraph(700)
			g.input("x", onnx.Float, 1, 3, 4, 4)
			m := g.model(c.build(g))
			_, err := compileQ(m, map[string][]int{"x": {1, 3, 4, 4}}, Options{ReadOptions: modelfile.ReadOptions{AllowNonFinite: true}})
			if err == nil {
				t.Fatalf("compiled; want an error saying %q", c.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "onnx: q.onnx: ") {
				t.Errorf("error %q; want one line naming the file and saying %q", msg, c.want)
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", msg, c.kind)
			}
		})
	}
}

// quantCorpus is FuzzOpenCompile's seeds of quantized graphs: the QDQ
// classifier and the hostile graphs.
func quantCorpus() []*onnx.ModelProto {
	ms := []*onnx.ModelProto{qdqModel(600)}
	for _, c := range quantHostiles {
		g := newQGraph(700)
		g.input("x", onnx.Float, 1, 3, 4, 4)
		ms = append(ms, g.model(c.build(g)))
	}
	return ms
}

// TestQDQFusionNeedsEightBit: a DequantizeLinear without a zero point of
// an int32 value (a MatMulInteger's) before a Gemm and a Q is not fused
// into an int8 product, which would not take it: the graph runs as
// written.
func TestQDQFusionNeedsEightBit(t *testing.T) {
	g := newQGraph(800)
	g.input("a", onnx.Uint8, 1, 4)
	a := g.ints(onnx.Uint8, 4)
	g.node("MatMulInteger", []string{"a", g.init("m", onnx.Int8, []int64{4, 3}, g.ints(onnx.Int8, 12))}, "acc")
	g.node("DequantizeLinear", []string{"acc", g.scalar("s", 0.001)}, "accd")
	g.node("DequantizeLinear", []string{g.init("w", onnx.Int8, []int64{3, 2}, g.ints(onnx.Int8, 6)), g.scalar("ws", 0.01)}, "wd")
	g.node("Gemm", []string{"accd", "wd"}, "gm")
	g.node("QuantizeLinear", []string{"gm", g.scalar("ys", 0.01)}, "y")
	p, err := compileQ(g.model("y"), map[string][]int{"a": {1, 4}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Fused) != 0 {
		t.Errorf("fused %q", p.Fused)
	}
	if _, err := p.Run([][]float32{floats(a)}); err != nil {
		t.Fatal(err)
	}
}
