package dwconv

import "math"

// A Relu that reads a BatchNorm's output alone runs inside the BatchNorm's
// passes: the forward pass writes relu(a*x+b) at once, and the backward
// passes mask the gradient where that output was not positive, so that
// neither the affine map nor the masked gradient makes a pass of its own.

// AffineRelu sets y[i] = relu(a*x[i] + b): a*x[i]+b where that is above
// 0 or NaN, else +0, as Affine then vmath.Relu; x is at least as long as
// y.
func AffineRelu(y, x []float32, a, b float32) { affineRelu(y, x[:len(y)], a, b) }

// MaskedGradSums is GradSums of g masked by y: g[i] counts where y[i],
// read as an int32, is positive (vmath.ReluGrad's test), else 0. y and x
// are at least as long as g.
func MaskedGradSums(g, y, x []float32) (s, sx float32) {
	return maskedGradSums(g, y[:len(g)], x[:len(g)])
}

// MaskedAffine2 is Affine2 of g masked by y as in MaskedGradSums; g, y
// and x are at least as long as d.
func MaskedAffine2(d, g, y, x []float32, a, b, k float32) {
	maskedAffine2(d, g[:len(d)], y[:len(d)], x[:len(d)], a, b, k)
}

func affineReluGo(y, x []float32, a, b float32) {
	x = x[:len(y)]
	for i := range y {
		v := a*x[i] + b
		if v <= 0 {
			v = 0
		}
		y[i] = v
	}
}

// keep is g where y, read as an int32, is positive, else 0; masked, not
// branched on, since the sign changes at random from one entry to the
// next.
func keep(g, y float32) float32 {
	b := int32(math.Float32bits(y))
	m := ^(((b - 1) >> 31) | (b >> 31))
	return math.Float32frombits(math.Float32bits(g) & uint32(m))
}

// maskedGradSumsGo keeps four partial sums, as gradSumsGo.
func maskedGradSumsGo(g, y, x []float32) (s, sx float32) {
	y, x = y[:len(g)], x[:len(g)]
	var s0, s1, s2, s3, p0, p1, p2, p3 float32
	j := 0
	for ; j+4 <= len(g); j += 4 {
		a, m, b := g[j:j+4:j+4], y[j:j+4:j+4], x[j:j+4:j+4]
		a0, a1, a2, a3 := keep(a[0], m[0]), keep(a[1], m[1]), keep(a[2], m[2]), keep(a[3], m[3])
		s0, s1, s2, s3 = s0+a0, s1+a1, s2+a2, s3+a3
		p0, p1, p2, p3 = p0+a0*b[0], p1+a1*b[1], p2+a2*b[2], p3+a3*b[3]
	}
	for ; j < len(g); j++ {
		a := keep(g[j], y[j])
		s0, p0 = s0+a, p0+a*x[j]
	}
	return (s0 + s1) + (s2 + s3), (p0 + p1) + (p2 + p3)
}

func maskedAffine2Go(d, g, y, x []float32, a, b, k float32) {
	g, y, x = g[:len(d)], y[:len(d)], x[:len(d)]
	for i := range d {
		d[i] = a*keep(g[i], y[i]) + b*x[i] + k
	}
}
