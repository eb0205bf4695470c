package nchw

import "math"

// FoldBatchNorm turns inference BatchNormalization's parameters into one
// scale and shift per channel, so that ScaleShift can apply it as
// y = x*scale[c] + shift[c]:
//
//	scale[c] = gamma[c] / sqrt(variance[c] + eps)
//	shift[c] = beta[c] - mean[c]*scale[c]
//
// All six slices hold one value per channel. The folding is done in
// float64 and rounded once, because it happens once per model while its
// error would repeat in every output.
func FoldBatchNorm(scale, shift, gamma, beta, mean, variance []float32, eps float64) {
	shift = shift[:len(scale)]
	for c := range scale {
		s := float64(gamma[c]) / math.Sqrt(float64(variance[c])+eps)
		scale[c] = float32(s)
		shift[c] = float32(float64(beta[c]) - float64(mean[c])*s)
	}
}

// ScaleShift applies a folded BatchNormalization to one image of c
// channels of hw values: y[i][j] = x[i][j]*scale[i] + shift[i]. y and x
// hold c*hw floats and may be the same slice.
func ScaleShift(y, x, scale, shift []float32, c, hw int) {
	for i := range c {
		s, t := scale[i], shift[i]
		dst := y[i*hw : (i+1)*hw]
		for j, v := range x[i*hw : (i+1)*hw] {
			dst[j] = v*s + t
		}
	}
}
