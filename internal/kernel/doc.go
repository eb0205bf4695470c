// Package kernel holds the loops LeNet spends its time in, shared by the
// inference forward pass in lenet and the Gorgonia ops in train.
//
// Activations are laid out NHWC (image, row, column, channel): a 3x3
// convolution then becomes one matrix product over all pixels of several
// images at once (rows = pixels, columns = channels), and BatchNorm and
// pooling run over contiguous channel vectors. PyTorch's NCHW shows only at
// the edges: weights are permuted on the way in and gradients on the way out,
// and Flatten emits PyTorch's C,H,W order.
package kernel

import (
	"runtime"
	"sync"
)

// Parallel splits [0, n) into one contiguous range per CPU and runs fn on
// each range concurrently; worker is 0..workers-1, so callers can give each
// its own scratch space.
func Parallel(n int, fn func(worker, lo, hi int)) {
	w := Workers()
	if w > n {
		w = n
	}
	if w <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(w - 1)
	for i := 1; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		go func(i, lo, hi int) {
			defer wg.Done()
			fn(i, lo, hi)
		}(i, lo, hi)
	}
	fn(0, 0, n/w)
	wg.Wait()
}

// Workers is how many goroutines Parallel uses.
func Workers() int { return runtime.GOMAXPROCS(0) }
