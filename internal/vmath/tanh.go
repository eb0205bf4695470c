package vmath

// Tanh sets y[i] = tanh(x[i]) for every element of x, within a few float32
// ulp of the exact value (see TestTanhAccuracy): a rational approximation,
// Eigen's, in place of math.Tanh's float64 exponentials, which took three
// quarters of a LeNet-5's inference. NaN gives NaN, +-Inf gives +-1, and
// inputs under 0.0004 in magnitude (-0 and the subnormals too) give
// themselves. y must be at least as long as x and may be x itself.
func Tanh(y, x []float32) {
	best.tanh(y[:len(x)], x)
}

// TanhGrad sets dx[i] = dy[i] * (1 - y[i]*y[i]), tanh's gradient from its
// output y, for every element of y. dx and dy must be at least as long as
// y; dx may be dy or y.
func TanhGrad(dx, dy, y []float32) {
	best.tanhGrad(dx[:len(y)], dy[:len(y)], y)
}
