package backend

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// TestDepthwiseStep runs depthwise convolutions with constant weights,
// which dwConvStep takes, against the same graphs with the weights and
// bias given at run time, which the general path (nchw.GroupConv2D)
// takes: odd sizes, asymmetric pads, dilations, channel multipliers, a
// Relu fused or not, and NaN and infinite inputs, which must come out
// NaN or infinite where the general path's do.
func TestDepthwiseStep(t *testing.T) {
	cases := []struct {
		name  string
		x, w  []int
		bias  bool
		relu  bool
		attrs []*onnx.AttributeProto
		nan   bool // a NaN and a -Inf in the input
	}{
		{"3x3 same, bias, Relu", []int{1, 8, 28, 28}, []int{8, 1, 3, 3}, true, true, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1)}, false},
		{"odd map, no bias", []int{1, 3, 7, 5}, []int{3, 1, 3, 3}, false, false, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1)}, false},
		{"no padding", []int{2, 5, 9, 11}, []int{5, 1, 3, 3}, true, true, nil, false},
		{"asymmetric pads 5x5", []int{1, 4, 6, 9}, []int{4, 1, 5, 5}, true, false, []*onnx.AttributeProto{ints("pads", 0, 2, 3, 1)}, false},
		{"1x3 and pads past the kernel", []int{1, 2, 4, 3}, []int{2, 1, 1, 3}, true, true, []*onnx.AttributeProto{ints("pads", 2, 1, 1, 2)}, false},
		{"2x2 even kernel", []int{1, 6, 10, 10}, []int{6, 1, 2, 2}, true, false, nil, false},
		{"dilation 2", []int{1, 3, 12, 13}, []int{3, 1, 3, 3}, true, true, []*onnx.AttributeProto{ints("dilations", 2, 2), ints("pads", 2, 2, 2, 2)}, false},
		{"multiplier 2", []int{1, 3, 8, 9}, []int{6, 1, 3, 3}, true, false, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1)}, false},
		{"SAME_UPPER 4x4", []int{1, 2, 7, 7}, []int{2, 1, 4, 4}, false, true, []*onnx.AttributeProto{strAttr("auto_pad", "SAME_UPPER")}, false},
		{"70 wide: the flat taps", []int{1, 2, 3, 70}, []int{2, 1, 3, 3}, true, true, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1)}, false},
		{"70 wide, no Relu", []int{1, 2, 3, 70}, []int{2, 1, 3, 3}, true, false, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1)}, false},
		{"1-D", []int{2, 4, 17}, []int{4, 1, 3}, true, true, []*onnx.AttributeProto{ints("pads", 1, 1)}, false},
		{"NaN and -Inf", []int{1, 3, 9, 10}, []int{3, 1, 3, 3}, true, true, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1)}, true},
		{"NaN and -Inf, no Relu", []int{1, 3, 9, 10}, []int{3, 1, 3, 3}, true, false, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1)}, true},
		{"stride 2, MobileNet's", []int{1, 32, 28, 28}, []int{32, 1, 3, 3}, false, false, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1), ints("strides", 2, 2)}, false},
		{"stride 2 of an odd map, bias, Relu", []int{2, 3, 13, 11}, []int{3, 1, 3, 3}, true, true, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1), ints("strides", 2, 2)}, false},
		{"strides 3 x 2, 5x4, asymmetric pads, multiplier 2", []int{1, 2, 17, 19}, []int{4, 1, 5, 4}, true, false, []*onnx.AttributeProto{ints("pads", 2, 0, 1, 3), ints("strides", 3, 2)}, false},
		{"stride 2, 150 wide: the flat taps", []int{1, 2, 5, 150}, []int{2, 1, 3, 3}, true, true, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1), ints("strides", 2, 2)}, false},
		{"stride 4, NaN and -Inf", []int{1, 3, 16, 16}, []int{3, 1, 3, 3}, true, true, []*onnx.AttributeProto{ints("pads", 1, 1, 1, 1), ints("strides", 4, 4)}, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, w, b := randn(uint64(i), numel(tc.x)), randn(uint64(i+100), numel(tc.w)), randn(uint64(i+200), tc.w[0])
			if tc.nan {
				x[numel(tc.x)/2] = float32(math.NaN())
				x[5] = float32(math.Inf(-1))
			}
			group := intAttr("group", int64(tc.x[1]))
			names := []string{"x", "w"}
			if tc.bias {
				names = append(names, "b")
			}
			nodes := []*onnx.NodeProto{nodeOf("Conv", names, "c", append([]*onnx.AttributeProto{group}, tc.attrs...)...)}
			out := "c"
			if tc.relu {
				nodes, out = append(nodes, nodeOf("Relu", []string{"c"}, "r")), "r"
			}
			dims := func(s []int) []int64 {
				d := make([]int64, len(s))
				for j, v := range s {
					d[j] = int64(v)
				}
				return d
			}
			inits := []*onnx.TensorProto{{Name: "w", Dims: dims(tc.w), DataType: int32(onnx.TensorProto_FLOAT), FloatData: w}}
			ins := []wholeIn{{"x", tc.x, x}, {"w", tc.w, w}}
			if tc.bias {
				inits = append(inits, &onnx.TensorProto{Name: "b", Dims: []int64{int64(tc.w[0])}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: b})
				ins = append(ins, wholeIn{"b", []int{tc.w[0]}, b})
			}
			fast := wholePlan(t, nodes, inits, ins[:1], out)
			general := wholePlan(t, nodes, nil, ins, out)
			if !hasStep[dwConvStep](fast) || hasStep[dwConvStep](general) {
				t.Fatalf("depthwise steps: %v with constant weights, %v with run-time ones; want true, false",
					hasStep[dwConvStep](fast), hasStep[dwConvStep](general))
			}
			if s := fast.steps[len(fast.steps)-1].(dwConvStep); s.relu != tc.relu {
				t.Errorf("Relu fused: %v, want %v", s.relu, tc.relu)
			}
			got, err := fast.Run([][]float32{x})
			if err != nil {
				t.Fatal(err)
			}
			want, err := general.Run([][]float32{x, w, b}[:len(ins)])
			if err != nil {
				t.Fatal(err)
			}
			sameFloats(t, got[0], want[0], tc.nan)
		})
	}
}

