//go:build amd64 && !purego

package qgemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

var (
	vnni512Kernels = newKernelSet("avx512vnni", 4,
		asmKernel("avx512vnni-8x32", 8, 32, runVNNI512_8x32),
		asmKernel("avx512vnni-16x16", 16, 16, runVNNI512_16x16))
	avxVNNIKernels = newKernelSet("avxvnni", 4,
		asmKernel("avxvnni-6x16", 6, 16, runAVXVNNI_6x16),
		asmKernel("avxvnni-12x8", 12, 8, runAVXVNNI_12x8))
	// vnniVLKernels are avxVNNIKernels with VPDPBUSD in its EVEX encoding:
	// CPUs with AVX-512 run the AVX-VNNI kernels' code through them. They
	// are never the default (avx512vnni is, there) but are tested and
	// benchmarked.
	vnniVLKernels = newKernelSet("avx512vnni-ymm", 4,
		asmKernel("avx512vnni-ymm-6x16", 6, 16, runVNNIVL_6x16),
		asmKernel("avx512vnni-ymm-12x8", 12, 8, runVNNIVL_12x8))
	avx2Kernels = newKernelSet("avx2", 2,
		asmKernel("avx2-6x16", 6, 16, runAVX2_6x16),
		asmKernel("avx2-12x8", 12, 8, runAVX2_12x8))
)

func asmKernel(name string, mr, nr int, run func(groups int, a, b []byte, c []int32, ldc int, rowSum, negZB, colTerm []int32)) *kernel {
	return &kernel{name: name, mr: mr, nr: nr, run: run}
}

// defaultKernels is what PackB packs for.
var defaultKernels = goKernels

// asmKernels lists the assembly kernel sets this CPU can run, best first.
var asmKernels []*kernelSet

// vectorEpilogue reports whether requantRowAsm and dequantRowAsm run:
// whether the CPU has AVX2.
var vectorEpilogue bool

func init() {
	// Every set's kernels use AVX2 besides their own instructions.
	if !cpu.X86.HasAVX2 {
		return
	}
	vectorEpilogue = true
	asmKernels = append(asmKernels, avx2Kernels)
	if cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL {
		asmKernels = append([]*kernelSet{vnniVLKernels}, asmKernels...)
	}
	if cpu.X86.HasAVXVNNI {
		asmKernels = append([]*kernelSet{avxVNNIKernels}, asmKernels...)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI {
		asmKernels = append([]*kernelSet{vnni512Kernels}, asmKernels...)
	}
	defaultKernels = asmKernels[0]
}

// requantRowAsm does requantRow's leading multiple of 16 columns with
// AVX2 and returns how many it did. scale has 16 copies of the per-tensor
// scale when not perColumn.
func requantRowAsm(dst []byte, acc, bias []int32, scale []float32, perColumn bool, lo, hi float32, zp int32, signed bool) int {
	n := len(dst) &^ 15
	if n == 0 {
		return 0
	}
	_ = acc[n-1]
	bp, bstep, sp, sstep := steps(n, bias, scale, perColumn)
	if signed {
		requantS8AVX2(n, &acc[0], bp, bstep, sp, sstep, &dst[0], lo, hi, zp)
	} else {
		requantU8AVX2(n, &acc[0], bp, bstep, sp, sstep, &dst[0], lo, hi, zp)
	}
	return n
}

// dequantRowAsm is requantRowAsm for dequantRow.
func dequantRowAsm(dst []float32, acc, bias []int32, scale []float32, perColumn bool) int {
	n := len(dst) &^ 15
	if n == 0 {
		return 0
	}
	_ = acc[n-1]
	bp, bstep, sp, sstep := steps(n, bias, scale, perColumn)
	dequantAVX2(n, &acc[0], bp, bstep, sp, sstep, &dst[0])
	return n
}

// zeros16 stands in for a nil bias, read again every 16 columns.
var zeros16 [16]int32

// steps returns the pointers and byte steps per 16 columns, of n, for bias
// (nil: zeros) and scale (not perColumn: 16 copies, read again).
func steps(n int, bias []int32, scale []float32, perColumn bool) (*int32, int, *float32, int) {
	bp, bstep := &zeros16[0], 0
	if bias != nil {
		_ = bias[n-1]
		bp, bstep = &bias[0], 64
	}
	if !perColumn {
		_ = scale[15]
		return bp, bstep, &scale[0], 0
	}
	_ = scale[n-1]
	return bp, bstep, &scale[0], 64
}
