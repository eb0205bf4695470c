package qgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// epilogues are the ways requantize and dequantize can run here.
func epilogues() []bool {
	if vectorEpilogue {
		return []bool{false, true}
	}
	return []bool{false}
}

func epilogueName(vec bool) string {
	if vec {
		return "vector"
	}
	return "go"
}

// TestRequantizeCases: values worked out by hand from ONNX Runtime's
// MlasRequantizeOutput (float32 product, ties to even, saturation).
func TestRequantizeCases(t *testing.T) {
	sixth := float32(1.0 / 6)      // 0.16666667163...
	pow18 := float32(1.0 / 262144) // 2^-18
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cases := []struct {
		acc, bias int32
		scale     float32
		zp        int32
		signed    bool
		want      int32
	}{
		{1, 0, 0.5, 0, false, 0},    // 0.5 -> 0
		{3, 0, 0.5, 0, false, 2},    // 1.5 -> 2
		{5, 0, 0.5, 0, false, 2},    // 2.5 -> 2
		{7, 0, 0.5, 0, false, 4},    // 3.5 -> 4
		{-1, 0, 0.5, 10, false, 10}, // -0.5 -> 0
		{-3, 0, 0.5, 10, false, 8},  // -1.5 -> -2
		{-5, 0, 0.5, 0, true, -2},   // -2.5 -> -2
		{10, -20, 1, 128, false, 118},
		{1000, 0, 1, 0, false, 255},
		{-5, 0, 1, 0, false, 0},
		{-5, 0, 1, 3, false, 0},
		{300, 0, 1, 0, true, 127},
		{-300, 0, 1, 0, true, -128},
		{255, 0, 1, -128, true, 127},
		{-1, 0, 1, -128, true, -128},
		{0, 0, 1, 77, true, 77},
		// 3 * float32(1/6) is 0.50000001 exactly but 0.5 in float32: 0, not 1.
		{3, 0, sixth, 0, false, 0},
		// float32(26607615) is 26607616 (ties to even): 101.5 -> 102, not 101.
		{26607615, 0, pow18, 0, false, 102},
		// the sum wraps: 2^31-1 + 1 is -2^31.
		{math.MaxInt32, 1, 1e-9, 100, false, 98},
		{5, 0, nan, 7, false, 0},
		{5, 0, nan, 7, true, -128},
		{5, 0, inf, 7, false, 255},
		{-5, 0, inf, 7, true, -128},
		{0, 0, inf, 7, false, 0}, // 0 * Inf is NaN
		{5, 0, -1, 0, true, -5},
		{5, 0, 0, 9, true, 9},
	}
	for _, tc := range cases {
		for _, vec := range epilogues() {
			// 17 columns of the same case: the vector rows and the tail.
			const n = 17
			acc := make([]int32, n)
			bias := make([]int32, n)
			for j := range acc {
				acc[j], bias[j] = tc.acc, tc.bias
			}
			dst := make([]byte, n)
			requantize(vec, 1, n, dst, n, acc, n, bias, []float32{tc.scale}, tc.zp, tc.signed)
			for j, d := range dst {
				got := int32(d)
				if tc.signed {
					got = int32(int8(d))
				}
				if got != tc.want {
					t.Errorf("%s: acc %d + bias %d, scale %g, zero point %d, signed %v: column %d = %d, want %d",
						epilogueName(vec), tc.acc, tc.bias, tc.scale, tc.zp, tc.signed, j, got, tc.want)
					break
				}
			}
		}
	}
}

// requantRef is MlasRequantizeOutput for one value, written out.
func requantRef(acc, bias int32, scale float32, zp, lo, hi int32) int32 {
	f := float32(acc+bias) * scale
	flo, fhi := float32(lo-zp), float32(hi-zp)
	if math.IsNaN(float64(f)) {
		return lo
	}
	f = min(max(f, flo), fhi)
	return int32(math.RoundToEven(float64(f))) + zp
}

