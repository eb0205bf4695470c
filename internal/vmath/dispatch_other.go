//go:build !amd64 || purego

package vmath

// best is the fastest kernel set this CPU runs.
var best = goKernels

// asmKernels lists the assembly kernel sets this CPU can run, best first.
var asmKernels []*kernelSet
