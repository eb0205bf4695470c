package vmath

// Clip sets y[i] = min(max(x[i], lo), hi) for every element of x, as
// ONNX's Clip: NaN stays NaN, a value equal to a bound stays itself (-0
// at lo = 0 included), and every element is hi when lo > hi. The assembly
// reads subnormals as zero, as Relu's does. y must be at least as long as
// x and may be x itself.
func Clip(y, x []float32, lo, hi float32) {
	best.clip(y[:len(x)], x, lo, hi)
}
