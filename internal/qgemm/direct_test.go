package qgemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// inPlace is a GemmInPlace problem: m rows read from an image at lda
// apart, units at offsets.
type inPlace struct {
	m, n, k int
	lda     int
	offs    []int32
	slack   int // bytes of a past the last unit
	zps     int // B's zero points: 0 none, 1 one, else per column
	zero    bool
}

// convProblem is the in-place A of a 3x3 stride-1 convolution of c
// channels over a padded image wp pixels wide, the rows one output row of
// w pixels.
func convProblem(w, wp, c, n int) inPlace {
	p := inPlace{m: w, n: n, k: 9 * c, lda: c}
	for ky := range 3 {
		for kx := range 3 {
			for u := 0; u < c; u += 4 {
				p.offs = append(p.offs, int32((ky*wp+kx)*c+u))
			}
		}
	}
	return p
}

// checkInPlace runs p with every kernel set and kernel against Gemm on the
// rows gathered by hand, and the oracle.
func checkInPlace[TA, TB Int8](t *testing.T, rng *rand.Rand, p inPlace) bool {
	t.Helper()
	units := (p.k + 3) / 4
	size := p.slack
	if p.m > 0 {
		size += (p.m-1)*p.lda + int(p.offs[units-1]) + 4
	}
	a := drawSlice[TA](rng, size, true)
	za := TA(draw(rng, true))
	b := drawSlice[TB](rng, p.k*p.n, true)
	var zb []TB
	switch {
	case p.zero:
		zb = []TB{TB(flipOf[TB](true))} // 0 in the kernels' domain
	case p.zps == 1:
		zb = drawSlice[TB](rng, 1, true)
	case p.zps > 1:
		zb = drawSlice[TB](rng, p.n, true)
	}
	// The gathered matrix and the oracle.
	rows := make([]TA, p.m*p.k)
	for i := range p.m {
		for q := range p.k {
			rows[i*p.k+q] = a[i*p.lda+int(p.offs[q/4])+q%4]
		}
	}
	o := operands[TA, TB]{a: rows, lda: max(1, p.k), za: za, b: b, ldb: p.n, zb: zb, ldc: p.n}
	want := gemmRef(problem{m: p.m, n: p.n, k: p.k}, o)
	types := fmt.Sprintf("%T x %T", za, b[:0])
	ws := new(Workspace)
	for _, im := range impls() {
		pb, err := packB(im.ks, im.kern, false, p.k, p.n, bytesOf(b), p.n, bytesOf(zb), flipOf[TB](true))
		if err != nil {
			t.Fatal(err)
		}
		c := make([]int32, p.m*p.n+guard)
		for i := range c {
			c[i] = sentinel
		}
		if err := GemmInPlace(pb, p.m, a, p.lda, p.offs, za, c[:p.m*p.n], p.n, ws); err != nil {
			t.Fatalf("%s: %+v: %s: %v", im.name, p, types, err)
		}
		for idx, g := range c {
			if idx >= p.m*p.n {
				if g != sentinel {
					t.Errorf("%s: %+v: %s: element %d past C changed", im.name, p, types, idx)
					return false
				}
				continue
			}
			if w := want[idx]; g != int32(w) {
				t.Errorf("%s: m=%d n=%d k=%d lda=%d slack=%d zps=%d zero=%v: %s: C[%d,%d] = %d, want %d",
					im.name, p.m, p.n, p.k, p.lda, p.slack, p.zps, p.zero, types, idx/p.n, idx%p.n, g, w)
				return false
			}
		}
	}
	return true
}

// TestGemmInPlace: the in-place product equals the product of the
// gathered rows for every kernel, with the direct kernels (uint8 A, zero
// points 0) and without, the last tile inside a or past it.
func TestGemmInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	var probs []inPlace
	for _, s := range []struct{ w, wp, c, n int }{{16, 18, 32, 64}, {4, 6, 64, 128}, {7, 9, 8, 16}, {5, 7, 4, 10}, {13, 15, 12, 33}} {
		for _, slack := range []int{0, 3, 64 * 16} {
			for _, zero := range []bool{true, false} {
				p := convProblem(s.w, s.wp, s.c, s.n)
				p.slack, p.zero, p.zps = slack, zero, 2
				probs = append(probs, p)
			}
		}
	}
	trials := 150
	if testing.Short() {
		trials = 30
	}
	for range trials {
		k := 1 + rng.IntN(60)
		p := inPlace{m: 1 + rng.IntN(40), n: 1 + rng.IntN(40), k: k, lda: rng.IntN(12), slack: rng.IntN(2) * rng.IntN(100),
			zps: rng.IntN(3), zero: rng.IntN(2) == 0}
		off := int32(0)
		for range (k + 3) / 4 {
			off += int32(rng.IntN(3) * 4) // runs and gaps, never back
			p.offs = append(p.offs, off)
		}
		probs = append(probs, p)
	}
	for _, p := range probs {
		if !checkInPlace[uint8, int8](t, rng, p) || !checkInPlace[int8, int8](t, rng, p) ||
			!checkInPlace[uint8, uint8](t, rng, p) {
			return
		}
	}
}