func drawAcc(rng *rand.Rand) int32 {
	switch rng.IntN(4) {
	case 0:
		return int32(rng.Uint32())
	case 1:
		return []int32{0, 1, -1, math.MaxInt32, math.MinInt32}[rng.IntN(5)]
	default:
		return rng.Int32N(1<<16) - 1<<15
	}
}

func drawScale(rng *rand.Rand) float32 {
	switch rng.IntN(10) {
	case 0:
		return []float32{0, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), -0.01, 1e-40, 0.5}[rng.IntN(7)]
	default:
		return float32(math.Exp2(-rng.Float64()*20)) * (1 + rng.Float32())
	}
}

type epilogueProblem struct {
	m, n, ldd, ldc int
	bias           []int32
	scale          []float32
	acc            []int32
}

func drawEpilogue(rng *rand.Rand) epilogueProblem {
	p := epilogueProblem{m: 1 + rng.IntN(4), n: 1 + rng.IntN(70)}
	p.ldd, p.ldc = p.n+rng.IntN(3), p.n+rng.IntN(3)
	if rng.IntN(3) != 0 {
		p.bias = make([]int32, p.n)
		for j := range p.bias {
			p.bias[j] = drawAcc(rng)
		}
	}
	p.scale = make([]float32, 1)
	if rng.IntN(2) == 0 {
		p.scale = make([]float32, p.n)
	}
	for j := range p.scale {
		p.scale[j] = drawScale(rng)
	}
	p.acc = make([]int32, minLen(p.m, p.n, p.ldc))
	for i := range p.acc {
		p.acc[i] = drawAcc(rng)
	}
	return p
}

func (p epilogueProblem) at(i, j int) (acc, bias int32, scale float32) {
	acc = p.acc[i*p.ldc+j]
	if p.bias != nil {
		bias = p.bias[j]
	}
	scale = p.scale[0]
	if len(p.scale) > 1 {
		scale = p.scale[j]
	}
	return acc, bias, scale
}

func TestRequantizeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for trial := range 400 {
		p := drawEpilogue(rng)
		signed := trial%2 == 0
		lo, hi := int32(0), int32(255)
		if signed {
			lo, hi = -128, 127
		}
		zp := lo + rng.Int32N(256)
		for _, vec := range epilogues() {
			const fill = 0xa5
			dst := make([]byte, minLen(p.m, p.n, p.ldd)+4)
			for i := range dst {
				dst[i] = fill
			}
			requantize(vec, p.m, p.n, dst[:len(dst)-4], p.ldd, p.acc, p.ldc, p.bias, p.scale, zp, signed)
			for idx, d := range dst {
				i, j := idx/p.ldd, idx%p.ldd
				if i >= p.m || j >= p.n {
					if d != fill {
						t.Fatalf("%s: byte %d outside the output written", epilogueName(vec), idx)
					}
					continue
				}
				acc, bias, scale := p.at(i, j)
				want := requantRef(acc, bias, scale, zp, lo, hi)
				got := int32(d)
				if signed {
					got = int32(int8(d))
				}
				if got != want {
					t.Fatalf("%s: acc %d + bias %d, scale %g, zero point %d, signed %v: [%d,%d] = %d, want %d",
						epilogueName(vec), acc, bias, scale, zp, signed, i, j, got, want)
				}
			}
		}
	}
}

func TestDequantizeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for range 300 {
		p := drawEpilogue(rng)
		for _, vec := range epilogues() {
			dst := make([]float32, minLen(p.m, p.n, p.ldd)+4)
			for i := range dst {
				dst[i] = 12345.5
			}
			dequantize(vec, p.m, p.n, dst[:len(dst)-4], p.ldd, p.acc, p.ldc, p.bias, p.scale)
			for idx, got := range dst {
				i, j := idx/p.ldd, idx%p.ldd
				if i >= p.m || j >= p.n {
					if got != 12345.5 {
						t.Fatalf("%s: element %d outside the output written", epilogueName(vec), idx)
					}
					continue
				}
				acc, bias, scale := p.at(i, j)
				want := float32(acc+bias) * scale
				if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
					t.Fatalf("%s: acc %d + bias %d, scale %g: [%d,%d] = %g, want %g", epilogueName(vec), acc, bias, scale, i, j, got, want)
				}
			}
		}
	}
}

