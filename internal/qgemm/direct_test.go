package qgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// inPlace is a GemmInPlace problem: m rows read in place as at says.
type inPlace struct {
	m, n, k int
	at      InPlace
	slack   int // bytes of a past the last unit
	zps     int // B's zero points: 0 none, 1 one, else per column
	zero    bool
}

// convProblem is the in-place A of a 3x3 stride-1 convolution of c
// channels over a padded image wp pixels wide, the rows h output rows of
// w pixels.
func convProblem(h, w, wp, c, n int) inPlace {
	p := inPlace{m: h * w, n: n, k: 9 * c, at: InPlace{Width: w, Pitch: wp * c, Step: c}}
	for ky := range 3 {
		for kx := range 3 {
			for u := 0; u < c; u += 4 {
				p.at.Offsets = append(p.at.Offsets, int32((ky*wp+kx)*c+u))
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
		size += p.at.reach(p.m) + int(p.at.Offsets[units-1]) + 4
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
			rows[i*p.k+q] = a[p.at.base(i)+int(p.at.Offsets[q/4])+q%4]
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
		if err := GemmInPlace(pb, p.m, a, p.at, za, c[:p.m*p.n], p.n, ws); err != nil {
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
				t.Errorf("%s: m=%d n=%d k=%d width %d pitch %d step %d slack=%d zps=%d zero=%v: %s: C[%d,%d] = %d, want %d",
					im.name, p.m, p.n, p.k, p.at.Width, p.at.Pitch, p.at.Step, p.slack, p.zps, p.zero, types, idx/p.n, idx%p.n, g, w)
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
	for _, s := range []struct{ h, w, wp, c, n int }{{4, 16, 18, 32, 64}, {4, 4, 6, 64, 128}, {3, 7, 9, 8, 16}, {2, 5, 7, 4, 10},
		{2, 13, 15, 12, 33}, {3, 12, 14, 8, 32}, {5, 8, 10, 4, 16}} {
		for _, slack := range []int{0, 3, 64 * 16} {
			for _, zero := range []bool{true, false} {
				p := convProblem(s.h, s.w, s.wp, s.c, s.n)
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
		step := rng.IntN(12)
		width := 1 + rng.IntN(20)
		p := inPlace{m: 1 + rng.IntN(40), n: 1 + rng.IntN(40), k: k, slack: rng.IntN(2) * rng.IntN(100),
			at: InPlace{Width: width, Step: step, Pitch: width*step + rng.IntN(3)*rng.IntN(40)}, zps: rng.IntN(3), zero: rng.IntN(2) == 0}
		off := int32(0)
		for range (k + 3) / 4 {
			off += int32(rng.IntN(3) * 4) // runs and gaps, never back
			p.at.Offsets = append(p.at.Offsets, off)
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
	at := func(width, pitch, step int, offs ...int32) InPlace {
		return InPlace{Width: width, Pitch: pitch, Step: step, Offsets: offs}
	}
	for _, tc := range []struct {
		name string
		m    int
		at   InPlace
	}{
		{"negative m", -1, at(8, 32, 4, 0, 4)},
		{"negative step", 2, at(8, 32, -4, 0, 4)},
		{"negative pitch", 2, at(8, -32, 4, 0, 4)},
		{"width 0", 2, at(0, 32, 4, 0, 4)},
		{"too few offsets", 2, at(8, 32, 4, 0)},
		{"decreasing offsets", 2, at(8, 32, 4, 4, 0)},
		{"negative offset", 2, at(8, 32, 4, -4, 0)},
		{"a too short", 4, at(8, 64, 16, 0, 20)},
		{"a too short across runs", 4, at(2, 60, 1, 0, 4)},
		{"c too short", 5, at(8, 32, 4, 0, 4)},
	} {
		if err := GemmInPlace(pb, tc.m, a, tc.at, 0, c, 4, nil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if err := GemmInPlace[uint8](nil, 1, a, at(8, 32, 4, 0, 4), 0, c, 4, nil); err == nil {
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

// TestEpilogue: Epilogue.Run, in the vector code and the Go loop, is
// MaxPool, then RequantizeFloor, then each column's table.
func TestEpilogue(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	affineTried, affineTaken := 0, 0
	for trial := range 300 {
		w := Window{KH: 1 + rng.IntN(3), KW: 1 + rng.IntN(3), SH: 1 + rng.IntN(3), SW: 1 + rng.IntN(3)}
		w.Width = w.KW + rng.IntN(8)
		pixels := 1 + (w.Width-w.KW)/w.SW
		n := 1 + rng.IntN(40)
		if trial%2 == 0 {
			n = 16 * (1 + rng.IntN(4))
		}
		ldc, ldd := n+rng.IntN(3), n+rng.IntN(3)
		rows := (pixels-1)*w.SW + (w.KH-1)*w.Width + w.KW
		acc := make([]int32, rows*ldc)
		for i := range acc {
			acc[i] = drawAcc(rng) / int32(1+rng.IntN(1000))
		}
		var bias []int32
		if rng.IntN(3) != 0 {
			bias = make([]int32, n)
			for j := range bias {
				bias[j] = drawAcc(rng) / 1000
			}
		}
		scale := make([]float32, 1)
		if rng.IntN(2) == 0 {
			scale = make([]float32, n)
		}
		for j := range scale {
			scale[j] = drawScale(rng)
		}
		var order []int32
		if rng.IntN(2) == 0 {
			order = make([]int32, n)
			for j := range order {
				order[j] = -int32(rng.IntN(2))
			}
		}
		var table []byte
		if rng.IntN(2) == 0 {
			table = drawSlice[uint8](rng, 256*n, false)
		}
		signed := rng.IntN(2) == 0
		var a, b []float32 // table's affine estimate, for some tables
		if table != nil && rng.IntN(2) == 0 {
			table, a, b = bnTable(rng, n, signed)
		}
		zp, floor := int32(rng.IntN(256)), int32(-1<<31)
		lo := int32(0)
		if signed {
			zp -= 128
			lo = -128
		}
		if rng.IntN(2) == 0 {
			floor = zp
		}
		// The reference: the three steps.
		pooled := make([]int32, pixels*n)
		maxPool(false, w, pixels, n, acc, ldc, order, pooled, n)
		want := make([]byte, pixels*n)
		requantizeFloor(false, pixels, n, want, n, pooled, n, bias, scale, zp, max(lo, floor), signed)
		if table != nil {
			for i, v := range want {
				want[i] = table[(i%n)<<8|int(v)]
			}
		}
		var e *Epilogue
		var err error
		if signed {
			e, err = NewEpilogue(n, bias, scale, int8(zp), int8(max(lo, floor)), order, table)
		} else {
			e, err = NewEpilogue(n, bias, scale, uint8(zp), uint8(max(lo, floor)), order, table)
		}
		if err != nil {
			t.Fatal(err)
		}
		if table != nil {
			took := e.Affine(a, b)
			if a != nil {
				affineTried++
				if took {
					affineTaken++
				}
			} else if took {
				t.Fatalf("trial %d: Affine took a random table", trial)
			}
		}
		for _, vec := range epilogues() {
			for _, zmm := range zmmEpilogues(vec) {
				got := make([]byte, pixels*ldd)
				epilogue512, zmm = zmm, epilogue512
				e.run(vec, w, pixels, acc, ldc, got, ldd)
				epilogue512, zmm = zmm, epilogue512
				for px := range pixels {
					for j := range n {
						if g, x := got[px*ldd+j], want[px*n+j]; g != x {
							t.Fatalf("trial %d, %s (zmm %v): %+v, %d columns, signed %v, table %v (affine %v), order %v, floor %d: [%d,%d] = %d, want %d",
								trial, epilogueName(vec), zmm, w, n, signed, table != nil, e.affine, order != nil, floor, px, j, g, x)
						}
					}
				}
			}
		}
		if err := e.Run(w, pixels, acc, ldc, make([]byte, pixels*ldd), ldd); err != nil {
			t.Fatal(err)
		}
	}
	// The tables of a BatchNormalization between quantizations are
	// affine maps rounded: most epilogues' vector code computes them.
	if affineTried < 30 || affineTaken*10 < affineTried*9 {
		t.Errorf("Affine took %d of %d BatchNormalization tables", affineTaken, affineTried)
	}
	if _, err := NewEpilogue[uint8](4, nil, []float32{1, 2}, 0, 0, nil, nil); err == nil {
		t.Error("NewEpilogue: 2 multipliers for 4 columns accepted")
	}
}

// zmmEpilogues is the widths the vector epilogue runs in on this CPU:
// AVX2's ymm registers, and zmm where the CPU has AVX-512.
func zmmEpilogues(vec bool) []bool {
	if vec && epilogue512 {
		return []bool{false, true}
	}
	return []bool{false}
}

// bnTable draws n columns' tables of a BatchNormalization between two
// quantizations, as the backend computes them (dequantized, scaled and
// shifted, divided by the output's scale, rounded, clamped), and their
// affine estimates for Epilogue.Affine.
func bnTable(rng *rand.Rand, n int, signed bool) (table []byte, a, b []float32) {
	lo, hi := int32(0), int32(255)
	if signed {
		lo, hi = -128, 127
	}
	scale := func() float32 { return float32(math.Exp2(-rng.Float64()*8)) * (1 + rng.Float32()) }
	sx, sy := scale(), scale()
	zx, zy := lo+int32(rng.IntN(256)), lo+int32(rng.IntN(256))
	table, a, b = make([]byte, 256*n), make([]float32, n), make([]float32, n)
	for j := range n {
		g, s := (rng.Float32()*2-1)*3, (rng.Float32()*2-1)*sy*100
		a[j] = float32(float64(sx) * float64(g) / float64(sy))
		b[j] = float32((float64(s)-float64(zx)*float64(sx)*float64(g))/float64(sy) + float64(zy))
		for v := range 256 {
			q := int32(v)
			if signed {
				q = int32(int8(v))
			}
			x := float32(q-zx) * sx
			f := float32(float32(x*g)+s) / sy
			y := min(max(int32(math.RoundToEven(float64(f)))+zy, lo), hi)
			table[256*j+v] = byte(y)
		}
	}
	return table, a, b
}
