//go:build !amd64 || purego

package qgemm

// defaultKernels is what PackB packs for.
var defaultKernels = goKernels

// asmKernels lists the assembly kernel sets this CPU can run, best first.
var asmKernels []*kernelSet

// vectorEpilogue reports whether requantAsm and dequantAsm run: never here.
const vectorEpilogue = false

// epilogue512 reports whether Epilogue.Run's chunks run in zmm registers:
// never here (a variable, as on amd64, for the tests).
var epilogue512 = false

func requantAsm(m, n int, dst []byte, ldd int, acc []int32, ldc int, bias []int32, scale []float32, perColumn bool, lo, hi float32, zp int32, signed bool) int {
	return 0
}

func dequantAsm(m, n int, dst []float32, ldd int, acc []int32, ldc int, bias []int32, scale []float32, perColumn bool) int {
	return 0
}

func maxPoolAsm(w Window, pixels, n int, acc []int32, ldc int, order []int32, dst []int32, ldd int) int {
	return 0
}

func quantizeAsm(dst []byte, x []float32, scale, lo, hi float32, zp int32, signed bool) int {
	return 0
}

func poolRequantAsm(e *Epilogue, w Window, pixels int, acc []int32, ldc int, dst []byte, ldd int, lo, hi float32) int {
	return 0
}

// greyVNNI and greyAVX2 report whether Grey3x3Pool2's kernels run: never
// here (variables, as on amd64, for the tests).
var greyVNNI, greyAVX2 = false, false

func greyKernel(*Epilogue) (f greyFunc, wide bool) { return nil, false }

func greyAsm(e *Epilogue, g *Grey3x3, img []byte, need, pitch, rows, cols int, dst []byte, ldd int) bool {
	return false
}
