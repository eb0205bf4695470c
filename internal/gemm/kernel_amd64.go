//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

func k(name string, mr, nr, kc, mc, nc int, run func(k int, a, b, c []float32, ldc int, alpha, beta float32)) *kernel {
	return &kernel{name: name, mr: mr, nr: nr, kc: kc, mc: mc, nc: nc, run: run}
}

var avx2Kernels = &kernelSet{
	name: "avx2",
	kernels: []*kernel{
		k("avx2-6x16", 6, 16, 256, 120, 4096, runAVX2_6x16),
		k("avx2-4x24", 4, 24, 256, 120, 4096, runAVX2_4x24),
		k("avx2-12x8", 12, 8, 256, 120, 4096, runAVX2_12x8),
	},
}

var avx512Kernels = &kernelSet{
	name: "avx512",
	kernels: []*kernel{
		k("avx512-12x32", 12, 32, 256, 120, 4096, runAVX512_12x32),
		k("avx512-14x32", 14, 32, 256, 126, 4096, runAVX512_14x32),
		k("avx512-8x32", 8, 32, 256, 128, 4096, runAVX512_8x32),
		k("avx512-6x64", 6, 64, 256, 120, 4096, runAVX512_6x64),
		k("avx512-8x48", 8, 48, 256, 128, 4096, runAVX512_8x48),
		k("avx512-24x16", 24, 16, 256, 120, 4096, runAVX512_24x16),
		k("avx512-28x16", 28, 16, 256, 112, 4096, runAVX512_28x16),
		k("avx512-16x16", 16, 16, 256, 128, 4096, runAVX512_16x16),
	},
}

func init() {
	avx2Kernels.pick = func(m, n int) *kernel { return avx2Kernels.kernels[0] }
	avx512Kernels.pick = func(m, n int) *kernel { return avx512Kernels.kernels[0] }
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
