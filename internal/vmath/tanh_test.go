package vmath

import (
	"math"
	"testing"
)

// ulps is how many float32 ulps got lies from want, the exact value: the
// ulp is the spacing of float32s at want's magnitude.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	if w == 0 {
		if got == 0 {
			return 0
		}
		return math.Inf(1)
	}
	a := float32(math.Abs(float64(w)))
	ulp := float64(math.Nextafter32(a, float32(math.Inf(1))) - a)
	return math.Abs(float64(got)-want) / ulp
}

// TestTanhAccuracy compares every kernel set with math.Tanh over a dense
// sweep of float32s of both signs (every 211th bit pattern, and every one
// between 0.00038 and 0.00042, where the kernels switch to x): it logs
// each set's largest error in ulp and fails past maxULP, which Eigen's
// saturation at 7.905 (4.6 ulp short of tanh there) nearly reaches.
func TestTanhAccuracy(t *testing.T) {
	const maxULP = 6
	stride := uint32(211)
	if testing.Short() {
		stride = 997
	}
	var x []float32
	for b := uint32(0); b < 0x7f800000; b += stride {
		x = append(x, math.Float32frombits(b))
	}
	for b := math.Float32bits(0.00038); b < math.Float32bits(0.00042); b++ {
		x = append(x, math.Float32frombits(b))
	}
	n := len(x)
	for i := range n {
		x = append(x, -x[i])
	}
	want := make([]float64, len(x))
	for i, v := range x {
		want[i] = math.Tanh(float64(v))
	}
	y := make([]float32, len(x))
	for _, set := range kernelSets() {
		clear(y)
		set.tanh(y, x)
		worst, at := 0.0, float32(0)
		for i, got := range y {
			if e := ulps(got, want[i]); e > worst {
				worst, at = e, x[i]
			}
		}
		t.Logf("%s: largest error %.3g ulp, at x = %g, over %d values", set.name, worst, at, len(x))
		if worst > maxULP {
			t.Errorf("%s: largest error %.3g ulp at x = %g, want at most %d", set.name, worst, at, maxULP)
		}
	}
}

// TestTanhSpecial checks the values the approximation handles apart: NaN,
// the infinities, signed zeros, subnormals and saturation, bit for bit.
func TestTanhSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	sub := math.Float32frombits(1) // the smallest subnormal
	tests := []struct {
		x, want float32
	}{
		{inf, 1}, {-inf, -1},
		{100, 1}, {-100, -1},
		{math.MaxFloat32, 1}, {-math.MaxFloat32, -1},
		{7.90531110763549805, 1}, {-7.90531110763549805, -1},
		{sub, sub}, {-sub, -sub},
		{1e-30, 1e-30}, {-1e-30, -1e-30},
		{0.0003, 0.0003},
		{nan, nan},
	}
	negZero := float32(math.Copysign(0, -1))
	tests = append(tests, struct{ x, want float32 }{0, 0}, struct{ x, want float32 }{negZero, negZero})
	for _, set := range kernelSets() {
		x := make([]float32, len(tests))
		for i, tc := range tests {
			x[i] = tc.x
		}
		y := make([]float32, len(x))
		set.tanh(y, x)
		for i, tc := range tests {
			got := y[i]
			if tc.want != tc.want {
				if got == got {
					t.Errorf("%s: tanh(NaN) = %g, want NaN", set.name, got)
				}
				continue
			}
			if math.Float32bits(got) != math.Float32bits(tc.want) {
				t.Errorf("%s: tanh(%g) = %g (%#x), want %g (%#x)", set.name, tc.x, got, math.Float32bits(got), tc.want, math.Float32bits(tc.want))
			}
		}
	}
}

// BenchmarkTanh: ns per element of each kernel set and of math.Tanh
// rounded, over LeNet-5's largest Tanh layer of one image (6x28x28).
func BenchmarkTanh(b *testing.B) {
	x := make([]float32, 6*28*28)
	for i := range x {
		x[i] = float32(i%200-100) * 0.03
	}
	y := make([]float32, len(x))
	run := func(name string, f func(y, x []float32)) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				f(y, x)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
		})
	}
	for _, set := range kernelSets() {
		run(set.name, set.tanh)
	}
	run("math.Tanh", func(y, x []float32) {
		for i, v := range x {
			y[i] = float32(math.Tanh(float64(v)))
		}
	})
}
