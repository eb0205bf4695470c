//go:build !amd64 || purego

package winograd

func kernelsFor(Conv) *kernels { return goKernels }

// Kernel names the kernels c runs on, for benchmarks and reports.
func (c Conv) Kernel() string { return "go" }