// TestDepthwiseStepRefused leaves to the general path what dwConvStep does
// not run: strides, and groups of more than one channel.
func TestDepthwiseStepRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		x, w  []int
		group int64
		attrs []*onnx.AttributeProto
	}{
		{"stride 5", []int{1, 4, 12, 12}, []int{4, 1, 3, 3}, 4, []*onnx.AttributeProto{ints("strides", 5, 5)}},
		{"stride 2, dilation 2", []int{1, 4, 12, 12}, []int{4, 1, 3, 3}, 4, []*onnx.AttributeProto{ints("strides", 2, 2), ints("dilations", 2, 2)}},
		{"two channels a group", []int{1, 4, 8, 8}, []int{4, 2, 3, 3}, 2, nil},
		{"one channel", []int{1, 1, 8, 8}, []int{3, 1, 3, 3}, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := make([]int64, len(tc.w))
			for j, v := range tc.w {
				d[j] = int64(v)
			}
			inits := []*onnx.TensorProto{{Name: "w", Dims: d, DataType: int32(onnx.TensorProto_FLOAT), FloatData: randn(1, numel(tc.w))}}
			nodes := []*onnx.NodeProto{nodeOf("Conv", []string{"x", "w"}, "y", append([]*onnx.AttributeProto{intAttr("group", tc.group)}, tc.attrs...)...)}
			if p := wholePlan(t, nodes, inits, []wholeIn{{"x", tc.x, nil}}, "y"); hasStep[dwConvStep](p) {
				t.Error("compiled as a depthwise step")
			}
		})
	}
}

// wholePlan compiles nodes into a plan of whole tensors of the inputs'
// shapes, as runWhole does, and returns it.
func wholePlan(t *testing.T, nodes []*onnx.NodeProto, inits []*onnx.TensorProto, ins []wholeIn, outs ...string) *Plan {
	t.Helper()
	g := &onnx.GraphProto{Name: "whole", Node: nodes, Initializer: inits}
	shapes := map[string][]int{}
	for _, in := range ins {
		g.Input = append(g.Input, &onnx.ValueInfoProto{Name: in.name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT)}}}})
		shapes[in.name] = in.shape
	}
	for _, o := range outs {
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: o})
	}
	m := &onnx.ModelProto{IrVersion: 8, OpsetImport: []*onnx.OperatorSetIdProto{{Version: 13}}, Graph: g}
	path := filepath.Join(t.TempDir(), "m.onnx")
	writeModel(t, m, path)
	p, err := OpenOptions(path, Options{Shapes: shapes})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hasStep reports whether p runs a step of type S.
