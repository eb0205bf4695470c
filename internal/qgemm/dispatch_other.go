//go:build !amd64 || purego

package qgemm

// defaultKernels is what PackB packs for.
var defaultKernels = goKernels

// asmKernels lists the assembly kernel sets this CPU can run, best first.
var asmKernels []*kernelSet

// vectorEpilogue reports whether requantRowAsm and dequantRowAsm run: never here.
const vectorEpilogue = false

func requantRowAsm(dst []byte, acc, bias []int32, scale []float32, perColumn bool, lo, hi float32, zp int32, signed bool) int {
	return 0
}

func dequantRowAsm(dst []float32, acc, bias []int32, scale []float32, perColumn bool) int {
	return 0
}
