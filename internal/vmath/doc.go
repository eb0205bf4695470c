// Package vmath is vectorised elementwise math for float32 slices shared
// by inference (internal/nchw) and training (onnxtrain): one kernel per
// function, in AVX-512 and AVX2+FMA assembly written by gen_amd64.go and
// in Go for other CPUs, picked once by the CPU's features.
//
// The functions take the output first and let it alias the input.
package vmath

// kernelSet is one implementation of every function of the package.
type kernelSet struct {
	name string
	// Each writes its output for every element of its last input; the
	// other slices are at least as long.
	tanh, relu         func(y, x []float32)
	tanhGrad, reluGrad func(dx, dy, in []float32)
	clip               func(y, x []float32, lo, hi float32)
}

// kernelSets lists every kernel set this CPU runs, best first, for tests
// and benchmarks.
func kernelSets() []*kernelSet {
	return append(append([]*kernelSet(nil), asmKernels...), goKernels)
}
