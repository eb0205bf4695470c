package qgemm

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// impl is one way to compute a product: a kernel set with one of its
// kernels, at its own blocking or with blocks of A so small that the
// blocking loop runs many times.
type impl struct {
	name string
	ks   *kernelSet
	kern *kernel
}

// allKernelSets is the Go set and every assembly set this CPU runs.
func allKernelSets() []*kernelSet { return append([]*kernelSet{goKernels}, asmKernels...) }

func impls() []impl {
	var out []impl
	for _, ks := range allKernelSets() {
		for _, k := range ks.kernels {
			out = append(out, impl{k.name, ks, k})
			tiny := *k
			tiny.mc = k.mr
			out = append(out, impl{k.name + "/tiny-blocks", ks, &tiny})
		}
	}
	return out
}

func TestKernelSetsThisCPU(t *testing.T) {
	var names []string
	for _, ks := range allKernelSets() {
		names = append(names, ks.String())
	}
	t.Logf("default %s; testing %v", KernelName(), names)
	if KernelName() != defaultKernels.String() {
		t.Errorf("KernelName() = %q, want %q", KernelName(), defaultKernels.String())
	}
}

// TestPackBFor: each of Kernels packs for its own set, and gives the
// product the default set gives.
func TestPackBFor(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const m, n, k = 20, 37, 45
	a, b, zb := drawSlice[int8](rng, m*k, true), drawSlice[uint8](rng, k*n, true), drawSlice[uint8](rng, n, true)
	want := make([]int32, m*n)
	pb, err := PackB(true, k, n, b, k, zb)
	if err != nil {
		t.Fatal(err)
	}
	if err := Gemm(pb, false, m, a, k, -3, want, n, nil); err != nil {
		t.Fatal(err)
	}
	names := Kernels()
	if names[len(names)-1] != "go" || !strings.HasPrefix(KernelName(), names[0]) {
		t.Errorf("Kernels() = %v, KernelName() = %q", names, KernelName())
	}
	for _, name := range names {
		pb, err := PackBFor(name, true, k, n, b, k, zb)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(pb.Kernel(), name+"-") {
			t.Errorf("PackBFor(%q) packed for %s", name, pb.Kernel())
		}
		got := make([]int32, m*n)
		if err := Gemm(pb, false, m, a, k, -3, got, n, nil); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: the product differs from the default kernels'", name)
		}
	}
	if _, err := PackBFor("sse2", true, k, n, b, k, zb); err == nil {
		t.Error("PackBFor: unknown kernel set accepted")
	}
}

// problem is one product: shapes, layouts, strides' padding, and how its
// values are drawn.
type problem struct {
	m, n, k          int
	transA, transB   bool
	padA, padB, padC int
	zps              int  // B's zero points: 0 none (nil), 1 one, else per column
	extreme          bool // values and zero points from the ends of their ranges
}

func (p problem) String() string {
	return fmt.Sprintf("m=%d n=%d k=%d tA=%v tB=%v pads=%d,%d,%d zps=%d extreme=%v",
		p.m, p.n, p.k, p.transA, p.transB, p.padA, p.padB, p.padC, p.zps, p.extreme)
}

// extremes are the bytes at the ends of int8's and uint8's ranges.
var extremes = []byte{0, 1, 0x7f, 0x80, 0x81, 0xfe, 0xff}

func draw(rng *rand.Rand, extreme bool) byte {
	if extreme && rng.IntN(4) != 0 {
		return extremes[rng.IntN(len(extremes))]
	}
	return byte(rng.Uint32())
}

func drawSlice[T Int8](rng *rand.Rand, n int, extreme bool) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(draw(rng, extreme))
	}
	return s
}

