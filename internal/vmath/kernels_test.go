package vmath

import (
	"math"
	"testing"
)

// kernel is one function of a kernel set as a function of two inputs (the
// unary ones ignore the first).
type kernel struct {
	name string
	run  func(out, a, b []float32)
}

func kernelsOf(set *kernelSet) []kernel {
	return []kernel{
		{"tanh", func(out, _, b []float32) { set.tanh(out, b) }},
		{"relu", func(out, _, b []float32) { set.relu(out, b) }},
		{"tanhGrad", set.tanhGrad},
		{"reluGrad", set.reluGrad},
		{"clip", func(out, _, b []float32) { set.clip(out, b, -0.05, 0.3) }},
	}
}

// TestLengths runs every kernel at every length around the vector widths,
// out of place and in place over either input: each element must be what
// a one-element call gives (whole vectors and masked tails agree), and
// the output past the inputs' length untouched.
func TestLengths(t *testing.T) {
	const sentinel = float32(42)
	for _, set := range kernelSets() {
		for _, k := range kernelsOf(set) {
			for n := range 50 {
				a, b := make([]float32, n), make([]float32, n)
				for i := range b {
					a[i] = float32(i%7) - 3
					b[i] = float32(i-n/2) * 0.037
				}
				out := make([]float32, n+3)
				for i := range out {
					out[i] = sentinel
				}
				k.run(out, a, b)
				inA, inB := append([]float32(nil), a...), append([]float32(nil), b...)
				k.run(inA, inA, b)
				k.run(inB, a, inB)
				for i := range n {
					var one [1]float32
					k.run(one[:], a[i:i+1], b[i:i+1])
					if out[i] != one[0] || inA[i] != one[0] || inB[i] != one[0] {
						t.Fatalf("%s %s, n=%d: element %d: %g out of place, %g and %g in place, %g alone",
							set.name, k.name, n, i, out[i], inA[i], inB[i], one[0])
					}
				}
				for i := n; i < len(out); i++ {
					if out[i] != sentinel {
						t.Fatalf("%s %s, n=%d: wrote out[%d] = %g, past the inputs", set.name, k.name, n, i, out[i])
					}
				}
			}
		}
	}
}

// TestRelu: each set's Relu and ReluGrad, bit for bit, on the values where
// they could go wrong: signed zeros, NaNs of either sign, infinities.
func TestRelu(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	negNaN := math.Float32frombits(0xffc00000) // x86's default NaN
	tests := []struct {
		x, relu float32
		pass    bool // ReluGrad passes dy
	}{
		{1.5, 1.5, true}, {-1.5, 0, false}, {0, 0, false}, {negZero, 0, false},
		{inf, inf, true}, {-inf, 0, false}, {1e-30, 1e-30, true}, {-1e-30, 0, false},
		{nan, nan, true}, {negNaN, negNaN, false},
	}
	for _, set := range kernelSets() {
		x, dy := make([]float32, len(tests)), make([]float32, len(tests))
		for i, tc := range tests {
			x[i], dy[i] = tc.x, float32(i+1)
		}
		y, dx := make([]float32, len(x)), make([]float32, len(x))
		set.relu(y, x)
		set.reluGrad(dx, dy, x)
		for i, tc := range tests {
			if tc.relu != tc.relu { // any NaN: Go's max does not keep the sign
				if y[i] == y[i] {
					t.Errorf("%s: relu(%g) = %g, want NaN", set.name, tc.x, y[i])
				}
			} else if math.Float32bits(y[i]) != math.Float32bits(tc.relu) {
				t.Errorf("%s: relu(%g) = %g (%#x), want %g (%#x)", set.name, tc.x, y[i], math.Float32bits(y[i]), tc.relu, math.Float32bits(tc.relu))
			}
			want := float32(0)
			if tc.pass {
				want = dy[i]
			}
			if math.Float32bits(dx[i]) != math.Float32bits(want) {
				t.Errorf("%s: reluGrad at x = %g gives %g, want %g", set.name, tc.x, dx[i], want)
			}
		}
	}
}

