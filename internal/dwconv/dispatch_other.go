//go:build !amd64 || purego

package dwconv

func taps(y, p, k []float32, off []int) { tapsGo(y, p, k, off) }

func dots(dk, g, p []float32, off []int) { dotsGo(dk, g, p, off) }

// Kernel names the kernels in use, for benchmarks and reports.
func Kernel() string { return "go" }
