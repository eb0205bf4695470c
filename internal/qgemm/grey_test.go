package qgemm

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestGrey3x3Pool2: the fused convolution, pooling and epilogue give
// Epilogue.Run's bytes on the sums of a direct convolution, every form
// (plain, table computed by its affine map, uint8 and int8 outputs,
// orders), on the vector kernels where they run and in Go.
func TestGrey3x3Pool2(t *testing.T) {
	for _, k := range []struct {
		name       string
		vnni, avx2 bool
	}{{"avx512vnni", true, false}, {"avx2", false, true}, {"go", false, false}} {
		if k.vnni && !greyVNNI || k.avx2 && !greyAVX2 {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			vnni, avx2 := greyVNNI, greyAVX2
			greyVNNI, greyAVX2 = k.vnni, k.avx2
			defer func() { greyVNNI, greyAVX2 = vnni, avx2 }()
			vec := k.vnni || k.avx2
			if e, _ := NewEpilogue(32, nil, []float32{1}, uint8(0), uint8(0), nil, nil); e.GreyFast() != vec || vec && e.GreyKernel() != "grey3x3-"+k.name {
				t.Fatalf("GreyFast %v, kernel %q", e.GreyFast(), e.GreyKernel())
			}
			testGrey(t, vec)
		})
	}
}

func testGrey(t *testing.T, vec bool) {
	rng := rand.New(rand.NewPCG(31, 32))
	for trial := range 40 {
		n := 32 * (1 + rng.IntN(2))
		rows, cols := 1+rng.IntN(9), 1+rng.IntN(9)
		pitch := 2*cols + 2 + rng.IntN(4) // the seed's: 2*cols+2, the fourth byte the next row's
		img, w, g := randomGrey(t, rng, n, rows, pitch)
		bias := make([]int32, n)
		scale := make([]float32, n)
		for j := range n {
			bias[j] = rng.Int32N(1<<18) - 1<<17
			scale[j] = float32(rng.Float64()*1e-3 + 1e-5)
		}
		var order []int32
		if trial%2 == 0 {
			order = make([]int32, n)
			for j := range order {
				order[j] = -int32(rng.IntN(2))
			}
		}
		signed := trial%4 >= 2
		var table []byte
		var a, b []float32
		if trial%3 != 0 {
			table, a, b = bnTable(rng, n, signed)
		}
		zp := int32(rng.IntN(256))
		var e *Epilogue
		var err error
		if signed {
			e, err = NewEpilogue(n, bias, scale, int8(zp-128), int8(zp-128), order, table)
		} else {
			e, err = NewEpilogue(n, bias, scale, uint8(zp), uint8(zp), order, table)
		}
		if err != nil {
			t.Fatal(err)
		}
		affine := table != nil && e.Affine(a, b)
		// The reference: the sums of the whole map, then Run on them.
		oh, ow := 2*rows, 2*cols
		acc := make([]int32, oh*ow*n)
		for y := range oh {
			for x := range ow {
				for o := range n {
					var s int32
					for ky := range 3 {
						for kx := range 3 {
							s += int32(img[(y+ky)*pitch+x+kx]) * int32(w[o*9+ky*3+kx])
						}
					}
					acc[(y*ow+x)*n+o] = s
				}
			}
		}
		want := make([]byte, rows*cols*n)
		for py := range rows {
			if err := e.Run(Window{KH: 2, KW: 2, SH: 2, SW: 2, Width: ow}, cols, acc[2*py*ow*n:], n, want[py*cols*n:], n); err != nil {
				t.Fatal(err)
			}
		}
		got := make([]byte, len(want)+16)
		if err := e.Grey3x3Pool2(g, img, pitch, rows, cols, got, n); err != nil {
			t.Fatal(err)
		}
		if vec && e.GreyFast() != (table == nil || affine) {
			t.Errorf("trial %d: GreyFast %v with a table %v, affine %v", trial, e.GreyFast(), table != nil, affine)
		}
		if !bytes.Equal(got[:len(want)], want) || !bytes.Equal(got[len(want):], make([]byte, 16)) {
			t.Fatalf("trial %d (%d outputs, %dx%d pooled, signed %v, order %v, table %v, affine %v, vector %v): outputs differ from Run's",
				trial, n, rows, cols, signed, order != nil, table != nil, affine, e.GreyFast())
		}
	}
	e, _ := NewEpilogue(32, nil, []float32{1}, uint8(0), uint8(0), nil, nil)
	g, _ := NewGrey3x3(32, make([]int8, 9*32))
	if err := e.Grey3x3Pool2(g, make([]byte, 10), 5, 2, 2, make([]byte, 200), 32); err == nil {
		t.Error("a short image: no error")
	}
}

// BenchmarkGrey3x3Pool2 times the seed's first layer, one image: a 3x3
// convolution of a padded 32x32 grey image to 32 outputs, pooled 2x2,
// requantized through the BatchNorm's affine table.
func BenchmarkGrey3x3Pool2(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, rows, cols, pitch = 32, 16, 16, 34
	img, _, g := randomGrey(b, rng, n, rows, pitch)
	table, ta, tb := bnTable(rng, n, false)
	e, err := NewEpilogue(n, make([]int32, n), []float32{1e-3}, uint8(3), uint8(3), nil, table)
	if err != nil || !e.Affine(ta, tb) {
		b.Fatal("no affine epilogue", err)
	}
	dst := make([]byte, rows*cols*n)
	b.Logf("kernel %s", e.GreyKernel())
	for b.Loop() {
		if err := e.Grey3x3Pool2(g, img, pitch, rows, cols, dst, n); err != nil {
			b.Fatal(err)
		}
	}
}

// randomGrey is a random padded grey image of rows pooled rows of pitch
// bytes (and the byte past its last), and random weights of a 3x3
// convolution to n outputs, packed.
func randomGrey(tb testing.TB, rng *rand.Rand, n, rows, pitch int) ([]byte, []int8, *Grey3x3) {
	tb.Helper()
	img := make([]byte, (2*rows+2)*pitch+1)
	for i := range img {
		img[i] = byte(rng.IntN(256))
	}
	w := make([]int8, 9*n)
	for i := range w {
		w[i] = int8(rng.IntN(256) - 128)
	}
	g, err := NewGrey3x3(n, w)
	if err != nil {
		tb.Fatal(err)
	}
	return img, w, g
}
