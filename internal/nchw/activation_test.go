package nchw

import (
	"fmt"
	"math"
	"testing"
)

var (
	nan  = float32(math.NaN())
	inf  = float32(math.Inf(1))
	ninf = float32(math.Inf(-1))
	nzer = float32(math.Copysign(0, -1))
)

// activationInputs are random values of a few scales and the special
// values every function must take: zeros of both signs, infinities, NaN,
// float32's extremes.
func activationInputs() []float32 {
	rng := newRand()
	x := append(randn(rng, 200, 1), randn(rng, 100, 30)...)
	return append(x, 0, nzer, 1, -1, 6, -6, 3, -3, 0.5, inf, ninf, nan, math.MaxFloat32, -math.MaxFloat32, 1e-30, -1e-30, 88, -88, 100, -100)
}

// sameFloat says got is want rounded to float32 within rel (relative, or
// absolute below 1e-30), with NaN equal to NaN and infinities exact.
func sameFloat(got float32, want float64, rel float64) bool {
	g := float64(got)
	switch {
	case math.IsNaN(want) || math.IsNaN(g):
		return math.IsNaN(want) && math.IsNaN(g)
	case math.IsInf(want, 0) || math.IsInf(g, 0) || math.Abs(want) > math.MaxFloat32:
		return float32(want) == got
	case want == 0:
		return g == 0 // of either sign
	}
	return math.Abs(g-want) <= rel*math.Abs(want)+1e-37
}

func TestActivations(t *testing.T) {
	clip := func(lo, hi float64) func(float64) float64 {
		return func(v float64) float64 { return math.Min(math.Max(v, lo), hi) }
	}
	tests := []struct {
		name string
		fn   func(y, x []float32)
		ref  func(float64) float64
		rel  float64 // 0: exact to float32's rounding
	}{
		{"Clip 0..6", func(y, x []float32) { Clip(y, x, 0, 6) }, clip(0, 6), 0},
		{"Clip -1..1", func(y, x []float32) { Clip(y, x, -1, 1) }, clip(-1, 1), 0},
		{"Clip lowest..highest", func(y, x []float32) { Clip(y, x, -math.MaxFloat32, math.MaxFloat32) }, clip(-math.MaxFloat32, math.MaxFloat32), 0},
		{"Clip min above max is max", func(y, x []float32) { Clip(y, x, 2, 1) }, func(v float64) float64 {
			if math.IsNaN(v) {
				return v
			}
			return 1
		}, 0},
		{"Elu 1", func(y, x []float32) { Elu(y, x, 1) }, func(v float64) float64 {
			if v < 0 {
				return math.Expm1(v)
			}
			return v
		}, 1e-6},
		{"Elu 2", func(y, x []float32) { Elu(y, x, 2) }, func(v float64) float64 {
			if v < 0 {
				return 2 * math.Expm1(v)
			}
			return v
		}, 1e-6},
		{"Selu", func(y, x []float32) { Selu(y, x, 1.67326319217681884765625, 1.05070102214813232421875) }, func(v float64) float64 {
			const a, g = 1.67326319217681884765625, 1.05070102214813232421875
			if v > 0 {
				return g * v
			}
			return g * a * math.Expm1(v)
		}, 1e-6},
		{"HardSigmoid", func(y, x []float32) { HardSigmoid(y, x, 0.2, 0.5) }, func(v float64) float64 {
			return math.Max(0, math.Min(1, float64(float32(0.2))*v+0.5))
		}, 1e-6},
		{"HardSwish", HardSwish, func(v float64) float64 { return v * math.Max(0, math.Min(1, v/6+0.5)) }, 1e-6},
		{"Softplus", Softplus, func(v float64) float64 {
			if v > 30 {
				return v
			}
			return math.Log1p(math.Exp(v))
		}, 1e-6},
		{"Exp", Exp, math.Exp, 0},
		{"Log", Log, math.Log, 0},
		{"Sqrt", Sqrt, math.Sqrt, 0},
		{"Neg", Neg, func(v float64) float64 { return -v }, 0},
		{"Abs", Abs, math.Abs, 0},
		{"Reciprocal", Reciprocal, func(v float64) float64 { return 1 / v }, 1e-7},
		{"Copy", Copy, func(v float64) float64 { return v }, 0},
		{"Square", Square, func(v float64) float64 { return v * v }, 1e-7},
		{"PowHalf", PowHalf, func(v float64) float64 {
			if v == 0 {
				return 0 // +0, from -0 too, as C's pow
			}
			return math.Pow(v, 0.5)
		}, 0},
		{"PowScalar 3", func(y, x []float32) { PowScalar(y, x, 3) }, func(v float64) float64 { return math.Pow(v, 3) }, 0},
		{"PowScalar -1.5", func(y, x []float32) { PowScalar(y, x, -1.5) }, func(v float64) float64 { return math.Pow(v, -1.5) }, 0},
		{"PowScalar 2", func(y, x []float32) { PowScalar(y, x, 2) }, func(v float64) float64 { return v * v }, 1e-7},
		{"PowScalar 0", func(y, x []float32) { PowScalar(y, x, 0) }, func(v float64) float64 { return 1 }, 0},
	}
	x := activationInputs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := poisoned(len(x))
			tt.fn(y, x)
			for i, v := range x {
				want := tt.ref(float64(v))
				if tt.rel == 0 {
					// Exact: the reference rounded once to float32 (a
					// zero of either sign).
					if w := float32(want); !(y[i] == w || y[i] != y[i] && w != w) {
						t.Fatalf("x[%d] = %v: got %v, want %v", i, v, y[i], w)
					}
					continue
				}
				if !sameFloat(y[i], want, tt.rel) {
					t.Fatalf("x[%d] = %v: got %v, want %v", i, v, y[i], want)
				}
			}
			// In place, as the backend may run it.
			z := append([]float32(nil), x...)
			tt.fn(z, z)
			for i := range z {
				if math.Float32bits(z[i]) != math.Float32bits(y[i]) && !(z[i] != z[i] && y[i] != y[i]) {
					t.Fatalf("in place, x[%d] = %v: got %v, want %v", i, x[i], z[i], y[i])
				}
			}
			if n := testing.AllocsPerRun(10, func() { tt.fn(y, x) }); n != 0 {
				t.Errorf("%v allocations a call", n)
			}
		})
	}
}

