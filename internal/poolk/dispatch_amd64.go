//go:build amd64 && !purego

package poolk

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// useAVX2 is set where the CPU runs the assembly kernels; tests clear it to
// compare them with the Go ones.
var useAVX2 = cpu.X86.HasAVX2

// Kernel names the kernels in use, for benchmarks and reports.
func Kernel() string {
	if useAVX2 {
		return "avx2"
	}
	return "go"
}

// The kernels take rows of at least one vector of outputs; narrower
// planes run in Go.
func max2x2(y []float32, arg []int32, plane []float32, w, oh, ow int) {
	if !useAVX2 || ow < 8 {
		max2x2Go(y, arg, plane, w, oh, ow)
		return
	}
	max2x2AVX2(&y[0], &arg[0], &plane[0], w, oh, ow)
}

func back2x2(plane, dy []float32, arg []int32, w, oh, ow int) {
	if !useAVX2 || ow < 8 {
		back2x2Go(plane, dy, arg, w, oh, ow)
		return
	}
	back2x2AVX2(&plane[0], &dy[0], &arg[0], w, oh, ow)
}

// reluMax2x2 runs the kernel on planes of at least one vector of outputs
// across; where it met a window whose maximum is a NaN, the Go loop pools
// the plane again (rare: the kernel only reports that one was there).
func reluMax2x2(y, x []float32, w, step, oh, ow int) {
	if !useAVX2 || ow < 8 || reluMax2x2AVX2(&y[0], &x[0], w, step, oh, ow) {
		reluMax2x2Go(y, x, w, step, oh, ow)
	}
}

// reluMax3x3 is reluMax2x2's for the kernel of vectors of four outputs.
func reluMax3x3(y, x []float32, w, step, oh, ow int) {
	if !useAVX2 || ow < 4 || reluMax3x3AVX2(&y[0], &x[0], w, step, oh, ow) {
		reluMax3x3Go(y, x, w, step, oh, ow)
	}
}

// reluMax2x2NHWC runs the kernel on maps of whole vectors of channels.
func reluMax2x2NHWC(y, x []float32, c, w, oh, ow int) {
	if !useAVX2 || c%8 != 0 || reluMax2x2NHWCAVX2(&y[0], &x[0], c, w, oh, ow) {
		reluMax2x2NHWCGo(y, x, c, w, oh, ow)
	}
}

// avg2x2 runs the kernel on planes of at least one vector of outputs
// across.
func avg2x2(y, x []float32, w, step, oh, ow int) {
	if !useAVX2 || ow < 8 {
		avg2x2Go(y, x, w, step, oh, ow)
		return
	}
	avg2x2AVX2(&y[0], &x[0], w, step, oh, ow)
}
