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