// refExt is op on float64, as the ONNX reference (numpy) computes it.
func refExt(op ExtOp, a, b float64) float64 {
	switch op {
	case Max:
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.NaN()
		}
		return math.Max(a, b)
	case Min:
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.NaN()
		}
		return math.Min(a, b)
	case Pow:
		return math.Pow(a, b)
	case PRelu:
		if a < 0 {
			return a * b
		}
		return a
	}
	panic("unknown op")
}

func TestBinaryExt(t *testing.T) {
	shapes := []struct{ a, b []int }{
		{[]int{2, 3, 4}, []int{2, 3, 4}},
		{[]int{2, 3, 4}, []int{}},
		{[]int{}, []int{2, 3, 4}},
		{[]int{1, 3, 4, 5}, []int{3, 1, 1}},
		{[]int{3, 1, 1}, []int{1, 3, 4, 5}},
		{[]int{5, 1}, []int{1, 7}},
		{[]int{2, 1, 4}, []int{3, 1}},
		{[]int{3, 4, 5}, []int{5}},
		{[]int{1}, []int{1}},
		{[]int{2, 1, 3, 1, 2}, []int{1, 4, 1, 5, 2}},
	}
	rng := newRand()
	for _, op := range []ExtOp{Max, Min, Pow, PRelu} {
		for _, s := range shapes {
			t.Run(fmt.Sprintf("%d %v %v", op, s.a, s.b), func(t *testing.T) {
				yShape, err := BroadcastShape(s.a, s.b)
				if err != nil {
					t.Fatal(err)
				}
				a, b := randn(rng, numelOf(s.a), 2), randn(rng, numelOf(s.b), 1)
				if op == Pow {
					for i := range a {
						a[i] = float32(math.Abs(float64(a[i]))) // no NaN from a fractional power
					}
				}
				if len(a) > 2 {
					a[1] = nan
				}
				if len(b) > 3 {
					b[2] = nan
				}
				y := poisoned(numelOf(yShape))
				BinaryExt(op, y, a, s.a, b, s.b, yShape)
				aw, bw := wide(a), wide(b)
				idx := make([]int, len(yShape))
				for i := range y {
					rem := i
					for d := len(yShape) - 1; d >= 0; d-- {
						idx[d] = rem % yShape[d]
						rem /= yShape[d]
					}
					want := refExt(op, aw[flat(idx, s.a)], bw[flat(idx, s.b)])
					if !sameFloat(y[i], want, 1e-6) {
						t.Fatalf("element %d: got %v, want %v", i, y[i], want)
					}
				}
				if n := testing.AllocsPerRun(10, func() { BinaryExt(op, y, a, s.a, b, s.b, yShape) }); n != 0 {
					t.Errorf("%v allocations a call", n)
				}
			})
		}
	}
}

// TestBinaryExtInPlace: y may be the operand of y's shape.
func TestBinaryExtInPlace(t *testing.T) {
	rng := newRand()
	a, b := randn(rng, 60, 1), randn(rng, 3, 1)
	want := make([]float32, 60)
	BinaryExt(Max, want, a, []int{3, 4, 5}, b, []int{3, 1, 1}, []int{3, 4, 5})
	BinaryExt(Max, a, a, []int{3, 4, 5}, b, []int{3, 1, 1}, []int{3, 4, 5})
	for i := range a {
		if a[i] != want[i] {
			t.Fatalf("element %d: in place %v, apart %v", i, a[i], want[i])
		}
	}
}

// TestExtSpecial: NaN and signed zeros and infinities of each operation,
// operand by operand and as scalars.
func TestExtSpecial(t *testing.T) {
	vals := []float32{0, nzer, 1, -1, 2, -2, 0.5, inf, ninf, nan}
	for _, op := range []ExtOp{Max, Min, Pow, PRelu} {
		for _, a := range vals {
			for _, b := range vals {
				want := refExt(op, float64(a), float64(b))
				var y [3]float32
				extVV(op, y[:1], []float32{a}, []float32{b})
				extVS(op, y[1:2], []float32{a}, b)
				extSV(op, y[2:3], a, []float32{b})
				for k, g := range y {
					if !sameFloat(g, want, 1e-7) {
						t.Errorf("op %d (%v, %v), form %d: got %v, want %v", op, a, b, k, g, want)
					}
				}
			}
		}
	}
}

func numelOf(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
