package backend

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// convPlanCase is a classifier of 32x32 images through the conv path the
// fast kernels take: the fused seed block (blockStep), a 3x3 stride-2
// convolution on the direct channels-last kernels (direct3x3Step), a 1x1
// one channels-last (pwNHWCStep), then the pooling (meanNHWCStep).
var convPlanCase = graphCase{name: "conv plan", opset: 13, side: 32, features: 32, nodes: func(b *builder) {
	conv3(b, "x", "c", 1, 16)
	b.node("Relu", []string{"c"}, "r")
	b.node("BatchNormalization", []string{"r", b.positive(16), b.weight(16), b.weight(16), b.positive(16)}, "n", floatAttr("epsilon", 1e-5))
	b.node("MaxPool", []string{"n"}, "p", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	b.node("Conv", []string{"p", b.weight(32, 16, 3, 3), b.weight(32)}, "c2", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 2, 2))
	b.node("Conv", []string{"c2", b.weight(32, 32, 1, 1)}, "c3", ints("kernel_shape", 1, 1))
	b.node("GlobalAveragePool", []string{"c3"}, "h")
}}

// BenchmarkPlanConv classifies one image and a batch of 16 through
// convPlanCase.
func BenchmarkPlanConv(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.onnx")
	writeModel(&testing.T{}, convPlanCase.model(1), path)
	p, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 16} {
		x := randomImages(n, 32)
		out := make([]float32, n*p.Outputs)
		b.Run(map[int]string{1: "one", 16: "batch16"}[n], func(b *testing.B) {
			for range b.N {
				if err := p.Logits(out, x, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// wholeIn is a graph input of a plan of whole tensors and its values.
type wholeIn struct {
	name  string
	shape []int
	v     []float32
}

// runWhole compiles nodes into a plan of whole tensors of the inputs' shapes
// and runs it, returning the outputs named.
func runWhole(t *testing.T, opset int64, nodes []*onnx.NodeProto, inits []*onnx.TensorProto, ins []wholeIn, outs ...string) ([][]float32, error) {
	t.Helper()
	g := &onnx.GraphProto{Name: "whole", Node: nodes, Initializer: inits}
	shapes := map[string][]int{}
	var data [][]float32
	for _, in := range ins {
		g.Input = append(g.Input, &onnx.ValueInfoProto{Name: in.name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT)}}}})
		shapes[in.name] = in.shape
		data = append(data, in.v)
	}
	for _, o := range outs {
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: o})
	}
	m := &onnx.ModelProto{IrVersion: 8, OpsetImport: []*onnx.OperatorSetIdProto{{Version: opset}}, Graph: g}
	path := filepath.Join(t.TempDir(), "m.onnx")
	writeModel(t, m, path)
	p, err := OpenOptions(path, Options{Shapes: shapes})
	if err != nil {
		return nil, err
	}
	return p.Run(data)
}

// randn is n normal values of a fixed seed.
func randn(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// closeTo fails t unless got and want agree within rtol 1e-4, atol 1e-5.
func closeTo(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		if g := float64(got[i]); !(math.Abs(g-w) <= 1e-5+1e-4*math.Abs(w)) {
			t.Fatalf("%s: value %d is %v, want %v", what, i, g, w)
		}
	}
}

// convGeo is a convolution or pooling window for the references: per
// spatial axis kernel, stride, dilation, pads before and after.
type convGeo struct {
	k, s, d, pb, pe []int
}

// outSize is the output's size along axis a of an input of size n (floor).
func (g convGeo) outSize(n, a int) int {
	return (n+g.pb[a]+g.pe[a]-(g.k[a]-1)*g.d[a]-1)/g.s[a] + 1
}

