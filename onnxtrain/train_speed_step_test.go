package onnxtrain

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkStepCPU is BenchmarkStep for the fixtures whose convolutions
// and pools run on the generic layers, reporting also the process's CPU
// time per step and the fastest step: on a machine shared with other
// work, wall time measures the neighbours as much as the step, these two
// far less so. Compare kernels with -cpu 1, where CPU time is the step's
// own.
func BenchmarkStepCPU(b *testing.B) {
	for _, name := range []string{"lenet5.onnx", "cnn28.onnx", "producers/keras2onnx_160.onnx", "dwbn.onnx"} {
		b.Run(name, func(b *testing.B) {
			net, x, y := benchNet(b, name, Options{Batch: 128})
			defer net.Close()
			if _, err := net.Step(x, y); err != nil { // warm the caches and buffers
				b.Fatal(err)
			}
			start := cpuTime()
			var fastest minTime
			b.ResetTimer()
			for range b.N {
				t := time.Now()
				if _, err := net.Step(x, y); err != nil {
					b.Fatal(err)
				}
				fastest.add(time.Since(t))
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
			fastest.report(b)
		})
	}
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
