//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// The tiles were picked by measuring LeNet's products (BenchmarkKernel) on
// an AMD EPYC (Zen 5): the wide kernel serves most shapes, the narrow one
// products with few columns. The blocks hardly mattered there.
var (
	avx2Kernels = newAsmKernelSet("avx2",
		asmKernel("avx2-6x16", 6, 16, runAVX2_6x16),
		asmKernel("avx2-12x8", 12, 8, runAVX2_12x8),
		&shiftedKernel{mr: 4, nr: 16, run: runShiftedAVX2_4x16},
		asmKernel("avx2-1x16", 1, 16, runAVX2_1x16),
		asmKernel("avx2-1x8", 1, 8, runAVX2_1x8))
	avx512Kernels = newAsmKernelSet("avx512",
		asmKernel("avx512-8x32", 8, 32, runAVX512_8x32),
		asmKernel("avx512-16x16", 16, 16, runAVX512_16x16),
		&shiftedKernel{mr: 8, nr: 32, run: runShiftedAVX512_8x32},
		asmKernel("avx512-1x32", 1, 32, runAVX512_1x32),
		asmKernel("avx512-1x16", 1, 16, runAVX512_1x16))
)

// The gemv kernels, one for each set (gen_amd64.go says how they were
// picked).
var (
	avx2Gemv   = &gemvSet{name: "avx2", run: runGemvAVX2}
	avx512Gemv = &gemvSet{name: "avx512", run: runGemvAVX512}
)

// defaultKernels is what Sgemm uses.
var defaultKernels = goKernels

// asmKernels lists the assembly kernel sets this CPU can run, best first.
var asmKernels []*kernelSet

// defaultGemv is what GemvT uses; asmGemv lists the assembly gemv
// sets this CPU can run, best first.
var (
	defaultGemv = goGemv
	asmGemv     []*gemvSet
)

func init() {
	// The packing routines of both sets need AVX2 too.
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return
	}
	asmKernels = append(asmKernels, avx2Kernels)
	asmGemv = append(asmGemv, avx2Gemv)
	if cpu.X86.HasAVX512F {
		asmKernels = append([]*kernelSet{avx512Kernels}, asmKernels...)
		asmGemv = append([]*gemvSet{avx512Gemv}, asmGemv...)
	}
	defaultKernels = asmKernels[0]
	defaultGemv = asmGemv[0]
}

func asmKernel(name string, mr, nr int, run func(k int, a, b, c []float32, ldc int, alpha, beta float32)) *kernel {
	return &kernel{name: name, mr: mr, nr: nr, kc: 256, mc: 128 / mr * mr, nc: 4096, run: run}
}

// newAsmKernelSet returns the set of a wide and a narrow kernel, which
// picks the narrow one when padding n to the wide one's tiles would waste
// more than the narrow one loses by its lower speed (about a tenth), and
// Shifted's kernel.
func newAsmKernelSet(name string, wide, narrow *kernel, shifted *shiftedKernel, rows ...*kernel) *kernelSet {
	return &kernelSet{
		rows:    rows,
		name:    name,
		kernels: []*kernel{wide, narrow},
		pick: func(m, n int) *kernel {
			if 10*roundUp(n, narrow.nr) < 9*roundUp(n, wide.nr) {
				return narrow
			}
			return wide
		},
		transpose: transposeAsm,
		copy:      copyAsm,
		shifted:   shifted,
	}
}

// transposeAsm does the leading even number of rows and multiple of eight
// columns of a transposePanel.
func transposeAsm(n, w, kb int, src []float32, ld int, dst []float32) (rows, cols int) {
	rows, cols = n&^1, kb&^7
	if rows == 0 || cols == 0 {
		return 0, 0
	}
	_ = src[(rows-1)*ld+cols-1]
	_ = dst[(cols-1)*w+rows-1]
	transposeAVX2(rows, w, cols, &src[0], ld, &dst[0])
	return rows, cols
}

// copyAsm does copyPanel for n == w.
func copyAsm(w, kb int, src []float32, ld int, dst []float32) bool {
	if kb == 0 {
		return true
	}
	_ = src[(kb-1)*ld+w-1]
	_ = dst[kb*w-1]
	copyAVX2(w, kb, &src[0], ld, &dst[0])
	return true
}
