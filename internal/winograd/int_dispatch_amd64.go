//go:build amd64 && !purego

package winograd

import "golang.org/x/sys/cpu"

// The int kernels' (IntConv) dispatch: AVX-512 with VNNI, else AVX2.

// useVNNI: the int kernels (IntConv) take AVX-512 with VNNI's VPDPWSSD.
var useVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI

var (
	vnniKernels = &intKernels{name: "avx512vnni", input: intInput512, products: intProducts512, output: intOutput512,
		outputPool: intOutputPool(intOutputPool2AVX512, intOutputPool4AVX512)}
	avx2IntKernels = &intKernels{name: "avx2", input: intInput2, products: intProducts2, output: intOutput2,
		outputPool: intOutputPool(intOutputPool2AVX2, intOutputPool4AVX2)}
)

func intKernelsFor(c IntConv) *intKernels {
	switch {
	case c.In%16 != 0 || c.Out%16 != 0:
	case useVNNI:
		return vnniKernels
	case useAVX2:
		return avx2IntKernels
	}
	return intGoKernels
}

// useBW: the input transform takes 32 channels at a time in int16 lanes
// (AVX512BW's word instructions) where In is a multiple of 32.
var useBW = cpu.X86.HasAVX512BW

func intInput512(v []int16, vstride int, x []byte, ldx, c, tiles int, zx, flip byte, tmp []int32) {
	kern, z36 := intInput16AVX512, 36*int(zx)
	if flip != 0 {
		kern, z36 = intInput16SignedAVX512, 36*int(int8(zx))
	}
	if useBW && c%32 == 0 {
		kern = map[bool]func(*int16, int, *byte, int, int, int, int, *int32){false: intInput32AVX512, true: intInput32SignedAVX512}[flip != 0]
	}
	kern(&v[0], vstride, &x[0], ldx, c, tiles, z36, &tmp[0])
}

type intProductsKernel = func(m *int32, mstride int, v *int16, vstride int, u *int16, c, k int)

// intProductsBy are the kernels by vectors of outputs at a time (1, 2)
// and tiles: entry g-1 takes g tiles, as many as the generator wrote.
var intProductsBy = [2][]intProductsKernel{
	{intProducts1x1AVX512, intProducts2x1AVX512, intProducts3x1AVX512, intProducts4x1AVX512,
		intProducts5x1AVX512, intProducts6x1AVX512, intProducts7x1AVX512, intProducts8x1AVX512},
	{intProducts1x2AVX512, intProducts2x2AVX512, intProducts3x2AVX512, intProducts4x2AVX512,
		intProducts5x2AVX512, intProducts6x2AVX512, intProducts7x2AVX512, intProducts8x2AVX512},
}

// intProducts512 takes two vectors of outputs at a time where k allows.
func intProducts512(m []int32, mstride int, v []int16, vstride int, u []int16, c, k, tiles int) {
	if k%32 == 0 {
		intProducts(intProductsBy[1], m, mstride, v, vstride, u, c, k, tiles)
		return
	}
	intProducts(intProductsBy[0][:], m, mstride, v, vstride, u, c, k, tiles)
}

// intProductsBy2 are AVX2's kernels by vectors of outputs (1, 2) and
// tiles.
var intProductsBy2 = [2][]intProductsKernel{
	{intProducts1x1AVX2, intProducts2x1AVX2, intProducts3x1AVX2, intProducts4x1AVX2,
		intProducts5x1AVX2, intProducts6x1AVX2, intProducts7x1AVX2, intProducts8x1AVX2},
	{intProducts1x2AVX2, intProducts2x2AVX2, intProducts3x2AVX2, intProducts4x2AVX2,
		intProducts5x2AVX2, intProducts6x2AVX2},
}

func intProducts2(m []int32, mstride int, v []int16, vstride int, u []int16, c, k, tiles int) {
	if k%16 == 0 {
		intProducts(intProductsBy2[1], m, mstride, v, vstride, u, c, k, tiles)
		return
	}
	intProducts(intProductsBy2[0], m, mstride, v, vstride, u, c, k, tiles)
}

// intProducts runs the kernels by (by[g-1] takes g tiles) over groups of
// tiles as even as len(by) allows.
func intProducts(by []intProductsKernel, m []int32, mstride int, v []int16, vstride int, u []int16, c, k, tiles int) {
	most := len(by)
	n := (tiles + most - 1) / most
	group := (tiles + n - 1) / n
	for t := 0; t < tiles; t += group {
		g := min(group, tiles-t)
		by[g-1](&m[t*k], mstride, &v[t*c], vstride, &u[0], c, k)
	}
}

func intInput2(v []int16, vstride int, x []byte, ldx, c, tiles int, zx, flip byte, tmp []int32) {
	if flip != 0 {
		intInput16SignedAVX2(&v[0], vstride, &x[0], ldx, c, tiles, 36*int(int8(zx)), &tmp[0])
		return
	}
	intInput16AVX2(&v[0], vstride, &x[0], ldx, c, tiles, 36*int(zx), &tmp[0])
}

func intOutput2(y []int32, ldy int, m []int32, mstride, k, tiles, rows, lastCols int, tmp []int32) {
	intOutputAVX2(&y[0], ldy, &m[0], mstride, k, tiles, rows, lastCols, &tmp[0])
}

func intOutput512(y []int32, ldy int, m []int32, mstride, k, tiles, rows, lastCols int, tmp []int32) {
	intOutputAVX512(&y[0], ldy, &m[0], mstride, k, tiles, rows, lastCols, &tmp[0])
}

// Kernel names the kernels c runs on, for benchmarks and reports.
func (c IntConv) Kernel() string { return intKernelsFor(c).name }

// Fast reports whether c's kernels are faster than the direct ones: not
// in Go. AVX2's are, also where AVX-VNNI runs the direct ones: on an
// Intel Xeon with AVX-512 switched off (GODEBUG), its AVX-VNNI kept, the
// seed's int8 network ran 50,170 images/s at batch 128 with them against
// 37,385 with the direct VPDPBUSD kernels, though those do as many
// multiply-adds an instruction as VPMADDWD on a quarter of the multiplies.
func (c IntConv) Fast() bool {
	k := intKernelsFor(c)
	return k == vnniKernels || k == avx2IntKernels
}

type intOutputPoolKernel = func(y *int32, ldy int, m *int32, mstride, k, tiles int, order *int32, rows, lastCols int, tmp *int32)

// intOutputPool is intKernels.outputPool by the kernels of 2x2 and 4x4
// windows.
func intOutputPool(pool2, pool4 intOutputPoolKernel) func(y []int32, ldy int, m []int32, mstride, k, tiles int, order []int32, pool, rows, lastCols int, tmp []int32) {
	return func(y []int32, ldy int, m []int32, mstride, k, tiles int, order []int32, pool, rows, lastCols int, tmp []int32) {
		kern := pool2
		if pool == 4 {
			kern = pool4
		}
		var ord *int32
		if order != nil {
			ord = &order[0]
		}
		kern(&y[0], ldy, &m[0], mstride, k, tiles, ord, rows, lastCols, &tmp[0])
	}
}
