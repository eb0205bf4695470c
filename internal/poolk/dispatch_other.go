//go:build !amd64 || purego

package poolk

// Kernel names the kernels in use, for benchmarks and reports.
func Kernel() string { return "go" }

func max2x2(y []float32, arg []int32, plane []float32, w, oh, ow int) {
	max2x2Go(y, arg, plane, w, oh, ow)
}

func back2x2(plane, dy []float32, arg []int32, w, oh, ow int) {
	back2x2Go(plane, dy, arg, w, oh, ow)
}

func reluMax2x2(y, x []float32, w, step, oh, ow int) {
	reluMax2x2Go(y, x, w, step, oh, ow)
}

func reluMax3x3(y, x []float32, w, step, oh, ow int) {
	reluMax3x3Go(y, x, w, step, oh, ow)
}

func reluMax2x2NHWC(y, x []float32, c, w, oh, ow int) {
	reluMax2x2NHWCGo(y, x, c, w, oh, ow)
}

func avg2x2(y, x []float32, w, step, oh, ow int) {
	avg2x2Go(y, x, w, step, oh, ow)
}
