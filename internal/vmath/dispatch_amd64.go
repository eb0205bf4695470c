//go:build amd64 && !purego

package vmath

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// best is the fastest kernel set this CPU runs.
var best = goKernels

// asmKernels lists the assembly kernel sets this CPU can run, best first.
var asmKernels []*kernelSet

func init() {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return
	}
	asmKernels = append(asmKernels, kernelsAVX2)
	if cpu.X86.HasAVX512F {
		asmKernels = append([]*kernelSet{kernelsAVX512}, asmKernels...)
	}
	best = asmKernels[0]
}