// refConvND is ONNX's Conv by its definition over 1 or 2 spatial axes.
func refConvND(x []float32, xs []int, w []float32, ws []int, bias []float32, group int, g convGeo) ([]float64, []int) {
	n, c, m := xs[0], xs[1], ws[0]
	sp := xs[2:]
	if len(sp) == 1 {
		sp = []int{1, sp[0]}
		g = convGeo{append([]int{1}, g.k...), append([]int{1}, g.s...), append([]int{1}, g.d...), append([]int{0}, g.pb...), append([]int{0}, g.pe...)}
	}
	oh, ow := g.outSize(sp[0], 0), g.outSize(sp[1], 1)
	cg, mg := c/group, m/group
	y := make([]float64, n*m*oh*ow)
	for b := range n {
		for oc := range m {
			for r := range oh {
				for j := range ow {
					var s float64
					if bias != nil {
						s = float64(bias[oc])
					}
					for ic := range cg {
						for kh := range g.k[0] {
							for kw := range g.k[1] {
								ih, iw := r*g.s[0]-g.pb[0]+kh*g.d[0], j*g.s[1]-g.pb[1]+kw*g.d[1]
								if ih < 0 || ih >= sp[0] || iw < 0 || iw >= sp[1] {
									continue
								}
								ch := oc/mg*cg + ic
								s += float64(w[((oc*cg+ic)*g.k[0]+kh)*g.k[1]+kw]) * float64(x[((b*c+ch)*sp[0]+ih)*sp[1]+iw])
							}
						}
					}
					y[((b*m+oc)*oh+r)*ow+j] = s
				}
			}
		}
	}
	if len(xs) == 3 {
		return y, []int{n, m, ow}
	}
	return y, []int{n, m, oh, ow}
}

func TestConvGeneral(t *testing.T) {
	cases := []struct {
		name          string
		x, w          []int
		group         int
		bias, runtime bool // runtime: W and B are graph inputs
		attrs         []*onnx.AttributeProto
		g             convGeo
	}{
		{"plain batch 3", []int{3, 2, 6, 5}, []int{4, 2, 3, 3}, 1, true, false,
			[]*onnx.AttributeProto{ints("pads", 1, 1, 1, 1)}, convGeo{[]int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}}},
		{"groups 2 stride 2", []int{2, 4, 7, 6}, []int{6, 2, 3, 2}, 2, true, false,
			[]*onnx.AttributeProto{ints("strides", 2, 2), ints("pads", 1, 0, 0, 1)}, convGeo{[]int{3, 2}, []int{2, 2}, []int{1, 1}, []int{1, 0}, []int{0, 1}}},
		{"depthwise", []int{1, 3, 5, 5}, []int{3, 1, 3, 3}, 3, false, false,
			[]*onnx.AttributeProto{ints("pads", 1, 1, 1, 1)}, convGeo{[]int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}}},
		{"dilation 2 SAME_UPPER", []int{2, 2, 7, 8}, []int{3, 2, 3, 3}, 1, true, false,
			[]*onnx.AttributeProto{ints("dilations", 2, 2), strAttr("auto_pad", "SAME_UPPER")}, convGeo{[]int{3, 3}, []int{1, 1}, []int{2, 2}, []int{2, 2}, []int{2, 2}}},
		{"dilation SAME_LOWER stride 2", []int{1, 1, 8, 8}, []int{2, 1, 2, 2}, 1, false, false,
			[]*onnx.AttributeProto{ints("dilations", 3, 2), ints("strides", 2, 2), strAttr("auto_pad", "SAME_LOWER")}, convGeo{[]int{2, 2}, []int{2, 2}, []int{3, 2}, []int{1, 1}, []int{1, 0}}},
		{"1-D depthwise dilated", []int{2, 4, 9}, []int{4, 1, 3}, 4, true, false,
			[]*onnx.AttributeProto{ints("dilations", 2), ints("pads", 2, 1)}, convGeo{[]int{3}, []int{1}, []int{2}, []int{2}, []int{1}}},
		{"1-D plain one", []int{1, 2, 9}, []int{3, 2, 3}, 1, true, false,
			[]*onnx.AttributeProto{ints("strides", 2)}, convGeo{[]int{3}, []int{2}, []int{1}, []int{0}, []int{0}}},
		{"run-time weights", []int{2, 2, 5, 5}, []int{2, 1, 3, 3}, 2, true, true,
			nil, convGeo{[]int{3, 3}, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{0, 0}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, w := randn(uint64(i), numel(tc.x)), randn(uint64(i+100), numel(tc.w))
			var bias []float32
			ins := []wholeIn{{"x", tc.x, x}}
			var inits []*onnx.TensorProto
			names := []string{"x", "w"}
			if tc.runtime {
				ins = append(ins, wholeIn{"w", tc.w, w})
			} else {
				dims := make([]int64, len(tc.w))
				for j, d := range tc.w {
					dims[j] = int64(d)
				}
				inits = append(inits, &onnx.TensorProto{Name: "w", Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), FloatData: w})
			}
			if tc.bias {
				bias = randn(uint64(i+200), tc.w[0])
				names = append(names, "b")
				if tc.runtime {
					ins = append(ins, wholeIn{"b", []int{tc.w[0]}, bias})
				} else {
					inits = append(inits, &onnx.TensorProto{Name: "b", Dims: []int64{int64(tc.w[0])}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: bias})
				}
			}
			attrs := append([]*onnx.AttributeProto{intAttr("group", int64(tc.group))}, tc.attrs...)
			got, err := runWhole(t, 13, []*onnx.NodeProto{nodeOf("Conv", names, "y", attrs...)}, inits, ins, "y")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := refConvND(x, tc.x, w, tc.w, bias, tc.group, tc.g)
			closeTo(t, tc.name, got[0], want)
		})
	}
}

