//go:build amd64 && !purego

package winograd

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// The kernels this CPU runs; tests clear them to compare the others.
var (
	useAVX512 = cpu.X86.HasAVX512F
	useAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// maxGroup is the most tiles a products kernel computes at a time.
const maxGroup = 8

var (
	avx512Kernels = &kernels{name: "avx512", input: input512, products: products512, output: output512, outputPool: outputPool512}
	avx2Kernels   = &kernels{name: "avx2", input: input2, products: products2, output: output2, outputPool: outputPool2}
)

type productsKernel = func(m *float32, mstride int, v *float32, vstride int, u *float32, c, k int)

var (
	productsBy512 = [maxGroup]productsKernel{
		products1AVX512, products2AVX512, products3AVX512, products4AVX512,
		products5AVX512, products6AVX512, products7AVX512, products8AVX512,
	}
	productsBy2 = [maxGroup]productsKernel{
		products1AVX2, products2AVX2, products3AVX2, products4AVX2,
		products5AVX2, products6AVX2, products7AVX2, products8AVX2,
	}
)

// kernelsFor is the best kernel set for c: AVX-512's vectors of 16
// channels where In and Out are multiples of 16.
func kernelsFor(c Conv) *kernels {
	switch {
	case useAVX512 && c.In%16 == 0 && c.Out%16 == 0:
		return avx512Kernels
	case useAVX2:
		return avx2Kernels
	}
	return goKernels
}

func input512(v []float32, vstride int, x []float32, ldx, c, tiles int, tmp []float32) {
	inputAVX512(&v[0], vstride, &x[0], ldx, c, tiles, &tmp[0])
}

func input2(v []float32, vstride int, x []float32, ldx, c, tiles int, tmp []float32) {
	inputAVX2(&v[0], vstride, &x[0], ldx, c, tiles, &tmp[0])
}

// wideGroup and wideVectors: the products kernels of a few tiles take
// four vectors of outputs at a time.
const (
	wideGroup   = 2
	wideVectors = 4
)

var (
	wideBy512 = [wideGroup]productsKernel{products1x4AVX512, products2x4AVX512}
	wideBy2   = [wideGroup]productsKernel{products1x4AVX2, products2x4AVX2}
)

func products512(m []float32, mstride int, v []float32, vstride int, u []float32, c, k, tiles int) {
	if tiles <= wideGroup && k%(wideVectors*16) == 0 {
		wideBy512[tiles-1](&m[0], mstride, &v[0], vstride, &u[0], c, k)
		return
	}
	products(&productsBy512, m, mstride, v, vstride, u, c, k, tiles)
}

func products2(m []float32, mstride int, v []float32, vstride int, u []float32, c, k, tiles int) {
	if tiles <= wideGroup && k%(wideVectors*8) == 0 {
		wideBy2[tiles-1](&m[0], mstride, &v[0], vstride, &u[0], c, k)
		return
	}
	products(&productsBy2, m, mstride, v, vstride, u, c, k, tiles)
}

// products runs the kernels over groups of tiles as even as maxGroup
// allows (49 as 7 of 7, not 6 of 8 and a 1).
func products(by *[maxGroup]productsKernel, m []float32, mstride int, v []float32, vstride int, u []float32, c, k, tiles int) {
	n := (tiles + maxGroup - 1) / maxGroup
	group := (tiles + n - 1) / n
	for t := 0; t < tiles; t += group {
		g := min(group, tiles-t)
		by[g-1](&m[t*k], mstride, &v[t*c], vstride, &u[0], c, k)
	}
}

func output512(y []float32, ldy int, m []float32, mstride, k, tiles int, bias, res []float32, rows, lastCols int, relu bool, tmp []float32) {
	outputAVX512(&y[0], ldy, &m[0], mstride, k, tiles, &bias[0], first(res), rows, lastCols, flag(relu), &tmp[0])
}

func output2(y []float32, ldy int, m []float32, mstride, k, tiles int, bias, res []float32, rows, lastCols int, relu bool, tmp []float32) {
	outputAVX2(&y[0], ldy, &m[0], mstride, k, tiles, &bias[0], first(res), rows, lastCols, flag(relu), &tmp[0])
}

func outputPool512(y []float32, ldy int, m []float32, mstride, k, tiles int, bias, scale, shift []float32, pool, rows, lastCols int, relu bool, tmp []float32) {
	kern := outputPool2AVX512
	if pool == 4 {
		kern = outputPool4AVX512
	}
	kern(&y[0], ldy, &m[0], mstride, k, tiles, &bias[0], first(scale), first(shift), rows, lastCols, flag(relu), &tmp[0])
}

func outputPool2(y []float32, ldy int, m []float32, mstride, k, tiles int, bias, scale, shift []float32, pool, rows, lastCols int, relu bool, tmp []float32) {
	kern := outputPool2AVX2
	if pool == 4 {
		kern = outputPool4AVX2
	}
	kern(&y[0], ldy, &m[0], mstride, k, tiles, &bias[0], first(scale), first(shift), rows, lastCols, flag(relu), &tmp[0])
}

// first is the address of s's first element, nil for none.
func first(s []float32) *float32 {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Kernel names the kernels c runs on, for benchmarks and reports.
func (c Conv) Kernel() string { return kernelsFor(c).name }

// useVNNI: the int kernels (IntConv) take AVX-512 with VNNI's VPDPWSSD.
var useVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI

var vnniKernels = &intKernels{name: "avx512vnni", input: intInput512, products: intProducts512, output: intOutput512, outputPool: intOutputPool512}

var avx2IntKernels = &intKernels{name: "avx2", input: intInput2, products: intProducts2, output: intOutput2, outputPool: intOutputPool2}

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

// maxIntGroup is the most tiles an int products kernel computes at a
// time.
const maxIntGroup = 8

type intProductsKernel = func(m *int32, mstride int, v *int16, vstride int, u *int16, c, k int)

// intProductsBy are the kernels by vectors of outputs at a time (1, 2)
// and tiles.
var intProductsBy = [2][maxIntGroup]intProductsKernel{
	{intProducts1x1AVX512, intProducts2x1AVX512, intProducts3x1AVX512, intProducts4x1AVX512,
		intProducts5x1AVX512, intProducts6x1AVX512, intProducts7x1AVX512, intProducts8x1AVX512},
	{intProducts1x2AVX512, intProducts2x2AVX512, intProducts3x2AVX512, intProducts4x2AVX512,
		intProducts5x2AVX512, intProducts6x2AVX512, intProducts7x2AVX512, intProducts8x2AVX512},
}

// intProducts512 takes two vectors of outputs at a time where k allows.
func intProducts512(m []int32, mstride int, v []int16, vstride int, u []int16, c, k, tiles int) {
	if k%32 == 0 {
		intProducts(intProductsBy[1][:], m, mstride, v, vstride, u, c, k, tiles)
		return
	}
	intProducts(intProductsBy[0][:], m, mstride, v, vstride, u, c, k, tiles)
}

// intGroupsAVX2 is the most tiles AVX2's int products kernels of two
// vectors of outputs take.
const intGroupsAVX2 = 6

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

func intOutputPool2(y []int32, ldy int, m []int32, mstride, k, tiles int, order []int32, pool, rows, lastCols int, tmp []int32) {
	kern := intOutputPool2AVX2
	if pool == 4 {
		kern = intOutputPool4AVX2
	}
	var ord *int32
	if order != nil {
		ord = &order[0]
	}
	kern(&y[0], ldy, &m[0], mstride, k, tiles, ord, rows, lastCols, &tmp[0])
}

func intOutput512(y []int32, ldy int, m []int32, mstride, k, tiles, rows, lastCols int, tmp []int32) {
	intOutputAVX512(&y[0], ldy, &m[0], mstride, k, tiles, rows, lastCols, &tmp[0])
}

// Kernel names the kernels c runs on, for benchmarks and reports.
func (c IntConv) Kernel() string { return intKernelsFor(c).name }

// Fast reports whether c's kernels are faster than the direct ones: not
// in Go, nor AVX2's where AVX-VNNI runs the direct ones (VPDPBUSD on
// ymm does as many multiply-adds an instruction as AVX2's VPMADDWD on a
// quarter of the multiplies, and the transforms cost more; measured on
// no such CPU yet).
func (c IntConv) Fast() bool {
	k := intKernelsFor(c)
	return k == vnniKernels || k == avx2IntKernels && !cpu.X86.HasAVXVNNI
}

func intOutputPool512(y []int32, ldy int, m []int32, mstride, k, tiles int, order []int32, pool, rows, lastCols int, tmp []int32) {
	kern := intOutputPool2AVX512
	if pool == 4 {
		kern = intOutputPool4AVX512
	}
	var ord *int32
	if order != nil {
		ord = &order[0]
	}
	kern(&y[0], ldy, &m[0], mstride, k, tiles, ord, rows, lastCols, &tmp[0])
}
