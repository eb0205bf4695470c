package vmath

// Relu sets y[i] = max(x[i], 0) for every element of x, as Go's max: NaN
// stays NaN and -0 gives +0. The assembly reads subnormals as zero, so it
// gives 0 for a positive subnormal (what a fused kernel of internal/kernel
// would give too). y must be at least as long as x and may be x itself.
func Relu(y, x []float32) {
	best.relu(y[:len(x)], x)
}

// ReluGrad sets dx[i] = dy[i] where x[i] > 0 (its bits, read as an int32,
// are positive: +Inf and NaNs without their sign bit included, -0 not) and
// 0 elsewhere, for every element of x. dx and dy must be at least as long
// as x; dx may be dy or x.
func ReluGrad(dx, dy, x []float32) {
	best.reluGrad(dx[:len(x)], dy[:len(x)], x)
}
