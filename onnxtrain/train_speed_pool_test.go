package onnxtrain

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// poolCases take the pools' 2x2 paths (exact tiling) and their general
// loops (odd sizes, padding, other windows).
var poolCases = []struct {
	name  string
	x     []int
	attrs onnx.Attrs
}{
	{"2x2 tiled", []int{3, 2, 6, 8}, attrs(map[string][]int64{"kernel_shape": {2, 2}, "strides": {2, 2}})},
	{"2x2, odd size", []int{2, 2, 7, 5}, attrs(map[string][]int64{"kernel_shape": {2, 2}, "strides": {2, 2}})},
	{"2x2, padded", []int{2, 1, 6, 6}, attrs(map[string][]int64{"kernel_shape": {2, 2}, "strides": {2, 2}, "pads": {1, 1, 1, 1}})},
	{"3x3 stride 2", []int{2, 2, 7, 7}, attrs(map[string][]int64{"kernel_shape": {3, 3}, "strides": {2, 2}})},
	{"2x2 stride 1", []int{1, 2, 5, 4}, attrs(map[string][]int64{"kernel_shape": {2, 2}})},
}

func buildTestPool(t *testing.T, op string, x []int, a onnx.Attrs) (layer, window) {
	t.Helper()
	build := buildMaxPool
	if op == "AveragePool" {
		build = buildAveragePool
	}
	l, _, err := build(&builder{net: &Net{}}, &onnx.Node{OpType: op, Attrs: a, Outputs: []string{"y"}}, []*value{{shape: x}})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := l.(*maxPool); ok {
		return l, m.window
	}
	return l, l.(*avgPool).window
}

// TestMaxPoolPaths compares both passes with the definition: the first
// maximum of each window takes the output and the window's gradient.
// Values repeat, so that ties are decided.
func TestMaxPoolPaths(t *testing.T) {
	for _, tc := range poolCases {
		l, win := buildTestPool(t, "MaxPool", tc.x, tc.attrs)
		rng := rand.New(rand.NewPCG(9, 10))
		x := make([]float32, size(tc.x))
		for j := range x {
			x[j] = float32(rng.IntN(5)) - 2
		}
		ny := win.n * win.c * win.oh * win.ow
		y, dy := make([]float32, ny), randoms(rng, ny)
		dx := [][]float32{randoms(rng, len(x))} // stale values must be overwritten
		l.forward(y, [][]float32{x})
		l.backward(dx, dy, y, [][]float32{x})
		wantY, wantDx := make([]float32, ny), make([]float32, len(x))
		for pl := range win.n * win.c {
			for o := range win.oh * win.ow {
				oy, ox, at := o/win.ow, o%win.ow, -1
				for ki := range win.kh {
					for kj := range win.kw {
						iy, ix := oy*win.sh-win.padT+ki, ox*win.sw-win.padL+kj
						if iy >= 0 && iy < win.h && ix >= 0 && ix < win.w && (at < 0 || x[pl*win.h*win.w+iy*win.w+ix] > x[at]) {
							at = pl*win.h*win.w + iy*win.w + ix
						}
					}
				}
				wantY[pl*win.oh*win.ow+o] = x[at]
				wantDx[at] += dy[pl*win.oh*win.ow+o]
			}
		}
		assertClose(t, tc.name+": y", y, wantY)
		assertClose(t, tc.name+": dx", dx[0], wantDx)
	}
}

// TestAveragePoolPaths checks both passes against central differences and
// the forward pass against a window's mean.
func TestAveragePoolPaths(t *testing.T) {
	for _, tc := range poolCases {
		t.Run(tc.name, func(t *testing.T) {
			l, win := buildTestPool(t, "AveragePool", tc.x, tc.attrs)
			checkLayerGradient(t, l, [][]int{tc.x}, []int{win.n, win.c, win.oh, win.ow})
			x := randoms(rand.New(rand.NewPCG(1, 1)), size(tc.x))
			y := make([]float32, win.n*win.c*win.oh*win.ow)
			l.forward(y, [][]float32{x})
			want := make([]float32, len(y))
			for pl := range win.n * win.c {
				for o := range win.oh * win.ow {
					var s float32
					var k int
					for ki := range win.kh {
						for kj := range win.kw {
							iy, ix := o/win.ow*win.sh-win.padT+ki, o%win.ow*win.sw-win.padL+kj
							if iy >= 0 && iy < win.h && ix >= 0 && ix < win.w {
								s += x[pl*win.h*win.w+iy*win.w+ix]
								k++
							}
						}
					}
					want[pl*win.oh*win.ow+o] = s / float32(k)
				}
			}
			assertClose(t, "y", y, want)
		})
	}
}

// TestPadRows checks Pad's row copies against element by element
// placement, for pads on every axis, none on the last, a scalar, and no
// pad at all, which builds as a reshape (the builder aliases its buffer).
func TestPadRows(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape []int
		pads  []int64
		value float32
	}{
		{"spatial", []int{2, 1, 3, 4}, []int64{0, 0, 2, 1, 0, 0, 1, 2}, 0},
		{"every axis", []int{2, 3, 2}, []int64{1, 0, 2, 0, 1, 1}, 0.5},
		{"not the last axis", []int{3, 2}, []int64{1, 0, 2, 0}, -1},
		{"one axis", []int{4}, []int64{2, 3}, 0},
		{"nothing", []int{2, 6, 3, 3}, []int64{0, 0, 0, 0, 0, 0, 0, 0}, 0},
	} {
		b := &builder{net: &Net{}, opset: 10}
		n := &onnx.Node{OpType: "Pad", Attrs: onnx.Attrs{
			"pads":  {Ints: tc.pads, Type: onnx.AttributeProto_INTS},
			"value": {Float: tc.value, Type: onnx.AttributeProto_FLOAT},
		}}
		l, out, err := buildPad(b, n, []*value{{shape: tc.shape}})
		if err != nil {
			t.Fatal(err)
		}
		if _, isReshape := l.(reshape); isReshape != (tc.name == "nothing") {
			t.Errorf("%s: Pad built as %T", tc.name, l)
		}
		rng := rand.New(rand.NewPCG(2, 3))
		x, dy := randoms(rng, size(tc.shape)), randoms(rng, size(out))
		y, dx := randoms(rng, size(out)), [][]float32{randoms(rng, len(x))}
		l.forward(y, [][]float32{x})
		l.backward(dx, dy, y, [][]float32{x})
		wantY, wantDx := make([]float32, len(y)), make([]float32, len(x))
		for j := range wantY {
			wantY[j] = tc.value
		}
		for e := range x {
			o, rest := 0, e
			for i := range tc.shape {
				stride := size(tc.shape[i+1:])
				o = o*out[i] + rest/stride + int(tc.pads[i])
				rest %= stride
			}
			wantY[o], wantDx[e] = x[e], dy[o]
		}
		assertClose(t, tc.name+": y", y, wantY)
		assertClose(t, tc.name+": dx", dx[0], wantDx)
	}
}

func assertClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for j := range want {
		if math.Abs(float64(got[j]-want[j])) > 1e-5 {
			t.Fatalf("%s[%d] = %g, want %g", what, j, got[j], want[j])
		}
	}
}
