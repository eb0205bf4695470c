package dwconv

// The BatchNorm that follows a depthwise convolution (MobileNet's blocks)
// spends its time in four per-plane loops, as long as the convolution's
// own; they run here, on the same vector kernels' dispatch.

// Stats returns the sums of v-k and of (v-k)^2.
func Stats(v []float32, k float32) (s, ss float32) { return stats(v, k) }

// GradSums returns the sums of g and of g*x; x is at least as long as g.
func GradSums(g, x []float32) (s, sx float32) {
	return gradSums(g, x[:len(g)])
}

// Affine sets y[i] = a*x[i] + b; x is at least as long as y.
func Affine(y, x []float32, a, b float32) { affine(y, x[:len(y)], a, b) }

// Affine2 sets d[i] = a*g[i] + b*x[i] + k; g and x are at least as long
// as d.
func Affine2(d, g, x []float32, a, b, k float32) {
	affine2(d, g[:len(d)], x[:len(d)], a, b, k)
}

// statsGo and gradSumsGo keep four partial sums each, so that the
// additions overlap.
func statsGo(v []float32, k float32) (s, ss float32) {
	var s0, s1, s2, s3, q0, q1, q2, q3 float32
	j := 0
	for ; j+4 <= len(v); j += 4 {
		w := v[j : j+4 : j+4]
		d0, d1, d2, d3 := w[0]-k, w[1]-k, w[2]-k, w[3]-k
		s0, s1, s2, s3 = s0+d0, s1+d1, s2+d2, s3+d3
		q0, q1, q2, q3 = q0+d0*d0, q1+d1*d1, q2+d2*d2, q3+d3*d3
	}
	for ; j < len(v); j++ {
		d := v[j] - k
		s0, q0 = s0+d, q0+d*d
	}
	return (s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3)
}

func gradSumsGo(g, x []float32) (s, sx float32) {
	x = x[:len(g)]
	var s0, s1, s2, s3, p0, p1, p2, p3 float32
	j := 0
	for ; j+4 <= len(g); j += 4 {
		a, b := g[j:j+4:j+4], x[j:j+4:j+4]
		s0, s1, s2, s3 = s0+a[0], s1+a[1], s2+a[2], s3+a[3]
		p0, p1, p2, p3 = p0+a[0]*b[0], p1+a[1]*b[1], p2+a[2]*b[2], p3+a[3]*b[3]
	}
	for ; j < len(g); j++ {
		s0, p0 = s0+g[j], p0+g[j]*x[j]
	}
	return (s0 + s1) + (s2 + s3), (p0 + p1) + (p2 + p3)
}

func affineGo(y, x []float32, a, b float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] = a*x[i] + b
	}
}

func affine2Go(d, g, x []float32, a, b, k float32) {
	g, x = g[:len(d)], x[:len(d)]
	for i := range d {
		d[i] = a*g[i] + b*x[i] + k
	}
}
