//go:build amd64 && !purego

package kernel

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// bestKernels is the fastest row kernel set this CPU runs.
var bestKernels = goKernels

// asmKernels lists the assembly row kernel sets this CPU can run, best first.
var asmKernels []*kernelSet

func init() {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return
	}
	asmKernels = append(asmKernels, kernelsAVX2)
	if cpu.X86.HasAVX512F {
		asmKernels = append([]*kernelSet{kernelsAVX512}, asmKernels...)
	}
	bestKernels = asmKernels[0]
}