// minLen is the fewest elements a rows x cols matrix with stride ld needs.
func minLen(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// operands are a problem's inputs.
type operands[TA, TB Int8] struct {
	a         []TA
	lda       int
	za        TA
	b         []TB
	ldb       int
	zb        []TB
	ldc, lenC int
}

func makeOperands[TA, TB Int8](rng *rand.Rand, p problem) operands[TA, TB] {
	var o operands[TA, TB]
	aRows, aCols := p.m, p.k
	if p.transA {
		aRows, aCols = p.k, p.m
	}
	bRows, bCols := p.k, p.n
	if p.transB {
		bRows, bCols = p.n, p.k
	}
	o.lda, o.ldb, o.ldc = max(1, aCols)+p.padA, max(1, bCols)+p.padB, max(1, p.n)+p.padC
	o.a = drawSlice[TA](rng, minLen(aRows, aCols, o.lda), p.extreme)
	o.b = drawSlice[TB](rng, minLen(bRows, bCols, o.ldb), p.extreme)
	o.za = TA(draw(rng, p.extreme))
	switch p.zps {
	case 0:
	case 1:
		o.zb = drawSlice[TB](rng, 1, p.extreme)
	default:
		o.zb = drawSlice[TB](rng, p.n, p.extreme)
	}
	o.lenC = minLen(p.m, p.n, o.ldc)
	return o
}

// gemmRef is the plain triple loop in int64: the oracle. The int32 result
// is its value modulo 2^32.
func gemmRef[TA, TB Int8](p problem, o operands[TA, TB]) []int64 {
	c := make([]int64, p.m*p.n)
	for i := range p.m {
		for j := range p.n {
			var zb int64
			switch len(o.zb) {
			case 1:
				zb = int64(o.zb[0])
			case p.n:
				zb = int64(o.zb[j])
			}
			var s int64
			for q := range p.k {
				var av TA
				if p.transA {
					av = o.a[q*o.lda+i]
				} else {
					av = o.a[i*o.lda+q]
				}
				var bv TB
				if p.transB {
					bv = o.b[j*o.ldb+q]
				} else {
					bv = o.b[q*o.ldb+j]
				}
				s += (int64(av) - int64(o.za)) * (int64(bv) - zb)
			}
			c[i*p.n+j] = s
		}
	}
	return c
}

const (
	sentinel = -0x5a5a5a5a // fills C's row gaps and its tail, which must stay
	guard    = 8           // elements past the end of C
)

// check runs the problem with every implementation and compares with the
// reference; it returns false after reporting a mismatch.
func check[TA, TB Int8](t *testing.T, rng *rand.Rand, p problem) bool {
	t.Helper()
	o := makeOperands[TA, TB](rng, p)
	want := gemmRef(p, o)
	types := fmt.Sprintf("%T x %T", o.za, o.b[:0])
	ws := new(Workspace)
	for _, im := range impls() {
		pb, err := packB(im.ks, im.kern, p.transB, p.k, p.n, bytesOf(o.b), o.ldb, bytesOf(o.zb), flipOf[TB](true))
		if err != nil {
			t.Fatalf("%s: %v: %s: packB: %v", im.name, p, types, err)
		}
		c := make([]int32, o.lenC+guard)
		for i := range c {
			c[i] = sentinel
		}
		for i := range p.m {
			for j := range p.n {
				c[i*o.ldc+j] = int32(rng.Uint32()) // C is not read
			}
		}
		if err := Gemm(pb, p.transA, p.m, o.a, o.lda, o.za, c[:o.lenC], o.ldc, ws); err != nil {
			t.Fatalf("%s: %v: %s: Gemm: %v", im.name, p, types, err)
		}
		for idx, g := range c {
			i, j := idx/o.ldc, idx%o.ldc
			if i >= p.m || j >= p.n {
				if g != sentinel {
					t.Errorf("%s: %v: %s: element %d outside C changed to %d", im.name, p, types, idx, g)
					return false
				}
				continue
			}
			if w := want[i*p.n+j]; g != int32(w) {
				t.Errorf("%s: %v: %s: C[%d,%d] = %d, want %d", im.name, p, types, i, j, g, w)
				return false
			}
		}
	}
	return true
}

// checkAllTypes runs check for each of the four pairs of A's and B's types.
func checkAllTypes(t *testing.T, rng *rand.Rand, p problem) bool {
	t.Helper()
	return check[uint8, int8](t, rng, p) && check[int8, int8](t, rng, p) &&
		check[uint8, uint8](t, rng, p) && check[int8, uint8](t, rng, p)
}

func TestGemmRandomShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	trials := 300
	if testing.Short() {
		trials = 60
	}
	for range trials {
		p := problem{
			m: 1 + rng.IntN(40), n: 1 + rng.IntN(40), k: 1 + rng.IntN(40),
			transA: rng.IntN(2) == 1, transB: rng.IntN(2) == 1,
			padA: rng.IntN(2) * rng.IntN(7), padB: rng.IntN(2) * rng.IntN(7), padC: rng.IntN(2) * rng.IntN(7),
			zps: rng.IntN(3), extreme: rng.IntN(2) == 1,
		}
		if !checkAllTypes(t, rng, p) {
			return
		}
	}
}

// TestGemmEdgeTiles covers every remainder of m, n and k against the
// tiles and units: m and n around 1, 2 and 3 tiles of every kernel, k
// around multiples of 4 (and of 2 and the unroll of 4 units).
func TestGemmEdgeTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ms := []int{1, 5, 6, 7, 8, 9, 12, 13, 16, 17, 24, 25}
	ns := []int{1, 3, 4, 5, 8, 9, 10, 15, 16, 17, 31, 32, 33, 48, 64, 65}
	ks := []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33}
	if testing.Short() {
		ms, ns, ks = []int{1, 7, 13, 17}, []int{1, 5, 10, 17, 33}, []int{1, 3, 4, 5, 9, 17}
	}
	for _, m := range ms {
		for _, n := range ns {
			for _, k := range ks {
				p := problem{m: m, n: n, k: k, zps: 2, transA: (m+n+k)%2 == 0, extreme: (m+k)%3 == 0}
				if !check[uint8, int8](t, rng, p) {
					return
				}
			}
		}
	}
}

