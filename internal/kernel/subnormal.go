package kernel

import "math"

// Subnormal floats cost Intel cores a microcode assist on every
// instruction that reads or writes one. The assembly kernels run with
// MXCSR's flush-to-zero and denormals-are-zero bits set (internal/asmgen);
// the pure-Go loops that keep state from step to step (Adam's moments and
// weights, BatchNorm's running statistics, the loss gradient) flush what
// they store with Flush, so that no subnormal survives a step on any CPU
// and the next step never reads one. Flushing changes only values under
// 2^-126 in magnitude, which no result this package computes can tell from
// zero at float32 precision once anything normal is added to them.

// expMask selects a float32's exponent bits: all zero for zeros and
// subnormals.
const expMask = 0x7f800000

// IsSubnormal reports whether x is a nonzero float32 under 2^-126 in
// magnitude. It tests bits, not values, so it takes no assist itself.
func IsSubnormal(x float32) bool {
	b := math.Float32bits(x)
	return b&expMask == 0 && b&^(1<<31) != 0
}

// Flush returns x, or a zero of x's sign if x is subnormal, as a CPU's
// flush-to-zero mode does.
func Flush(x float32) float32 {
	if IsSubnormal(x) {
		return math.Float32frombits(math.Float32bits(x) & (1 << 31))
	}
	return x
}

// FlushAll flushes every subnormal in xs to a zero of its sign, and
// reports how many it found.
func FlushAll(xs []float32) int {
	n := 0
	for i, x := range xs {
		if IsSubnormal(x) {
			xs[i] = Flush(x)
			n++
		}
	}
	return n
}
