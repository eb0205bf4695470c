package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// impl is one way gemm can compute a product.
type impl struct {
	name string
	ks   *kernelSet
}

// impls returns the dispatching default, every kernel set this CPU runs and
// every kernel on its own, each also with blocks so small that every blocking
// loop and every edge path runs many times.
func impls() []impl {
	out := []impl{{"default", defaultKernels}}
	for _, ks := range append([]*kernelSet{goKernels}, asmKernels...) {
		out = append(out, impl{ks.name, ks})
		for _, k := range ks.kernels {
			out = append(out, impl{k.name, only(ks, k)})
			tiny := *k
			tiny.kc, tiny.mc, tiny.nc = 5, 2*k.mr, 2*k.nr
			out = append(out, impl{k.name + "/tiny-blocks", only(ks, &tiny)})
		}
	}
	return out
}

// only returns ks restricted to its kernel k.
func only(ks *kernelSet, k *kernel) *kernelSet {
	one := *ks
	one.name, one.kernels, one.pick = k.name, []*kernel{k}, func(int, int) *kernel { return k }
	return &one
}

// problem is one call to Sgemm.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // how much longer than a row each stride is
	padC           int
}

func (p problem) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g pads=%d,%d,%d",
		p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.beta, p.padA, p.padB, p.padC)
}

// operands holds the inputs of a problem; c is the initial C.
type operands struct {
	a, b, c       []float32
	lda, ldb, ldc int
}

const (
	sentinel = 12345.5 // fills the gaps between rows of C, which must stay
	guard    = 16      // elements past the end of C, which must stay
)

func (p problem) operands(rng *rand.Rand) operands {
	aRows, aCols := p.m, p.k
	if p.transA {
		aRows, aCols = p.k, p.m
	}
	bRows, bCols := p.k, p.n
	if p.transB {
		bRows, bCols = p.n, p.k
	}
	o := operands{lda: max(1, aCols) + p.padA, ldb: max(1, bCols) + p.padB, ldc: max(1, p.n) + p.padC}
	o.a = random(rng, minLen(aRows, aCols, o.lda))
	o.b = random(rng, minLen(bRows, bCols, o.ldb))
	o.c = make([]float32, minLen(p.m, p.n, o.ldc)+guard)
	for i := range o.c {
		o.c[i] = sentinel
	}
	for i := range p.m {
		for j := range p.n {
			if p.beta == 0 {
				o.c[i*o.ldc+j] = float32(math.NaN())
			} else {
				o.c[i*o.ldc+j] = rng.Float32()*2 - 1
			}
		}
	}
	return o
}