// lenetShapes are the products of the seed's LeNet (lenet.Layers) for one
// image as int8 inference runs them, activations times packed weights:
// each convolution's output pixels by its im2col depth (3x3 taps of the
// input channels) by its output channels, then the dense layers for a
// batch.
var lenetShapes = []struct {
	name    string
	m, n, k int
}{
	{"conv1", 1024, 32, 9},
	{"conv2", 256, 64, 288},
	{"conv3", 16, 128, 576},
	{"fc1-batch128", 128, 64, 512},
	{"fc2-batch128", 128, 10, 64},
	{"fc1-image", 1, 64, 512},
	{"fc2-image", 1, 10, 64},
}

func TestGemmLeNetShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range lenetShapes {
		if testing.Short() && s.m*s.n*s.k > 1<<20 {
			continue
		}
		for tr := range 4 {
			p := problem{m: s.m, n: s.n, k: s.k, transA: tr&1 != 0, transB: tr&2 != 0, zps: 1 + tr%2, extreme: tr == 3}
			if !checkAllTypes(t, rng, p) {
				return
			}
		}
	}
}

// TestGemmDegenerate covers every shape with a dimension of 0 or 1.
func TestGemmDegenerate(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	dims := []int{0, 1, 2, 17}
	for _, m := range dims {
		for _, n := range dims {
			for _, k := range dims {
				if m > 1 && n > 1 && k > 1 {
					continue
				}
				for tr := range 4 {
					p := problem{m: m, n: n, k: k, transA: tr&1 != 0, transB: tr&2 != 0, zps: tr % 3, padC: 1}
					if !checkAllTypes(t, rng, p) {
						return
					}
				}
			}
		}
	}
}