// TestRequantizeTypes runs the exported functions on each output type.
func TestRequantizeTypes(t *testing.T) {
	acc := []int32{-1000, -3, 0, 3, 1000, 41}
	scale := []float32{0.5}
	u8 := make([]uint8, 6)
	if err := Requantize(1, 6, u8, 6, acc, 6, nil, scale, uint8(100)); err != nil {
		t.Fatal(err)
	}
	if want := []uint8{0, 98, 100, 102, 255, 120}; fmt.Sprint(u8) != fmt.Sprint(want) {
		t.Errorf("uint8: %v, want %v", u8, want)
	}
	s8 := make([]int8, 6)
	if err := Requantize(2, 3, s8, 3, acc, 3, []int32{1, 0, -1}, []float32{1, 0.5, 0.25}, int8(-100)); err != nil {
		t.Fatal(err)
	}
	// -999 -> -128; -1.5 -> -2; -1/4 -> 0; 4; 500 -> 127; 40/4 = 10
	if want := []int8{-128, -102, -100, -96, 127, -90}; fmt.Sprint(s8) != fmt.Sprint(want) {
		t.Errorf("int8: %v, want %v", s8, want)
	}
	f := make([]float32, 6)
	if err := Dequantize(3, 2, f, 2, acc, 2, []int32{1, 2}, []float32{0.5}); err != nil {
		t.Fatal(err)
	}
	if want := []float32{-499.5, -0.5, 0.5, 2.5, 500.5, 21.5}; fmt.Sprint(f) != fmt.Sprint(want) {
		t.Errorf("float32: %v, want %v", f, want)
	}
}

func TestEpilogueBadArguments(t *testing.T) {
	acc := make([]int32, 20)
	dst := make([]uint8, 20)
	f := make([]float32, 20)
	one := []float32{1}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"negative m", Requantize(-1, 2, dst, 2, acc, 2, nil, one, 0)},
		{"short output", Requantize(5, 5, dst[:19], 5, acc, 5, nil, one, 0)},
		{"short accumulators", Requantize(5, 5, dst, 5, acc[:19], 5, nil, one, 0)},
		{"small ldd", Requantize(2, 5, dst, 4, acc, 5, nil, one, 0)},
		{"small ldc", Requantize(2, 5, dst, 5, acc, 4, nil, one, 0)},
		{"bias length", Requantize(2, 5, dst, 5, acc, 5, make([]int32, 4), one, 0)},
		{"no scale", Requantize(2, 5, dst, 5, acc, 5, nil, nil, 0)},
		{"scale length", Requantize(2, 5, dst, 5, acc, 5, nil, make([]float32, 2), 0)},
		{"float: short output", Dequantize(5, 5, f[:19], 5, acc, 5, nil, one)},
		{"float: scale length", Dequantize(2, 5, f, 5, acc, 5, nil, make([]float32, 4))},
		{"huge", Requantize(1<<40, 1<<40, dst, 1<<40, acc, 1<<40, nil, one, 0)},
	} {
		if tc.err == nil {
			t.Errorf("%s accepted", tc.name)
		}
	}
	for _, v := range dst {
		if v != 0 {
			t.Fatal("a refused Requantize wrote its output")
		}
	}
}

func TestEpilogueNoAllocs(t *testing.T) {
	acc := make([]int32, 64*40)
	dst := make([]int8, 64*40)
	f := make([]float32, 64*40)
	bias := make([]int32, 40)
	allocs := testing.AllocsPerRun(10, func() {
		_ = Requantize(64, 40, dst, 40, acc, 40, bias, []float32{0.1}, int8(3))
		_ = Dequantize(64, 40, f, 40, acc, 40, nil, []float32{0.1})
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
}
