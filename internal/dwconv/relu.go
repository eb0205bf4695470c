package dwconv

import "math"

// A Relu that reads a BatchNorm's output alone runs inside the BatchNorm's
// passes: the forward pass writes relu(a*x+b) at once, and the backward
// passes mask the gradient where a*x+b was not positive, recomputing it
// from x with the forward's a and b rather than reading the output back:
// one tensor fewer to stream through each pass.

// AffineRelu sets y[i] = relu(a*x[i] + b): a*x[i]+b where that is above
// 0 or NaN, else +0, as Affine then vmath.Relu; x is at least as long as
// y.
func AffineRelu(y, x []float32, a, b float32) { affineRelu(y, x[:len(y)], a, b) }

// ReluGradSums is GradSums of g masked where AffineRelu(x, fa, fb) cut:
// g[i] counts where fa*x[i]+fb, as AffineRelu computes it, is positive
// when read as an int32 (vmath.ReluGrad's test), else 0. x is at least as
// long as g.
func ReluGradSums(g, x []float32, fa, fb float32) (s, sx float32) {
	return reluGradSums(g, x[:len(g)], fa, fb)
}

// ReluAffine2 is Affine2 of g masked as in ReluGradSums; g and x are at
// least as long as d.
func ReluAffine2(d, g, x []float32, a, b, k, fa, fb float32) {
	reluAffine2(d, g[:len(d)], x[:len(d)], a, b, k, fa, fb)
}

// pre is the Relu's input as every Go kernel here computes it: one
// expression, so that where the compiler fuses the multiply and the add
// it fuses them alike in the forward and the backward passes.
func pre(a, x, b float32) float32 { return a*x + b }

func affineReluGo(y, x []float32, a, b float32) {
	x = x[:len(y)]
	for i := range y {
		v := pre(a, x[i], b)
		if v <= 0 {
			v = 0
		}
		y[i] = v
	}
}

// keep is g where z, read as an int32, is positive, else 0; masked, not
// branched on, since the sign changes at random from one entry to the
// next.
func keep(g, z float32) float32 {
	b := int32(math.Float32bits(z))
	m := ^(((b - 1) >> 31) | (b >> 31))
	return math.Float32frombits(math.Float32bits(g) & uint32(m))
}

// reluGradSumsGo keeps four partial sums, as gradSumsGo.
func reluGradSumsGo(g, x []float32, fa, fb float32) (s, sx float32) {
	x = x[:len(g)]
	var s0, s1, s2, s3, p0, p1, p2, p3 float32
	j := 0
	for ; j+4 <= len(g); j += 4 {
		a, b := g[j:j+4:j+4], x[j:j+4:j+4]
		a0, a1 := keep(a[0], pre(fa, b[0], fb)), keep(a[1], pre(fa, b[1], fb))
		a2, a3 := keep(a[2], pre(fa, b[2], fb)), keep(a[3], pre(fa, b[3], fb))
		s0, s1, s2, s3 = s0+a0, s1+a1, s2+a2, s3+a3
		p0, p1, p2, p3 = p0+a0*b[0], p1+a1*b[1], p2+a2*b[2], p3+a3*b[3]
	}
	for ; j < len(g); j++ {
		a := keep(g[j], pre(fa, x[j], fb))
		s0, p0 = s0+a, p0+a*x[j]
	}
	return (s0 + s1) + (s2 + s3), (p0 + p1) + (p2 + p3)
}

func reluAffine2Go(d, g, x []float32, a, b, k, fa, fb float32) {
	g, x = g[:len(d)], x[:len(d)]
	for i := range d {
		d[i] = a*keep(g[i], pre(fa, x[i], fb)) + b*x[i] + k
	}
}