// minLen is the fewest elements a rows x cols matrix with stride ld needs.
func minLen(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

func random(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// want is C after the problem, by the reference loop.
func (p problem) want(o operands) []float32 {
	c := append([]float32(nil), o.c...)
	if p.k == 0 || p.alpha == 0 {
		// BLAS leaves alpha*A*B out entirely then, and so does Sgemm.
		for i := range p.m {
			for j := range p.n {
				if p.beta == 0 {
					c[i*o.ldc+j] = 0
				} else {
					c[i*o.ldc+j] *= p.beta
				}
			}
		}
		return c
	}
	sgemmRef(p.transA, p.transB, p.m, p.n, p.k, p.alpha, o.a, o.lda, o.b, o.ldb, p.beta, c[:len(c)-guard], o.ldc)
	return c
}

// check compares got with want element by element, allowing each element
// the rounding error of a k-term float32 sum of values in [-1, 1].
func (p problem) check(t *testing.T, name string, o operands, got, want []float32) {
	t.Helper()
	tol := 1e-5 * float64(max(p.k, 1)) * math.Abs(float64(p.alpha))
	bad := 0
	for idx := range got {
		i, j := idx/o.ldc, idx%o.ldc
		inside := i < p.m && j < p.n
		g, w := float64(got[idx]), float64(want[idx])
		if !inside {
			if got[idx] != sentinel {
				t.Errorf("%s: %v: element %d outside C changed to %g", name, p, idx, g)
				return
			}
			continue
		}
		if math.IsNaN(g) || math.Abs(g-w) > tol+1e-5*math.Abs(w) {
			if bad++; bad <= 3 {
				t.Errorf("%s: %v: C[%d,%d] = %g, want %g", name, p, i, j, g, w)
			}
		}
	}
}

// run checks the problem against the reference with every implementation.
func (p problem) run(t *testing.T, rng *rand.Rand) {
	t.Helper()
	o := p.operands(rng)
	want := p.want(o)
	for _, im := range impls() {
		got := append([]float32(nil), o.c...)
		gemm(im.ks, p.transA, p.transB, p.m, p.n, p.k, p.alpha, o.a, o.lda, o.b, o.ldb, p.beta, got[:len(got)-guard], o.ldc)
		p.check(t, im.name, o, got, want)
	}
}

// lenetShapes are the products LeNet training makes, as m, n, k.
var lenetShapes = []struct {
	name    string
	m, n, k int
}{
	{"conv1-fwd", 32, 1024, 9},
	{"conv2-fwd", 64, 256, 288},
	{"conv3-fwd", 128, 16, 576},
	{"conv1-dw", 32, 9, 1024},
	{"conv2-dw", 64, 288, 256},
	{"conv3-dw", 128, 576, 16},
	{"conv2-dx", 288, 256, 64},
	{"conv3-dx", 576, 16, 128},
	{"fc1-fwd", 128, 64, 512},
	{"fc1-dw", 64, 512, 128},
	{"fc1-dx", 128, 512, 64},
	{"fc2-fwd", 128, 10, 64},
	{"fc2-dw", 10, 64, 128},
	{"fc2-dx", 128, 64, 10},
}

var scalars = []struct{ alpha, beta float32 }{
	{1, 0}, {1, 1}, {0.5, -2}, {-1.5, 0}, {0, 0.5}, {0, 0},
}

// TestSgemmLeNetShapes runs every LeNet shape, transposed every way, with
// four pairs of scalars; under -short each shape and transposition takes
// one of them, in turn, so that each pair still meets every shape.
func TestSgemmLeNetShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i, s := range lenetShapes {
		for tr := range 4 {
			for j, sc := range scalars[:4] {
				if testing.Short() && j != (i+tr)%4 {
					continue
				}
				p := problem{transA: tr&1 != 0, transB: tr&2 != 0, m: s.m, n: s.n, k: s.k, alpha: sc.alpha, beta: sc.beta}
				p.run(t, rng)
			}
		}
	}
}

func TestSgemmRandomShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 400
	if testing.Short() {
		n = 50
	}
	for range n {
		sc := scalars[rng.IntN(len(scalars))]
		p := problem{
			transA: rng.IntN(2) == 1, transB: rng.IntN(2) == 1,
			m: 1 + rng.IntN(40), n: 1 + rng.IntN(40), k: 1 + rng.IntN(40),
			alpha: sc.alpha, beta: sc.beta,
			padA: rng.IntN(3) * rng.IntN(6), padB: rng.IntN(3) * rng.IntN(6), padC: rng.IntN(3) * rng.IntN(6),
		}
		p.run(t, rng)
	}
}

// TestSgemmDegenerate covers every shape with a dimension of 0 or 1.
func TestSgemmDegenerate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dims := []int{0, 1, 2, 17}
	for _, m := range dims {
		for _, n := range dims {
			for _, k := range dims {
				if m > 1 && n > 1 && k > 1 {
					continue
				}
				for tr := range 4 {
					for _, sc := range scalars {
						p := problem{transA: tr&1 != 0, transB: tr&2 != 0, m: m, n: n, k: k, alpha: sc.alpha, beta: sc.beta, padC: 1}
						p.run(t, rng)
					}
				}
			}
		}
	}
}