func hasStep[S step](p *Plan) bool {
	for _, s := range p.steps {
		if _, ok := s.(S); ok {
			return true
		}
	}
	return false
}

// sameFloats fails t unless got and want agree within rtol 1e-5, atol
// 1e-5 (the sums run in another order), NaN where want is NaN and the same
// infinity where want is infinite; nan says want should hold a NaN.
func sameFloats(t *testing.T, got, want []float32, nan bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	nans := 0
	for i, w := range want {
		g := got[i]
		switch {
		case w != w:
			nans++
			if g == g {
				t.Fatalf("value %d is %v, want NaN", i, g)
			}
		case math.IsInf(float64(w), 0):
			if g != w {
				t.Fatalf("value %d is %v, want %v", i, g, w)
			}
		case !(math.Abs(float64(g-w)) <= 1e-5+1e-5*math.Abs(float64(w))):
			t.Fatalf("value %d is %v, want %v", i, g, w)
		}
	}
	if nan && nans == 0 {
		t.Fatal("no NaN in the general path's output")
	}
}

// TestDepthwiseStepChannelsLast runs depthwise convolutions that read a
// channels-last map (a direct 3x3 convolution's, where this CPU runs
// one), which dwConvStep transposes into its padded planes itself,
// against the same graphs with the depthwise weights given at run time.
func TestDepthwiseStepChannelsLast(t *testing.T) {
	for i, tc := range []struct {
		name         string
		x            []int // the image
		mid, mult, k int   // the first convolution's channels, the depthwise multiplier and kernel
		nan          bool
	}{
		{"1 to 8 on 28x28", []int{1, 1, 28, 28}, 8, 1, 3, false},
		{"3 to 16 on 9x13", []int{1, 3, 9, 13}, 16, 1, 3, false},
		{"8 to 8 on 14x14, multiplier 2, 5x5", []int{1, 8, 14, 14}, 8, 2, 5, false},
		{"2 to 12 on 8x8", []int{1, 2, 8, 8}, 12, 1, 3, false},
		{"NaN", []int{1, 1, 16, 16}, 8, 1, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inC, ws := tc.x[1], []int{tc.mid * tc.mult, 1, tc.k, tc.k}
			x, w1, w2 := randn(uint64(i), numel(tc.x)), randn(uint64(i+100), tc.mid*inC*9), randn(uint64(i+200), numel(ws))
			if tc.nan {
				x[numel(tc.x)/3] = float32(math.NaN())
			}
			pad := int64(tc.k / 2)
			nodes := []*onnx.NodeProto{
				nodeOf("Conv", []string{"x", "w1"}, "c1", ints("pads", 1, 1, 1, 1)),
				nodeOf("Relu", []string{"c1"}, "r1"),
				nodeOf("Conv", []string{"r1", "w2"}, "y", intAttr("group", int64(tc.mid)), ints("pads", pad, pad, pad, pad)),
			}
			dims := func(s []int) []int64 {
				d := make([]int64, len(s))
				for j, v := range s {
					d[j] = int64(v)
				}
				return d
			}
			first := &onnx.TensorProto{Name: "w1", Dims: []int64{int64(tc.mid), int64(inC), 3, 3}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: w1}
			second := &onnx.TensorProto{Name: "w2", Dims: dims(ws), DataType: int32(onnx.TensorProto_FLOAT), FloatData: w2}
			fast := wholePlan(t, nodes, []*onnx.TensorProto{first, second}, []wholeIn{{"x", tc.x, x}}, "y")
			general := wholePlan(t, nodes, []*onnx.TensorProto{first}, []wholeIn{{"x", tc.x, x}, {"w2", ws, w2}}, "y")
			var dw *dwConvStep
			for _, s := range fast.steps {
				if d, ok := s.(dwConvStep); ok {
					dw = &d
				}
			}
			if dw == nil {
				t.Fatal("no depthwise step")
			}
			if want := hasStep[direct3x3Step](fast) || hasStep[winogradStep](fast); dw.nhwc != want {
				t.Errorf("depthwise step reads channels-last: %v, want %v (a channels-last 3x3 step before it: %v)", dw.nhwc, want, want)
			}
			got, err := fast.Run([][]float32{x})
			if err != nil {
				t.Fatal(err)
			}
			want, err := general.Run([][]float32{x, w2})
			if err != nil {
				t.Fatal(err)
			}
			sameFloats(t, got[0], want[0], tc.nan)
		})
	}
}
