package nchw

import "math"

// LRN is ONNX's local response normalisation across channels of one
// image of c channels of hw values:
//
//	y[i][j] = x[i][j] / (bias + alpha/size * sum of x[k][j]^2)^beta
//
// the sum over channels max(0, i-(size-1)/2) <= k <= min(c-1, i+ceil((size-1)/2)).
// y and x hold c*hw floats and must not overlap. The window's sums and
// the power are taken in float64.
func LRN(y, x []float32, c, hw, size int, alpha, beta, bias float64) {
	lo, hi := (size-1)/2, size/2 // floor and ceil of (size-1)/2
	sq := make([]float64, hw)
	for i := range c {
		clear(sq)
		for k := max(0, i-lo); k <= min(c-1, i+hi); k++ {
			for j, v := range x[k*hw : (k+1)*hw] {
				sq[j] += float64(v) * float64(v)
			}
		}
		dst := y[i*hw : (i+1)*hw]
		for j, v := range x[i*hw : (i+1)*hw] {
			dst[j] = float32(float64(v) / math.Pow(bias+alpha/float64(size)*sq[j], beta))
		}
	}
}

// Normalize standardises each of rows rows of cols >= 1 values of x,
// then scales and shifts it per column:
//
//	y[r][j] = (x[r][j] - mean_r) / sqrt(var_r + eps) * scale[j] + shift[j]
//
// with the row's mean and population variance taken in float64. scale
// and shift hold cols values, or one value for every column (len 1), or
// shift is nil for none. y and x hold rows*cols floats and may be the
// same slice. mean and invStd, unless nil, receive each row's mean and
// 1/sqrt(var_r + eps). It is LayerNormalization over the last axes of X
// viewed as [rows][cols].
func Normalize(y, mean, invStd, x, scale, shift []float32, rows, cols int, eps float64) {
	for r := range rows {
		src := x[r*cols : (r+1)*cols]
		m, inv := meanInvStd(src, eps)
		if mean != nil {
			mean[r] = float32(m)
		}
		if invStd != nil {
			invStd[r] = float32(inv)
		}
		dst := y[r*cols : (r+1)*cols]
		for j, v := range src {
			s, t := float64(pick(scale, j)), 0.0
			if shift != nil {
				t = float64(pick(shift, j))
			}
			dst[j] = float32((float64(v)-m)*inv*s + t)
		}
	}
}

// InstanceNorm normalises each channel of one image of c channels of hw
// >= 1 values by its own mean and population variance, then scales and
// shifts it per channel, ONNX's InstanceNormalization:
//
//	y[i][j] = (x[i][j] - mean_i) / sqrt(var_i + eps) * scale[i] + shift[i]
//
// scale and shift hold c values; y and x hold c*hw floats and may be the
// same slice.
func InstanceNorm(y, x, scale, shift []float32, c, hw int, eps float64) {
	for i := range c {
		src := x[i*hw : (i+1)*hw]
		mean, inv := meanInvStd(src, eps)
		s, t := float64(scale[i]), float64(shift[i])
		dst := y[i*hw : (i+1)*hw]
		for j, v := range src {
			dst[j] = float32((float64(v)-mean)*inv*s + t)
		}
	}
}

// meanInvStd is the mean of x and 1/sqrt(variance + eps), the variance
// being the population one, both in float64 and in two passes.
func meanInvStd(x []float32, eps float64) (mean, inv float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return mean, 1 / math.Sqrt(ss/float64(len(x))+eps)
}

// pick is s[j], or s[0] when s holds one value for all.
func pick(s []float32, j int) float32 {
	if len(s) == 1 {
		return s[0]
	}
	return s[j]
}

// GlobalMaxPool takes the largest of each of c channels of hw >= 1
// values: y[i] = max of x[i*hw : (i+1)*hw], NaNs skipped as MaxPool
// skips them.
func GlobalMaxPool(y, x []float32, c, hw int) {
	y = y[:c]
	for i := range y {
		y[i] = maxWindow(x[i*hw:(i+1)*hw], hw, 0, 1, 0, hw)
	}
}

// MeanVarianceNormalize standardises x in groups, as ONNX's
// MeanVarianceNormalization defines it over the axes that make a group:
//
//	y[i] = (x[i] - E[x_g]) / (sqrt(E[x_g^2] - E[x_g]^2) + 1e-9)
//
// where group[i] < groups is element i's group, each of size elements.
// The expectations are taken in float64, the variance as the function's
// body writes it (a difference of means, not a mean of squared
// differences), so that a constant group becomes 0. y and x hold
// len(group) floats and may be the same slice.
func MeanVarianceNormalize(y, x []float32, group []int, groups, size int) {
	mean, std := make([]float64, groups), make([]float64, groups)
	for i, v := range x[:len(group)] {
		mean[group[i]] += float64(v)
		std[group[i]] += float64(v) * float64(v)
	}
	for g := range mean {
		mean[g] /= float64(size)
		std[g] = math.Sqrt(max(std[g]/float64(size)-mean[g]*mean[g], 0)) + 1e-9
	}
	for i, v := range x[:len(group)] {
		g := group[i]
		y[i] = float32((float64(v) - mean[g]) / std[g])
	}
}
