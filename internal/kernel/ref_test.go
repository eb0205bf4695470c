package kernel

import "math"

// The plain versions of the fused kernels, in float64, one layer after the
// other as PyTorch runs them: the oracle the fast kernels are checked
// against, and the function that numerical gradients are taken of.

// refBlock is ReLU, BatchNorm with batch statistics and KxK max pooling
// on n NHWC maps.
type refBlock struct {
	n, h, w, c, k int
	eps           float64
}

// refForward is the result of refBlock.forward.
type refForward struct {
	y          []float64 // pooled
	arg        []int     // index into z of each pooled maximum
	mean, vari []float64 // batch mean and biased variance of relu(z)
	xhat       []float64 // normalised, before pooling
}

func (b refBlock) rows() int { return b.n * b.h * b.w }

func (b refBlock) forward(z, gamma, beta []float64) refForward {
	C, rows := b.c, b.rows()
	r := make([]float64, len(z))
	for i, v := range z {
		r[i] = math.Max(v, 0)
	}
	f := refForward{mean: make([]float64, C), vari: make([]float64, C), xhat: make([]float64, len(z))}
	for p := range rows {
		for c := range C {
			f.mean[c] += r[p*C+c]
		}
	}
	for c := range C {
		f.mean[c] /= float64(rows)
	}
	for p := range rows {
		for c := range C {
			d := r[p*C+c] - f.mean[c]
			f.vari[c] += d * d
		}
	}
	norm := make([]float64, len(z))
	for c := range C {
		f.vari[c] /= float64(rows)
	}
	for p := range rows {
		for c := range C {
			i := p*C + c
			f.xhat[i] = (r[i] - f.mean[c]) / math.Sqrt(f.vari[c]+b.eps)
			norm[i] = f.xhat[i]*gamma[c] + beta[c]
		}
	}
	oh, ow := b.h/b.k, b.w/b.k
	f.y = make([]float64, b.n*oh*ow*C)
	f.arg = make([]int, len(f.y))
	for img := range b.n {
		for oy := range oh {
			for ox := range ow {
				for c := range C {
					o := ((img*oh+oy)*ow+ox)*C + c
					best := -1
					for ky := range b.k {
						for kx := range b.k {
							i := ((img*b.h+oy*b.k+ky)*b.w+ox*b.k+kx)*C + c
							if best < 0 || norm[i] > norm[best] {
								best = i
							}
						}
					}
					f.y[o], f.arg[o] = norm[best], best
				}
			}
		}
	}
	return f
}

// refGrads is the result of refBlock.backward.
type refGrads struct {
	dz, dgamma, dbeta, dbias []float64
	// Sums of the magnitudes of the terms of each reduction: what their
	// rounding errors scale with.
	absGamma, absBeta, absBias []float64
}

func (b refBlock) backward(dy, z, gamma []float64, f refForward) refGrads {
	C, rows := b.c, b.rows()
	full := make([]float64, len(z)) // the pooling's gradient
	for o, i := range f.arg {
		full[i] += dy[o]
	}
	g := refGrads{dz: make([]float64, len(z)), dgamma: make([]float64, C), dbeta: make([]float64, C),
		dbias: make([]float64, C), absGamma: make([]float64, C), absBeta: make([]float64, C), absBias: make([]float64, C)}
	for p := range rows {
		for c := range C {
			i := p*C + c
			g.dbeta[c] += full[i]
			g.dgamma[c] += full[i] * f.xhat[i]
			g.absBeta[c] += math.Abs(full[i])
			g.absGamma[c] += math.Abs(full[i] * f.xhat[i])
		}
	}
	m := float64(rows)
	for p := range rows {
		for c := range C {
			i := p*C + c
			if z[i] <= 0 {
				continue
			}
			inv := 1 / math.Sqrt(f.vari[c]+b.eps)
			g.dz[i] = gamma[c] * inv / m * (m*full[i] - g.dbeta[c] - f.xhat[i]*g.dgamma[c])
			g.dbias[c] += g.dz[i]
			// dz is a difference of terms: its rounding error scales
			// with theirs.
			g.absBias[c] += math.Abs(gamma[c]*inv/m) * (m*math.Abs(full[i]) + math.Abs(g.dbeta[c]) + math.Abs(f.xhat[i]*g.dgamma[c]))
		}
	}
	return g
}

// refConv is a 3x3 convolution, padding 1, on n NHWC images, straight
// from the definition, with PyTorch's [out][in][3][3] weights.
func refConv(x, w, bias []float64, n, h, wd, in, out int) []float64 {
	return refConvStrided(x, w, bias, n, h, wd, in, out, 1)
}

// refConvWeightGrad is the gradient of refConv's weights, PyTorch's layout.
func refConvWeightGrad(x, dy []float64, n, h, wd, in, out int) []float64 {
	dw := make([]float64, out*in*9)
	for img := range n {
		for py := range h {
			for px := range wd {
				for o := range out {
					d := dy[((img*h+py)*wd+px)*out+o]
					for i := range in {
						for ky := range 3 {
							for kx := range 3 {
								sy, sx := py+ky-1, px+kx-1
								if sy < 0 || sy >= h || sx < 0 || sx >= wd {
									continue
								}
								dw[((o*in+i)*3+ky)*3+kx] += d * x[((img*h+sy)*wd+sx)*in+i]
							}
						}
					}
				}
			}
		}
	}
	return dw
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

func to32(s []float64) []float32 {
	d := make([]float32, len(s))
	for i, v := range s {
		d[i] = float32(v)
	}
	return d
}

// refConvInputGrad is the gradient of refConv's input.
func refConvInputGrad(w, dy []float64, n, h, wd, in, out int) []float64 {
	dx := make([]float64, n*h*wd*in)
	for img := range n {
		for py := range h {
			for px := range wd {
				for o := range out {
					d := dy[((img*h+py)*wd+px)*out+o]
					for i := range in {
						for ky := range 3 {
							for kx := range 3 {
								sy, sx := py+ky-1, px+kx-1
								if sy < 0 || sy >= h || sx < 0 || sx >= wd {
									continue
								}
								dx[((img*h+sy)*wd+sx)*in+i] += d * w[((o*in+i)*3+ky)*3+kx]
							}
						}
					}
				}
			}
		}
	}
	return dx
}
