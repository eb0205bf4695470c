//go:build !amd64 || purego

package kernel

// bestKernels is the fastest row kernel set this CPU runs.
var bestKernels = goKernels

// asmKernels lists the assembly row kernel sets this CPU can run, best first.
var asmKernels []*kernelSet