func TestGemmInPlaceBadArguments(t *testing.T) {
	b := make([]int8, 8*4)
	pb, err := PackB(false, 8, 4, b, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, c := make([]uint8, 64), make([]int32, 16)
	for _, tc := range []struct {
		name string
		m    int
		lda  int
		offs []int32
		a    []uint8
		c    []int32
	}{
		{"negative m", -1, 4, []int32{0, 4}, a, c},
		{"negative lda", 2, -4, []int32{0, 4}, a, c},
		{"too few offsets", 2, 4, []int32{0}, a, c},
		{"decreasing offsets", 2, 4, []int32{4, 0}, a, c},
		{"negative offset", 2, 4, []int32{-4, 0}, a, c},
		{"a too short", 4, 16, []int32{0, 20}, a, c},
		{"c too short", 5, 4, []int32{0, 4}, a, c},
	} {
		if err := GemmInPlace(pb, tc.m, tc.a, tc.lda, tc.offs, 0, tc.c, 4, nil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if err := GemmInPlace[uint8](nil, 1, a, 4, []int32{0, 4}, 0, c, 4, nil); err == nil {
		t.Error("nil PackedB: no error")
	}
}

// TestMaxPool: each window's maximum (or, per column, minimum), in the
// vector code and the Go loop, against the plain definition.
func TestMaxPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for trial := range 200 {
		w := Window{KH: 1 + rng.IntN(4), KW: 1 + rng.IntN(4), SH: 1 + rng.IntN(4), SW: 1 + rng.IntN(4)}
		w.Width = w.KW + rng.IntN(12)
		pixels := 1 + (w.Width-w.KW)/w.SW
		n := 1 + rng.IntN(40)
		if trial%4 == 0 {
			n = 8 * (1 + rng.IntN(8))
		}
		ldc, ldd := n+rng.IntN(3), n+rng.IntN(3)
		rows := (pixels-1)*w.SW + (w.KH-1)*w.Width + w.KW
		acc := make([]int32, rows*ldc)
		for i := range acc {
			acc[i] = drawAcc(rng)
		}
		var order []int32
		if trial%2 == 1 {
			order = make([]int32, n)
			for j := range order {
				order[j] = -int32(rng.IntN(2))
			}
		}
		want := make([]int32, pixels*ldd)
		for px := range pixels {
			for j := range n {
				best := acc[px*w.SW*ldc+j]
				for dy := range w.KH {
					for dx := range w.KW {
						v := acc[(px*w.SW+dy*w.Width+dx)*ldc+j]
						if order != nil && order[j] != 0 {
							best = min(best, v)
						} else {
							best = max(best, v)
						}
					}
				}
				want[px*ldd+j] = best
			}
		}
		for _, vec := range epilogues() {
			got := make([]int32, pixels*ldd)
			maxPool(vec, w, pixels, n, acc, ldc, order, got, ldd)
			for px := range pixels {
				for j := range n {
					if g, e := got[px*ldd+j], want[px*ldd+j]; g != e {
						t.Fatalf("%s: %+v, %d pixels of %d, order %v: [%d,%d] = %d, want %d", epilogueName(vec), w, pixels, n, order != nil, px, j, g, e)
					}
				}
			}
		}
		if err := MaxPool(w, pixels, n, acc, ldc, order, make([]int32, pixels*ldd), ldd); err != nil {
			t.Fatal(err)
		}
	}
	if err := MaxPool(Window{KH: 2, KW: 2, SH: 2, SW: 2, Width: 4}, 2, 8, make([]int32, 8*5), 8, nil, make([]int32, 16), 8); err == nil {
		t.Error("MaxPool: a window past acc accepted")
	}
	if err := MaxPool(Window{KH: 2, KW: 2, SH: 2, SW: 2, Width: 4}, 2, 8, make([]int32, 8*8), 8, make([]int32, 3), make([]int32, 16), 8); err == nil {
		t.Error("MaxPool: orders of another length accepted")
	}
}

// TestRequantizeFloor: the floor is Requantize then max(value, floor).
func TestRequantizeFloor(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for range 100 {
		p := drawEpilogue(rng)
		zp := uint8(rng.IntN(256))
		floor := zp
		if rng.IntN(3) == 0 {
			floor = uint8(rng.IntN(256))
		}
		want, got := make([]uint8, p.m*p.n), make([]uint8, p.m*p.n)
		if err := Requantize(p.m, p.n, want, p.n, p.acc, p.ldc, p.bias, p.scale, zp); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			want[i] = max(want[i], floor)
		}
		if err := RequantizeFloor(p.m, p.n, got, p.n, p.acc, p.ldc, p.bias, p.scale, zp, floor); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("floor %d, zero point %d: %v, want %v", floor, zp, got, want)
		}
		sw, sg := make([]int8, p.m*p.n), make([]int8, p.m*p.n)
		sz, sf := int8(rng.IntN(256)), int8(rng.IntN(256))
		if err := Requantize(p.m, p.n, sw, p.n, p.acc, p.ldc, p.bias, p.scale, sz); err != nil {
			t.Fatal(err)
		}
		for i := range sw {
			sw[i] = max(sw[i], sf)
		}
		if err := RequantizeFloor(p.m, p.n, sg, p.n, p.acc, p.ldc, p.bias, p.scale, sz, sf); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(sg) != fmt.Sprint(sw) {
			t.Fatalf("int8, floor %d, zero point %d: %v, want %v", sf, sz, sg, sw)
		}
	}
}
