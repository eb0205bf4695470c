//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

func k(name string, mr, nr, kc, mc, nc int, run func(k int, a, b, c []float32, ldc int, alpha, beta float32)) *kernel {
	return &kernel{name: name, mr: mr, nr: nr, kc: kc, mc: mc, nc: nc, run: run}
}

// The kernels' tiles and blocks were picked by measuring LeNet's products
// (BenchmarkKernel) on an AMD EPYC (Zen 5); the wide kernels serve most
// shapes, the narrow ones products with few columns.
var avx2Kernels = &kernelSet{
	name: "avx2",
	kernels: []*kernel{
		k("avx2-6x16", 6, 16, 256, 120, 4096, runAVX2_6x16),
		k("avx2-12x8", 12, 8, 256, 120, 4096, runAVX2_12x8),
		k("avx2-4x24", 4, 24, 256, 120, 4096, runAVX2_4x24),
	},
}

var avx512Kernels = &kernelSet{
	name: "avx512",
	kernels: []*kernel{
		k("avx512-8x32", 8, 32, 256, 128, 4096, runAVX512_8x32),
		k("avx512-16x16", 16, 16, 256, 128, 4096, runAVX512_16x16),
		k("avx512-12x32", 12, 32, 256, 120, 4096, runAVX512_12x32),
		k("avx512-14x32", 14, 32, 256, 126, 4096, runAVX512_14x32),
		k("avx512-6x64", 6, 64, 256, 120, 4096, runAVX512_6x64),
		k("avx512-8x48", 8, 48, 256, 128, 4096, runAVX512_8x48),
		k("avx512-24x16", 24, 16, 256, 120, 4096, runAVX512_24x16),
		k("avx512-28x16", 28, 16, 256, 112, 4096, runAVX512_28x16),
	},
}

// pickWideOrNarrow returns a function that picks the narrow kernel over the
// wide one when padding n to the wide kernel's tiles would waste more than
// the narrow kernel loses by its lower speed (a tenth).
func pickWideOrNarrow(wide, narrow *kernel) func(m, n int) *kernel {
	return func(m, n int) *kernel {
		if 10*roundUp(n, narrow.nr) < 9*roundUp(n, wide.nr) {
			return narrow
		}
		return wide
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

// copyAsm does copyPanel for w a multiple of eight.
func copyAsm(w, kb int, src []float32, ld int, dst []float32) bool {
	if w%8 != 0 || kb == 0 {
		return false
	}
	_ = src[(kb-1)*ld+w-1]
	_ = dst[kb*w-1]
	copyAVX2(w, kb, &src[0], ld, &dst[0])
	return true
}

func init() {
	for _, ks := range []*kernelSet{avx2Kernels, avx512Kernels} {
		ks.transpose, ks.copy = transposeAsm, copyAsm
	}
	avx2Kernels.pick = pickWideOrNarrow(avx2Kernels.kernels[0], avx2Kernels.kernels[1])
	avx512Kernels.pick = pickWideOrNarrow(avx512Kernels.kernels[0], avx512Kernels.kernels[1])
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		asmKernels = append(asmKernels, avx2Kernels)
		defaultKernels = avx2Kernels
	}
	if cpu.X86.HasAVX512F {
		asmKernels = append([]*kernelSet{avx512Kernels}, asmKernels...)
		defaultKernels = avx512Kernels
	}
}

// defaultKernels is what Sgemm uses.
var defaultKernels = goKernels

// asmKernels lists the assembly kernel sets this CPU can run, best first.
var asmKernels []*kernelSet