// TestSgemmLarge runs products bigger than one block in every dimension
// with the real blocking.
func TestSgemmLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("slow reference")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for tr := range 4 {
		p := problem{transA: tr&1 != 0, transB: tr&2 != 0, m: 301, n: 2111, k: 403, alpha: 1, beta: 0.5, padA: 3, padB: 1, padC: 2}
		p.run(t, rng)
	}
}

func TestSgemmBadArguments(t *testing.T) {
	buf := make([]float32, 100)
	tests := []struct {
		name           string
		transA, transB bool
		m, n, k        int
		a              []float32
		lda            int
		b              []float32
		ldb            int
		c              []float32
		ldc            int
	}{
		{"negative m", false, false, -1, 2, 2, buf, 2, buf, 2, buf, 2},
		{"negative k", false, false, 2, 2, -1, buf, 2, buf, 2, buf, 2},
		{"short A", false, false, 10, 2, 10, buf[:99], 10, buf, 2, buf, 2},
		{"short A transposed", true, false, 3, 2, 10, buf[:28], 3, buf, 2, buf, 2},
		{"short B", false, false, 2, 10, 10, buf, 10, buf[:99], 10, buf, 10},
		{"short B transposed", false, true, 2, 10, 10, buf, 10, buf[:99], 10, buf, 10},
		{"short C", false, false, 10, 10, 1, buf, 1, buf, 10, buf[:99], 10},
		{"small lda", false, false, 2, 2, 3, buf, 2, buf, 2, buf, 2},
		{"small ldb", false, false, 2, 3, 2, buf, 2, buf, 2, buf, 3},
		{"small ldc", false, false, 2, 3, 2, buf, 2, buf, 3, buf, 2},
		{"zero ldc", false, false, 0, 0, 0, nil, 1, nil, 1, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Sgemm did not panic")
				}
			}()
			Sgemm(tt.transA, tt.transB, tt.m, tt.n, tt.k, 1, tt.a, tt.lda, tt.b, tt.ldb, 0, tt.c, tt.ldc)
		})
	}
}

// TestSgemmEmptySlices checks that empty matrices need no backing memory.
func TestSgemmEmptySlices(t *testing.T) {
	Sgemm(false, false, 0, 0, 0, 1, nil, 1, nil, 1, 0, nil, 1)
	Sgemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
	c := []float32{1, 2}
	Sgemm(false, true, 1, 2, 0, 1, nil, 1, nil, 1, 3, c, 2)
	if c[0] != 3 || c[1] != 6 {
		t.Errorf("k=0, beta=3: C = %v, want [3 6]", c)
	}
}

func TestSgemmNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	a, b, c := random(rng, 64*288), random(rng, 288*256), make([]float32, 64*256)
	for _, im := range impls() {
		allocs := testing.AllocsPerRun(10, func() {
			gemm(im.ks, false, true, 64, 256, 288, 1, a, 288, b, 288, 0, c, 256)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", im.name, allocs)
		}
	}
}

// TestSgemmConcurrent runs calls on several goroutines at once; with -race it
// also checks that they share no buffer.
func TestSgemmConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const workers = 8
	p := problem{transB: true, m: 64, n: 96, k: 200, alpha: 1, beta: 0}
	var ops [workers]operands
	var wants [workers][]float32
	for w := range ops {
		ops[w] = p.operands(rng)
		wants[w] = p.want(ops[w])
	}
	var got [workers][]float32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			o := ops[w]
			c := append([]float32(nil), o.c...)
			for range 20 {
				Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, o.a, o.lda, o.b, o.ldb, p.beta, c[:len(c)-guard], o.ldc)
			}
			got[w] = c
		})
	}
	wg.Wait()
	for w := range workers {
		p.check(t, fmt.Sprintf("worker %d", w), ops[w], got[w], wants[w])
	}
}
