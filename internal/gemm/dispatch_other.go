//go:build !amd64 || purego

package gemm

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
