package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// relu6 adds Clip(in, 0, 6) as opset 11 on writes it, bounds as inputs.
func relu6(b *builder, in, out string) {
	b.inits = append(b.inits, scalarInit("zero"+out, 0), scalarInit("six"+out, 6))
	b.node("Clip", []string{in, "zero" + out, "six" + out}, out)
}

func scalarInit(name string, v float32) *onnx.TensorProto {
	return &onnx.TensorProto{Name: name, DataType: int32(onnx.TensorProto_FLOAT), FloatData: []float32{v}}
}

// separable adds a depthwise 3x3 (stride s, padding 1) and its
// activation, then a 1x1 of c to k channels and its: act names the
// activation, "relu6", "relu" or "" for none.
func separable(b *builder, in, out string, c, k, s int64, act string) {
	b.node("Conv", []string{in, b.weight(c, 1, 3, 3), b.weight(c)}, out+"d", intAttr("group", c), ints("kernel_shape", 3, 3),
		ints("pads", 1, 1, 1, 1), ints("strides", s, s))
	da := activation(b, out+"d", out+"da", act)
	p := out
	if act != "" {
		p = out + "p"
	}
	b.node("Conv", []string{da, b.weight(k, c, 1, 1), b.weight(k)}, p, ints("kernel_shape", 1, 1))
	activation(b, p, out, act)
}

// activation adds act, read from in, and returns its output: out, or in
// itself for none.
func activation(b *builder, in, out, act string) string {
	switch act {
	case "relu6":
		relu6(b, in, out)
	case "relu":
		b.node("Relu", []string{in}, out)
	default:
		return in
	}
	return out
}

