//go:build !amd64 || purego

package winograd

func kernelsFor(Conv) *kernels { return goKernels }

// Kernel names the kernels c runs on, for benchmarks and reports.
func (c Conv) Kernel() string { return "go" }

func intKernelsFor(IntConv) *intKernels { return intGoKernels }

// Kernel names the kernels c runs on, for benchmarks and reports.
func (c IntConv) Kernel() string { return "go" }

// Fast reports whether c's kernels are faster than the direct ones: not
// in Go.
func (c IntConv) Fast() bool { return false }