// TestClip: each set's Clip, bit for bit against the Go loop's
// comparisons, on NaNs of either sign, infinities, signed zeros, the
// bounds themselves, and bounds that are infinite or the wrong way round.
func TestClip(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	negNaN := math.Float32frombits(0xffc00000)
	x := []float32{nan, negNaN, inf, -inf, 0, negZero, 6, 5.999, 6.001, -1, 1, 0.5, -0.5, 2, 1e30, -1e30}
	for _, set := range kernelSets() {
		for _, b := range [][2]float32{{0, 6}, {-1, 1}, {negZero, 0}, {2, 1}, {-inf, inf}, {0, inf}} {
			got, want := make([]float32, len(x)), make([]float32, len(x))
			set.clip(got, x, b[0], b[1])
			clipGo(want, x, b[0], b[1])
			for i := range x {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Errorf("%s: clip(%g, %g, %g) = %g (%#x), want %g (%#x)", set.name, x[i], b[0], b[1],
						got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	}
}

// TestTanhGrad compares each set's dy*(1-y*y) with float64 arithmetic over
// y in [-1, 1] (tanh's outputs): within float32 rounding.
func TestTanhGrad(t *testing.T) {
	const n = 4099
	y, dy := make([]float32, n), make([]float32, n)
	for i := range y {
		y[i] = float32(2*i-n+1) / float32(n-1)
		dy[i] = float32(i%13) - 6.5
	}
	for _, set := range kernelSets() {
		dx := make([]float32, n)
		set.tanhGrad(dx, dy, y)
		for i := range y {
			want := float64(dy[i]) * (1 - float64(y[i])*float64(y[i]))
			if d := math.Abs(float64(dx[i]) - want); d > 4e-7*math.Abs(float64(dy[i])) {
				t.Fatalf("%s: tanhGrad(dy=%g, y=%g) = %g, want %g", set.name, dy[i], y[i], dx[i], want)
			}
		}
	}
}

// TestDispatch: the exported functions run the best set, the first of
// kernelSets, and cut the output to the input's length.
func TestDispatch(t *testing.T) {
	if got := kernelSets()[0]; got != best {
		t.Errorf("best is %s, want %s", best.name, got.name)
	}
	x := []float32{-2, -0.5, 0, 0.5, 2}
	dy := []float32{1, 2, 3, 4, 5}
	out := make([]float32, len(x)+1)
	Tanh(out, x)
	for i, v := range x {
		if ulps(out[i], math.Tanh(float64(v))) > 6 {
			t.Errorf("Tanh(%g) = %g, want %g", v, out[i], math.Tanh(float64(v)))
		}
	}
	Relu(out, x)
	if out[0] != 0 || out[4] != 2 {
		t.Errorf("Relu(%v) = %v", x, out[:5])
	}
	ReluGrad(out, dy, x)
	if out[1] != 0 || out[3] != 4 {
		t.Errorf("ReluGrad(%v, %v) = %v", dy, x, out[:5])
	}
	TanhGrad(out, dy, x)
	if out[2] != 3 || out[4] != 5*(1-4) {
		t.Errorf("TanhGrad(%v, %v) = %v", dy, x, out[:5])
	}
	if out[5] != 0 {
		t.Errorf("wrote %g past the inputs", out[5])
	}
}

// BenchmarkKernels: ns per element of every kernel of every set, over
// LeNet-5's largest activation of one image (6x28x28).
func BenchmarkKernels(b *testing.B) {
	x, dy := make([]float32, 6*28*28), make([]float32, 6*28*28)
	for i := range x {
		x[i] = float32(i%200-100) * 0.01
		dy[i] = float32(i%7) - 3
	}
	out := make([]float32, len(x))
	for _, set := range kernelSets() {
		for _, k := range kernelsOf(set) {
			b.Run(set.name+"/"+k.name, func(b *testing.B) {
				for b.Loop() {
					k.run(out, dy, x)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
			})
		}
	}
}