// refPool is max or average pooling by its definition over any spatial
// axes, floor mode: the window's taps inside the input, averaged over
// them or (countPad) over those inside input and padding.
func refPool(x []float32, xs []int, isMax, countPad bool, g convGeo) []float64 {
	rows, sp := xs[0]*xs[1], xs[2:]
	out := make([]int, len(sp))
	for a := range sp {
		out[a] = g.outSize(sp[a], a)
	}
	inN, outN := numel(sp), numel(out)
	y := make([]float64, rows*outN)
	pos, tap := make([]int, len(sp)), make([]int, len(sp))
	for r := range rows {
		for o := range outN {
			for a, rem := len(sp)-1, o; a >= 0; a-- {
				pos[a], rem = rem%out[a], rem/out[a]
			}
			m, sum, n, np := math.Inf(-1), 0.0, 0, 0
			for t := range numel(g.k) {
				inside, padded, off := true, true, 0
				for a, rem := len(sp)-1, t; a >= 0; a-- {
					tap[a], rem = rem%g.k[a], rem/g.k[a]
				}
				for a := range sp {
					i := pos[a]*g.s[a] - g.pb[a] + tap[a]*g.d[a]
					inside = inside && i >= 0 && i < sp[a]
					padded = padded && i >= -g.pb[a] && i < sp[a]+g.pe[a]
					off = off*sp[a] + i
				}
				if padded {
					np++
				}
				if !inside {
					continue
				}
				v := float64(x[r*inN+off])
				m, sum, n = max(m, v), sum+v, n+1
			}
			switch {
			case isMax:
				y[r*outN+o] = m
			case countPad:
				y[r*outN+o] = sum / float64(np)
			default:
				y[r*outN+o] = sum / float64(n)
			}
		}
	}
	return y
}

func TestPoolGeneral(t *testing.T) {
	cases := []struct {
		name     string
		typ      string
		x        []int
		countPad bool
		attrs    []*onnx.AttributeProto
		g        convGeo
	}{
		{"max 2-D batch 2", "MaxPool", []int{2, 3, 6, 7}, false,
			[]*onnx.AttributeProto{ints("kernel_shape", 3, 2), ints("strides", 2, 2), ints("pads", 1, 0, 1, 1)}, convGeo{[]int{3, 2}, []int{2, 2}, []int{1, 1}, []int{1, 0}, []int{1, 1}}},
		{"max dilations", "MaxPool", []int{2, 2, 7, 7}, false,
			[]*onnx.AttributeProto{ints("kernel_shape", 2, 3), ints("dilations", 3, 2), ints("pads", 1, 1, 1, 1)}, convGeo{[]int{2, 3}, []int{1, 1}, []int{3, 2}, []int{1, 1}, []int{1, 1}}},
		{"average 3-D batch 2", "AveragePool", []int{2, 2, 4, 5, 3}, false,
			[]*onnx.AttributeProto{ints("kernel_shape", 2, 3, 2), ints("pads", 1, 1, 0, 0, 1, 1)}, convGeo{[]int{2, 3, 2}, []int{1, 1, 1}, []int{1, 1, 1}, []int{1, 1, 0}, []int{0, 1, 1}}},
		{"average 1-D count_include_pad", "AveragePool", []int{3, 2, 9}, true,
			[]*onnx.AttributeProto{ints("kernel_shape", 3), ints("strides", 2), ints("pads", 2, 1), intAttr("count_include_pad", 1)}, convGeo{[]int{3}, []int{2}, []int{1}, []int{2}, []int{1}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := randn(uint64(i), numel(tc.x))
			got, err := runWhole(t, 12, []*onnx.NodeProto{nodeOf(tc.typ, []string{"x"}, "y", tc.attrs...)}, nil, []wholeIn{{"x", tc.x, x}}, "y")
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, tc.name, got[0], refPool(x, tc.x, tc.typ == "MaxPool", tc.countPad, tc.g))
		})
	}
}

