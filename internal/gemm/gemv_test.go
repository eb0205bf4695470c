package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemvLengths are the k the gemv tests take: empty, shorter than a vector,
// around one and two vectors of either width, the unrolled loops' trips
// and their leftovers (whole vectors, and values under the tail's mask),
// and the dense layers of the test models.
var gemvLengths = []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 100, 127, 128, 129, 255, 784, 1568, 1571}

// gemvOutputs are the n they take: every leftover of the kernels' passes
// of 8, 4 and 2 rows.
var gemvOutputs = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 16, 17, 23, 64}

// gemvSets returns the dispatching default and every set this CPU runs.
func gemvSets() []*gemvSet {
	return append([]*gemvSet{defaultGemv, goGemv}, asmGemv...)
}

// dotRef is the float64 sum of a[i]*b[i] and the sum of its terms'
// magnitudes, which bounds a float32 sum's rounding error.
func dotRef(a, b []float32) (sum, mag float64) {
	for i, v := range a {
		p := float64(v) * float64(b[i])
		sum += p
		mag += math.Abs(p)
	}
	return sum, mag
}

// closeTo reports whether a float32 sum of k terms is the float64 one up to
// its rounding: each of at most k additions errs by half an ulp of a
// partial sum no larger than mag, plus the products' own rounding.
func closeTo(got float32, want, mag float64, k int) bool {
	tol := float64(k+2)*0x1p-24*mag + 1e-30
	return !math.IsNaN(float64(got)) && math.Abs(float64(got)-want) <= tol
}

// unaligned returns n random values in [-1, 1] at an offset of off floats
// into a fresh slice, so that the kernels' vector loads are not aligned.
func unaligned(rng *rand.Rand, n, off int) []float32 {
	s := random(rng, n+off+1)
	return s[off : off+n : off+n]
}

// TestGemvT: every set, on every leftover of its rows and lanes, and on
// slices starting off any alignment, matches the float64 reference; the
// outputs past len(y) are untouched.
func TestGemvT(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, set := range gemvSets() {
		for _, k := range gemvLengths {
			for _, n := range gemvOutputs {
				off := rng.IntN(16)
				a, bt := unaligned(rng, k, off), unaligned(rng, n*k, rng.IntN(16))
				var bias []float32
				if rng.IntN(2) == 1 {
					bias = unaligned(rng, n, rng.IntN(16))
				}
				y := make([]float32, n+off+guard)
				for i := range y {
					y[i] = sentinel
				}
				gemvT(set, y[off:off+n], a, bt, bias)
				for i, v := range y {
					if i < off || i >= off+n {
						if v != sentinel {
							t.Fatalf("%s: n=%d k=%d: y[%d] outside the outputs changed to %g", set.name, n, k, i-off, v)
						}
						continue
					}
					j := i - off
					want, mag := dotRef(a, bt[j*k:(j+1)*k])
					if bias != nil {
						want += float64(bias[j])
						mag += math.Abs(float64(bias[j]))
					}
					if !closeTo(v, want, mag, k+1) {
						t.Fatalf("%s: n=%d k=%d bias=%v: y[%d] = %g, want %g", set.name, n, k, bias != nil, j, v, want)
					}
				}
			}
		}
	}
}

// TestGemvTOneOutput: each set's kernel for one output matches the
// float64 reference, reading only len(a) values of a longer row.
func TestGemvTOneOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, k := range append(gemvLengths, 4095, 4096, 10000) {
		a, b := unaligned(rng, k, rng.IntN(16)), unaligned(rng, k+5, rng.IntN(16))
		want, mag := dotRef(a, b[:k])
		for _, set := range gemvSets() {
			var y [1]float32
			gemvT(set, y[:], a, b, nil)
			if !closeTo(y[0], want, mag, k) {
				t.Errorf("%s: one output of %d values = %g, want %g", set.name, k, y[0], want)
			}
		}
	}
}

// TestGemvTExact: products exact in float32 (small integers) come out
// exact from every set, and a row's weights are its own: output j reads
// row j, not a neighbour.
func TestGemvTExact(t *testing.T) {
	const n, k = 11, 50
	a, bt := make([]float32, k), make([]float32, n*k)
	for p := range a {
		a[p] = float32(p%7 - 3)
	}
	for j := range n {
		for p := range k {
			bt[j*k+p] = float32((j+1)*(p%5) - j)
		}
	}
	bias := make([]float32, n)
	for j := range bias {
		bias[j] = float32(100 * j)
	}
	for _, set := range gemvSets() {
		y := make([]float32, n)
		gemvT(set, y, a, bt, bias)
		for j := range n {
			want := bias[j]
			for p := range k {
				want += a[p] * bt[j*k+p]
			}
			if y[j] != want {
				t.Errorf("%s: y[%d] = %g, want %g", set.name, j, y[j], want)
			}
		}
	}
}

// TestGemvTSpecial: infinities and NaN propagate as in a plain sum.
func TestGemvTSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, set := range gemvSets() {
		for _, k := range []int{5, 16, 40} {
			a, bt := make([]float32, k), make([]float32, 2*k)
			for p := range a {
				a[p] = 1
			}
			bt[k-1] = inf
			bt[k+k/2] = float32(math.NaN())
			y := make([]float32, 2)
			gemvT(set, y, a, bt, nil)
			if !math.IsInf(float64(y[0]), 1) || !math.IsNaN(float64(y[1])) {
				t.Errorf("%s: k=%d: got %g, %g, want +Inf, NaN", set.name, k, y[0], y[1])
			}
		}
	}
}

// TestGemvTPanics: arguments too short for the shape panic before any
// kernel reads past them.
func TestGemvTPanics(t *testing.T) {
	for name, fn := range map[string]func(){
		"short bt":   func() { GemvT(make([]float32, 3), make([]float32, 4), make([]float32, 11), nil) },
		"short bias": func() { GemvT(make([]float32, 3), make([]float32, 4), make([]float32, 12), make([]float32, 2)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
	// Long enough: no panic, and nothing read past what the shape needs.
	GemvT(make([]float32, 3), make([]float32, 4), make([]float32, 12), make([]float32, 3))
	GemvT(nil, make([]float32, 4), nil, nil)
	GemvT(make([]float32, 3), nil, nil, nil)
}

// TestGemvTAllocs: a call allocates nothing.
func TestGemvTAllocs(t *testing.T) {
	a, bt, y := make([]float32, 100), make([]float32, 1000), make([]float32, 10)
	if n := testing.AllocsPerRun(10, func() { GemvT(y, a, bt, nil) }); n != 0 {
		t.Errorf("%g allocations a call", n)
	}
}

// gemvBenchShapes are the dense layers of the test models, as n x k.
var gemvBenchShapes = []struct{ n, k int }{{10, 1568}, {16, 784}, {64, 1568}, {10, 64}, {10, 16}, {84, 120}, {128, 4096}}

// BenchmarkGemv reports GFLOP/s of GemvT with every set.
func BenchmarkGemv(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range gemvBenchShapes {
		a, bt, y := random(rng, s.k), random(rng, s.n*s.k), make([]float32, s.n)
		flops := func(b *testing.B) {
			b.ReportMetric(2*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		for _, set := range append([]*gemvSet{goGemv}, asmGemv...) {
			b.Run(fmt.Sprintf("%dx%d/%s", s.k, s.n, set.name), func(b *testing.B) {
				for b.Loop() {
					gemvT(set, y, a, bt, nil)
				}
				flops(b)
			})
		}
	}
}