// separableCases are MobileNet's blocks and their odd forms: channels
// not a multiple of a vector, maps no group of pixels divides, stride 2
// of odd and even maps, each activation, and what reads the last map
// (GlobalAveragePool, a dense layer, another convolution).
var separableCases = []graphCase{
	{name: "mobilenet_tiny's: stem, 16 to 32, 32 to 64 of stride 2, 64 to 64, GlobalAveragePool", opset: 13, side: 28, features: 64, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(16, 1, 3, 3), b.weight(16)}, "s", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 2, 2))
		relu6(b, "s", "s6")
		separable(b, "s6", "a", 16, 32, 1, "relu6")
		separable(b, "a", "b", 32, 64, 2, "relu6")
		separable(b, "b", "c", 64, 64, 1, "relu6")
		b.node("GlobalAveragePool", []string{"c"}, "h")
	}},
	{name: "odd: 13 wide, 3 to 17 to 24 of stride 2 (7x7), Relu, then a dense layer", opset: 13, side: 13, features: 24 * 7 * 7, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(3, 1, 3, 3)}, "s", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		separable(b, "s", "a", 3, 17, 1, "relu")
		separable(b, "a", "h", 17, 24, 2, "relu")
	}},
	{name: "no activation, stride 2 of an odd map (9 to 5), 20 channels, GlobalAveragePool", opset: 13, side: 9, features: 20, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(20, 1, 3, 3), b.weight(20)}, "s", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("Relu", []string{"s"}, "r")
		separable(b, "r", "a", 20, 20, 2, "")
		b.node("GlobalAveragePool", []string{"a"}, "h")
	}},
	{name: "maps narrower than a group of pixels (3x3, 2x2), a 3x3 convolution after", opset: 13, side: 6, features: 8 * 2 * 2, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(8, 1, 3, 3), b.weight(8)}, "s", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 2, 2))
		separable(b, "s", "a", 8, 40, 1, "relu6")
		separable(b, "a", "b", 40, 8, 2, "relu6")
		b.node("Conv", []string{"b", b.weight(8, 8, 3, 3), b.weight(8)}, "h", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
	}},
	{name: "opset 10: Clip's bounds are attributes", opset: 10, side: 8, features: 16, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(8, 1, 3, 3), b.weight(8)}, "s", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("Clip", []string{"s"}, "s6", floatAttr("min", 0), floatAttr("max", 6))
		b.node("Conv", []string{"s6", b.weight(8, 1, 3, 3), b.weight(8)}, "d", intAttr("group", 8), ints("kernel_shape", 3, 3),
			ints("pads", 1, 1, 1, 1), ints("strides", 2, 2))
		b.node("Clip", []string{"d"}, "d6", floatAttr("min", -0.5), floatAttr("max", 0.5))
		b.node("Conv", []string{"d6", b.weight(16, 8, 1, 1), b.weight(16)}, "p", ints("kernel_shape", 1, 1))
		b.node("Clip", []string{"p"}, "p6", floatAttr("min", 0), floatAttr("max", 6))
		b.node("GlobalAveragePool", []string{"p6"}, "h")
	}},
	{name: "a 1x1's output read twice: through an Identity by a depthwise convolution, and by an Add", opset: 13, side: 10, features: 16, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(8, 1, 3, 3), b.weight(8)}, "s", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 2, 2))
		relu6(b, "s", "s6")
		separable(b, "s6", "a", 8, 16, 1, "relu6")
		b.node("Identity", []string{"a"}, "ai")
		separable(b, "ai", "c", 16, 16, 1, "relu")
		b.node("Add", []string{"a", "c"}, "m")
		b.node("GlobalAveragePool", []string{"m"}, "h")
	}},
	{name: "dwbn's: stem and depthwise, each with BatchNormalization and Relu, MaxPool 2x2, 8 to 16, GlobalAveragePool", opset: 13, side: 28, features: 16, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(8, 1, 3, 3)}, "s", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("BatchNormalization", []string{"s", b.positive(8), b.weight(8), b.weight(8), b.positive(8)}, "sn", floatAttr("epsilon", 1e-5))
		b.node("Relu", []string{"sn"}, "sr")
		b.node("Conv", []string{"sr", b.weight(8, 1, 3, 3)}, "d", intAttr("group", 8), ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("BatchNormalization", []string{"d", b.positive(8), b.weight(8), b.weight(8), b.positive(8)}, "dn", floatAttr("epsilon", 1e-5))
		b.node("Relu", []string{"dn"}, "dr")
		b.node("MaxPool", []string{"dr"}, "p", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
		b.node("Conv", []string{"p", b.weight(16, 8, 1, 1), b.weight(16)}, "q", ints("kernel_shape", 1, 1))
		b.node("Relu", []string{"q"}, "qr")
		b.node("GlobalAveragePool", []string{"qr"}, "h")
	}},
	{name: "MaxPool of an odd map (13 to 6), 5 channels, then a dense layer", opset: 13, side: 13, features: 12 * 6 * 6, nodes: func(b *builder) {
		b.node("Conv", []string{"x", b.weight(5, 1, 3, 3), b.weight(5)}, "s", ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("Relu", []string{"s"}, "sr")
		b.node("Conv", []string{"sr", b.weight(5, 1, 3, 3), b.weight(5)}, "d", intAttr("group", 5), ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
		b.node("Relu", []string{"d"}, "dr")
		b.node("MaxPool", []string{"dr"}, "p", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
		b.node("Conv", []string{"p", b.weight(12, 5, 1, 1), b.weight(12)}, "q", ints("kernel_shape", 1, 1))
		b.node("Relu", []string{"q"}, "h")
	}},
}

// TestSeparableMatchesORT runs the cases through the plan and ONNX
// Runtime, a batch and one image alone (rows split between the CPUs),
// and checks the blocks ran channels-last.
func TestSeparableMatchesORT(t *testing.T) {
	// The depthwise steps whose padded input the step before writes: the
	// stem's (each case's first convolution, of one channel) and the 1x1
	// steps' that a depthwise one follows.
	handed := map[string]int{separableCases[0].name: 3, separableCases[1].name: 2, separableCases[2].name: 1, separableCases[3].name: 2, separableCases[4].name: 1, separableCases[5].name: 1,
		separableCases[6].name: 1, separableCases[7].name: 1}
	matchORT(t, separableCases, 16, 500, func(t *testing.T, gc graphCase, p *Plan) {
		if !hasStep[stemStep](p) || !hasStep[dwNHWCStep](p) || !hasStep[pwNHWCStep](p) {
			t.Errorf("channels-last steps: stem %v, depthwise %v, 1x1 %v; want all", hasStep[stemStep](p), hasStep[dwNHWCStep](p), hasStep[pwNHWCStep](p))
		}
		got := 0
		for _, s := range p.steps {
			if d, ok := s.(dwNHWCStep); ok && d.handed {
				got++
			}
		}
		if got != handed[gc.name] {
			t.Errorf("%d depthwise steps handed their padded input, want %d", got, handed[gc.name])
		}
		if (gc.name == separableCases[0].name || gc.name == separableCases[4].name || gc.name == separableCases[6].name) && !hasStep[meanNHWCStep](p) {
			t.Error("GlobalAveragePool did not read the map channels-last")
		}
		if strings.Contains(gc.name, "MaxPool") && !hasStep[poolNHWCStep](p) {
			t.Error("MaxPool did not pool the map channels-last")
		}
		for _, s := range p.steps {
			if _, ok := s.(unaryStep); ok {
				t.Error("an activation ran as a step of its own")
			}
		}
	})
}

// TestSeparableSteps compares the channels-last steps with the paths of
// weights given at run time (planes, im2col): depthwise of each stride,
// the 1x1 after it, each activation fused, a 2x2 MaxPool between them,
// NaN and infinities.
func TestSeparableSteps(t *testing.T) {
	inf := float32(math.Inf(1))
	for i, tc := range []struct {
		c, k, h, w, s int
		act           string
		nan, pool     bool
	}{
		{16, 32, 14, 14, 1, "relu6", false, false},
		{32, 64, 14, 14, 2, "relu6", false, false},
		{17, 5, 9, 11, 2, "relu", false, false},
		{3, 33, 5, 3, 1, "", false, false},
		{24, 24, 8, 7, 2, "relu6", true, false},
		{9, 16, 1, 1, 1, "relu", false, false},
		{8, 16, 28, 28, 1, "relu", false, true},
		{16, 8, 9, 10, 1, "relu", true, true},
	} {
		t.Run(fmt.Sprintf("%d to %d of %dx%d stride %d %s pool %v", tc.c, tc.k, tc.h, tc.w, tc.s, tc.act, tc.pool), func(t *testing.T) {
			x := randn(uint64(i), tc.c*tc.h*tc.w)
			if tc.nan {
				x[len(x)/2], x[3] = float32(math.NaN()), -inf
			}
			wd, bd := randn(uint64(i+10), tc.c*9), randn(uint64(i+20), tc.c)
			wp, bp := randn(uint64(i+30), tc.k*tc.c), randn(uint64(i+40), tc.k)
			b := &builder{}
			// The depthwise convolution reads the first layout turn's
			// output, as after a stem; the Identity keeps x an input.
			b.node("Identity", []string{"x"}, "xi")
			b.node("Conv", []string{"xi", "wd", "bd"}, "d", intAttr("group", int64(tc.c)), ints("pads", 1, 1, 1, 1), ints("strides", int64(tc.s), int64(tc.s)))
			da := activation(b, "d", "da", tc.act)
			if tc.pool {
				b.node("MaxPool", []string{da}, "dp", ints("kernel_shape", 2, 2), ints("strides", 2, 2))
				da = "dp"
			}
			b.node("Conv", []string{da, "wp", "bp"}, "p")
			b.node("Identity", []string{activation(b, "p", "pa", tc.act)}, "y")
			init := func(name string, v []float32, dims ...int64) *onnx.TensorProto {
				return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), FloatData: v}
			}
			c, k := int64(tc.c), int64(tc.k)
			weights := []*onnx.TensorProto{init("wd", wd, c, 1, 3, 3), init("bd", bd, c), init("wp", wp, k, c, 1, 1), init("bp", bp, k)}
			ins := []wholeIn{{"x", []int{1, tc.c, tc.h, tc.w}, x}, {"wd", []int{tc.c, 1, 3, 3}, wd}, {"bd", []int{tc.c}, bd},
				{"wp", []int{tc.k, tc.c, 1, 1}, wp}, {"bp", []int{tc.k}, bp}}
			fast := wholePlan(t, b.nodes, append(weights, b.inits...), ins[:1], "y")
			general := wholePlan(t, b.nodes, b.inits, ins, "y")
			if !hasStep[dwNHWCStep](fast) || !hasStep[pwNHWCStep](fast) || hasStep[dwNHWCStep](general) || hasStep[pwNHWCStep](general) ||
				hasStep[poolNHWCStep](fast) != tc.pool || hasStep[poolNHWCStep](general) {
				t.Fatal("the channels-last steps did not run with constant weights only")
			}
			got, err := fast.Run([][]float32{x})
			if err != nil {
				t.Fatal(err)
			}
			want, err := general.Run([][]float32{x, wd, bd, wp, bp})
			if err != nil {
				t.Fatal(err)
			}
			// Neither path lets a NaN through the Relu and the pool
			// (the planes' pool skips it), so the outputs hold none.
			sameFloats(t, got[0], want[0], tc.nan && !tc.pool)
		})
	}
}

// TestSeparableMalformedClip: a Clip the steps would fuse, but malformed
// (opset 13's bounds as attributes), is still refused.
func TestSeparableMalformedClip(t *testing.T) {
	b := &builder{rng: rand.New(rand.NewPCG(1, 2))}
	b.node("Identity", []string{"x"}, "xi")
	b.node("Conv", []string{"xi", b.weight(8, 1, 3, 3), b.weight(8)}, "d", intAttr("group", 8), ints("pads", 1, 1, 1, 1))
	b.node("Clip", []string{"d"}, "d6", floatAttr("min", 0), floatAttr("max", 6))
	b.node("Conv", []string{"d6", b.weight(16, 8, 1, 1), b.weight(16)}, "y")
	x := randn(1, 8*5*5)
	if _, err := runWhole(t, 13, b.nodes, b.inits, []wholeIn{{"x", []int{1, 8, 5, 5}, x}}, "y"); err == nil {
		t.Fatal("a Clip of opset 13 with bounds as attributes was accepted")
	}
}