// TestGemmDeepExtremes: k = 65536 with every product at its most negative
// (uint8 255 - 0 times int8 -128 - 0, int8 -128 - 127 times int8 127 - -1)
// and most positive values that still fit int32, which exact int32
// arithmetic gets right and a saturating one (VPMADDUBSW, VPDPBUSDS) does
// not; and k = 40000 with |A - za| = |B - zb| = 255, whose sum does not fit
// and must wrap as the int64 sum modulo 2^32 does.
func TestGemmDeepExtremes(t *testing.T) {
	const k = 65536
	fill := func(n int, v byte) []byte {
		s := make([]byte, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	cases := []struct {
		name           string
		k              int
		a, za, b, zb   byte
		signedA, signB bool
		want           int64
	}{
		{"u8 255 x s8 -128", k, 255, 0, 0x80, 0, false, true, 255 * -128 * k},
		{"s8 -128-127 x s8 127+1", k, 0x80, 0x7f, 0x7f, 0xff, true, true, -255 * 128 * k},
		{"u8 0-255 x s8 -128", k, 0, 255, 0x80, 0, false, true, 255 * 128 * k},
		{"u8 255-0 x u8 0-128", k, 255, 0, 0, 128, false, false, 255 * -128 * k},
		{"wraps: u8 255-0 x u8 0-255", 40000, 255, 0, 0, 255, false, false, 255 * -255 * 40000},
		{"wraps: s8 -128-127 x s8 -128-127", 40000, 0x80, 0x7f, 0x80, 0x7f, true, true, 255 * 255 * 40000},
	}
	for _, tc := range cases {
		const m, n = 3, 5
		a, b := fill(m*tc.k, tc.a), fill(tc.k*n, tc.b)
		flipA, flipB := byte(0), byte(0)
		if tc.signedA {
			flipA = 0x80
		}
		if !tc.signB {
			flipB = 0x80
		}
		for _, im := range impls() {
			pb, err := packB(im.ks, im.kern, false, tc.k, n, b, n, []byte{tc.zb}, flipB)
			if err != nil {
				t.Fatal(err)
			}
			c := make([]int32, m*n)
			pb.gemm(false, m, a, tc.k, tc.za^flipA, flipA, c, n, new(Workspace))
			for idx, g := range c {
				if g != int32(tc.want) {
					t.Errorf("%s: %s: C[%d] = %d, want %d (%d modulo 2^32)", im.name, tc.name, idx, g, int32(tc.want), tc.want)
					break
				}
			}
		}
	}
}

func TestGemmBadArguments(t *testing.T) {
	buf := make([]int8, 100)
	ubuf := make([]uint8, 100)
	if _, err := PackB(false, -1, 2, buf, 2, nil); err == nil {
		t.Error("PackB: negative k accepted")
	}
	if _, err := PackB(false, 10, 10, buf[:99], 10, nil); err == nil {
		t.Error("PackB: short B accepted")
	}
	if _, err := PackB(true, 10, 10, buf[:99], 10, nil); err == nil {
		t.Error("PackB: short transposed B accepted")
	}
	if _, err := PackB(false, 2, 3, buf, 2, nil); err == nil {
		t.Error("PackB: stride shorter than a row accepted")
	}
	if _, err := PackB(false, 2, 3, buf, 3, buf[:2]); err == nil {
		t.Error("PackB: 2 zero points for 3 columns accepted")
	}
	if _, err := PackB(false, 1<<40, 1<<40, buf, 1<<40, nil); err == nil {
		t.Error("PackB: huge shape accepted")
	}
	if _, err := PackB(false, 3, 1<<62, buf, 1<<62, nil); err == nil {
		t.Error("PackB: shape overflowing int accepted")
	}
	pb, err := PackB(false, 10, 10, buf, 10, buf[:10])
	if err != nil {
		t.Fatal(err)
	}
	c := make([]int32, 100)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"nil PackedB", Gemm(nil, false, 1, ubuf, 10, 0, c, 10, nil)},
		{"negative m", Gemm(pb, false, -1, ubuf, 10, 0, c, 10, nil)},
		{"short A", Gemm(pb, false, 10, ubuf[:99], 10, 0, c, 10, nil)},
		{"short transposed A", Gemm(pb, true, 11, ubuf, 11, 0, c, 10, nil)},
		{"small lda", Gemm(pb, false, 2, ubuf, 9, 0, c, 10, nil)},
		{"short C", Gemm(pb, false, 10, ubuf, 10, 0, c[:99], 10, nil)},
		{"small ldc", Gemm(pb, false, 2, ubuf, 10, 0, c, 9, nil)},
		{"huge m", Gemm(pb, false, 1<<60, ubuf, 10, 0, c, 10, nil)},
	} {
		if tc.err == nil {
			t.Errorf("Gemm: %s accepted", tc.name)
		}
	}
	for _, v := range c {
		if v != 0 {
			t.Fatal("a refused Gemm wrote C")
		}
	}
	// k = 0 with any n needs no memory for B, and zeroes C.
	pb, err = PackB[int8](false, 0, 1<<40, nil, 1<<40, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Gemm(pb, false, 0, ubuf, 1, 0, nil, 1<<40, nil); err != nil {
		t.Errorf("k = 0, m = 0: %v", err)
	}
	if err := Gemm(pb, false, 1, ubuf, 1, 0, c, 1<<40, nil); err == nil {
		t.Error("k = 0: C too short for n accepted")
	}
}

func TestGemmNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	a, b := drawSlice[uint8](rng, 256*288, false), drawSlice[int8](rng, 288*64, false)
	c := make([]int32, 256*64)
	for _, im := range impls() {
		pb, err := packB(im.ks, im.kern, false, 288, 64, bytesOf(b), 64, []byte{3}, 0)
		if err != nil {
			t.Fatal(err)
		}
		ws := new(Workspace)
		allocs := testing.AllocsPerRun(5, func() {
			if err := Gemm(pb, false, 256, a, 288, 7, c, 64, ws); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call with a workspace, want 0", im.name, allocs)
		}
	}
}

// TestGemmConcurrent shares one PackedB between goroutines, each with its
// own workspace; with -race it also checks that they share no buffer.
func TestGemmConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const workers, m, n, k = 6, 40, 48, 100
	b := drawSlice[int8](rng, k*n, false)
	zb := drawSlice[int8](rng, n, false)
	pb, err := PackB(false, k, n, b, n, zb)
	if err != nil {
		t.Fatal(err)
	}
	p := problem{m: m, n: n, k: k, zps: 2}
	var as [workers][]uint8
	var wants [workers][]int64
	for w := range workers {
		as[w] = drawSlice[uint8](rng, m*k, false)
		wants[w] = gemmRef(p, operands[uint8, int8]{a: as[w], lda: k, za: uint8(w * 40), b: b, ldb: n, zb: zb})
	}
	var got [workers][]int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ws := new(Workspace)
			c := make([]int32, m*n)
			for range 20 {
				if err := Gemm(pb, false, m, as[w], k, uint8(w*40), c, n, ws); err != nil {
					t.Error(err)
					return
				}
			}
			got[w] = c
		})
	}
	wg.Wait()
	for w := range workers {
		for i, v := range got[w] {
			if v != int32(wants[w][i]) {
				t.Fatalf("worker %d: C[%d] = %d, want %d", w, i, v, wants[w][i])
			}
		}
	}
}