func TestGlobalPoolsAndBatchNormBatched(t *testing.T) {
	xs := []int{2, 3, 4, 5}
	x := randn(1, numel(xs))
	nodes := []*onnx.NodeProto{
		nodeOf("GlobalAveragePool", []string{"x"}, "avg"), nodeOf("GlobalMaxPool", []string{"x"}, "max"),
		nodeOf("BatchNormalization", []string{"x", "s", "b", "m", "v"}, "bn", floatAttr("epsilon", 1e-3)),
		nodeOf("BatchNormalization", []string{"x", "s", "b", "m", "vk"}, "bnk", floatAttr("epsilon", 1e-3)),
	}
	s, b, m, v := randn(2, 3), randn(3, 3), randn(4, 3), []float32{0.5, 1, 2}
	got, err := runWhole(t, 15, nodes, []*onnx.TensorProto{{Name: "vk", Dims: []int64{3}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: v}},
		[]wholeIn{{"x", xs, x}, {"s", []int{3}, s}, {"b", []int{3}, b}, {"m", []int{3}, m}, {"v", []int{3}, v}}, "avg", "max", "bn", "bnk")
	if err != nil {
		t.Fatal(err)
	}
	var avg, mx, bn []float64
	for r := range 6 {
		row := x[r*20 : (r+1)*20]
		sum, top := 0.0, math.Inf(-1)
		for _, e := range row {
			sum, top = sum+float64(e), max(top, float64(e))
		}
		avg, mx = append(avg, sum/20), append(mx, top)
		ch := r % 3
		for _, e := range row {
			bn = append(bn, (float64(e)-float64(m[ch]))/math.Sqrt(float64(v[ch])+1e-3)*float64(s[ch])+float64(b[ch]))
		}
	}
	closeTo(t, "GlobalAveragePool", got[0], avg)
	closeTo(t, "GlobalMaxPool", got[1], mx)
	closeTo(t, "BatchNormalization (run-time parameters)", got[2], bn)
	closeTo(t, "BatchNormalization (a constant among them)", got[3], bn)
}

func TestConvPoolRefusals(t *testing.T) {
	w := &onnx.TensorProto{Name: "w", Dims: []int64{2, 1, 3, 3}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: make([]float32, 18)}
	w3 := &onnx.TensorProto{Name: "w3", Dims: []int64{2, 2, 1, 1, 1}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: make([]float32, 4)}
	cases := []struct {
		name  string
		node  *onnx.NodeProto
		x     []int
		kind  error
		inits []*onnx.TensorProto
	}{
		{"group not dividing", nodeOf("Conv", []string{"x", "w"}, "y", intAttr("group", 3)), []int{1, 2, 5, 5}, modelfile.ErrFormat, nil},
		{"weights for other channels", nodeOf("Conv", []string{"x", "w"}, "y"), []int{1, 3, 5, 5}, modelfile.ErrFormat, nil},
		{"3-D convolution", nodeOf("Conv", []string{"x", "w3"}, "y"), []int{1, 2, 3, 3, 3}, onnx.ErrUnsupported, []*onnx.TensorProto{w3}},
		{"dilations of the wrong rank", nodeOf("Conv", []string{"x", "w"}, "y", ints("dilations", 2)), []int{1, 1, 5, 5}, modelfile.ErrFormat, nil},
		{"dilated kernel past the input", nodeOf("Conv", []string{"x", "w"}, "y", ints("dilations", 3, 3)), []int{1, 1, 5, 5}, modelfile.ErrFormat, nil},
		{"zero dilation", nodeOf("MaxPool", []string{"x"}, "y", ints("kernel_shape", 2, 2), ints("dilations", 0, 1)), []int{1, 1, 5, 5}, modelfile.ErrFormat, nil},
		{"Indices", &onnx.NodeProto{OpType: "MaxPool", Input: []string{"x"}, Output: []string{"y", "i"}, Attribute: []*onnx.AttributeProto{ints("kernel_shape", 2, 2)}}, []int{1, 1, 4, 4}, onnx.ErrUnsupported, nil},
		{"kernel_shape of the wrong rank", nodeOf("AveragePool", []string{"x"}, "y", ints("kernel_shape", 2)), []int{1, 1, 4, 4}, modelfile.ErrFormat, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inits := tc.inits
			if inits == nil {
				inits = []*onnx.TensorProto{w}
			}
			_, err := runWhole(t, 13, []*onnx.NodeProto{tc.node}, inits, []wholeIn{{"x", tc.x, make([]float32, numel(tc.x))}}, "y")
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want one matching %v", err, tc.kind)
			}
		})
	}
}
