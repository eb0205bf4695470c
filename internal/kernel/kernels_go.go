package kernel

import "math"

// The pure-Go kernels: what the assembly ones compute, for CPUs and shapes
// without them, and what the tests check them against. Each works on c
// channels per pixel; the pooling kernels on one row of ow pooled outputs,
// whose KxK windows start at z[0] and whose input rows are stride floats
// apart; the convolutions on images with a border of one zero pixel.

// statsRowsGo adds to s and sq the per-channel sums of relu(z)-shift and of
// its squares over rows pixels.
func statsRowsGo(s, sq, z, shift []float32, rows, c int) {
	s, sq, shift = s[:c], sq[:c], shift[:c]
	for p := range rows {
		for i, v := range z[p*c : (p+1)*c] {
			d := max(v, 0) - shift[i]
			s[i] += d
			sq[i] += d * d
		}
	}
}

// dotRowsGo adds to s and sx the per-channel sums of a and of a*x over rows
// pixels.
func dotRowsGo(s, sx, a, x []float32, rows, c int) {
	s, sx = s[:c], sx[:c]
	for p := range rows {
		xr := x[p*c : (p+1)*c]
		for i, v := range a[p*c : (p+1)*c] {
			s[i] += v
			sx[i] += v * xr[i]
		}
	}
}

// poolTrainRowsGo writes, for each pooled output and channel, the maximum y
// of BN(relu(z)) over the window, its normalised value xh and its position
// arg (the first in row-major order on ties). coef holds mean, invstd,
// gamma and beta, c floats each.
//
// The float32 conversions keep the compiler from fusing a multiply and an
// add: the assembly kernels round both, and the tests compare the choice of
// maximum bit for bit.
func poolTrainRowsGo(y, xh []float32, arg []uint8, z []float32, stride, k, c, ow int, coef []float32) {
	mean, inv, gamma, beta := coef[:c], coef[c:2*c], coef[2*c:3*c], coef[3*c:4*c]
	for ox := range ow {
		yo, xo, ao := y[ox*c:(ox+1)*c], xh[ox*c:(ox+1)*c], arg[ox*c:(ox+1)*c]
		for i := range yo {
			yo[i], xo[i], ao[i] = float32(math.Inf(-1)), 0, 0
		}
		for ky := range k {
			for kx := range k {
				pos := uint8(ky*k + kx)
				zr := z[ky*stride+(ox*k+kx)*c:][:c]
				for i, v := range zr {
					h := float32(max(v, 0)-mean[i]) * inv[i]
					o := float32(h*gamma[i]) + beta[i]
					if o > yo[i] {
						yo[i], xo[i], ao[i] = o, h, pos
					}
				}
			}
		}
	}
}

// poolBackRowsGo writes dz over the windows of one row of pooled outputs
// and adds it to db, per channel. g is the gradient of the pooled outputs
// and arg their positions; coef holds mean, invstd, gamma*invstd,
// gamma*invstd/m, dgamma and dbeta, c floats each.
func poolBackRowsGo(dz, db, z []float32, stride, k, c, ow int, g []float32, arg []uint8, coef []float32) {
	mean, inv, a, am := coef[:c], coef[c:2*c], coef[2*c:3*c], coef[3*c:4*c]
	dgam, dbet := coef[4*c:5*c], coef[5*c:6*c]
	db = db[:c]
	for ky := range k {
		for ox := range ow {
			gr, ar := g[ox*c:(ox+1)*c], arg[ox*c:(ox+1)*c]
			for kx := range k {
				pos := uint8(ky*k + kx)
				off := ky*stride + (ox*k+kx)*c
				zr, dr := z[off:off+c], dz[off:off+c]
				for i, v := range zr {
					if v <= 0 {
						dr[i] = 0 // ReLU blocked this element
						continue
					}
					var gs float32
					if ar[i] == pos {
						gs = gr[i]
					}
					h := float32(v-mean[i]) * inv[i]
					d := float32(a[i]*gs) - float32(am[i]*(float32(dgam[i]*h)+dbet[i]))
					dr[i] = d
					db[i] += d
				}
			}
		}
	}
}

// poolScatterRowsGo is poolBackRowsGo with BatchNorm the identity and
// frozen (ReLUPool), reading the winners' values xh rather than z: dz is
// g at each window's winner where xh > 0, 0 elsewhere, and db adds it up
// window by window, as the assembly kernels do.
func poolScatterRowsGo(dz, db []float32, stride, k, c, ow int, g []float32, arg []uint8, xh []float32) {
	db = db[:c]
	for ox := range ow {
		gr, ar, xr := g[ox*c:(ox+1)*c], arg[ox*c:(ox+1)*c], xh[ox*c:(ox+1)*c]
		for ky := range k {
			for kx := range k {
				pos := uint8(ky*k + kx)
				dr := dz[ky*stride+(ox*k+kx)*c:][:c]
				for i := range dr {
					var d float32
					if ar[i] == pos && xr[i] > 0 {
						d = gr[i]
					}
					dr[i] = d
					db[i] += d
				}
			}
		}
	}
}

// poolEvalRowsGo writes the maximum over each window of
// relu(z)*scale + shift; coef holds scale and shift, c floats each.
func poolEvalRowsGo(y, z []float32, stride, k, c, ow int, coef []float32) {
	scale, shift := coef[:c], coef[c:2*c]
	for ox := range ow {
		yo := y[ox*c : (ox+1)*c]
		for ky := range k {
			for kx := range k {
				zr := z[ky*stride+(ox*k+kx)*c:][:c]
				first := ky == 0 && kx == 0
				for i, v := range zr {
					o := max(v, 0)*scale[i] + shift[i]
					if first || o > yo[i] {
						yo[i] = o
					}
				}
			}
		}
	}
}

// conv1Go writes out[y][x][:c] = bias + sum over the 3x3 neighbourhood of
// the one-channel image xp, given with a border of one zero pixel
// ((h+2)x(w+2)); wt is [9][c].
func conv1Go(out, xp, wt, bias []float32, h, w, c int) {
	wp := w + 2
	for y := range h {
		for x := range w {
			o := out[(y*w+x)*c : (y*w+x+1)*c]
			copy(o, bias[:c])
			for ky := range 3 {
				for kx := range 3 {
					v := xp[(y+ky)*wp+x+kx]
					wr := wt[(ky*3+kx)*c : (ky*3+kx+1)*c]
					for i, t := range wr {
						o[i] += v * t
					}
				}
			}
		}
	}
}

// conv1GradGo adds to dw ([9][c]) the weight gradient of conv1Go for one
// image from dz ([h][w][c]).
func conv1GradGo(dw, xp, dz []float32, h, w, c int) {
	wp := w + 2
	for y := range h {
		for x := range w {
			d := dz[(y*w+x)*c : (y*w+x+1)*c]
			for k := range 9 {
				v := xp[(y+k/3)*wp+x+k%3]
				dr := dw[k*c : (k+1)*c]
				for i, t := range d {
					dr[i] += v * t
				}
			}
		}
	}
}

// convDirectGo writes out[y][x] = bias + the 3x3 neighbourhood of
// pixel (stride*y, stride*x) of xp, rows of wp pixels of cin channels with
// the border, times wd ([3][3][cin][cout]), for h rows of w pixels.
func convDirectGo(out, xp, wd, bias []float32, h, w, cin, cout, stride, wp int) {
	for y := range h {
		for x := range w {
			o := out[(y*w+x)*cout : (y*w+x+1)*cout]
			copy(o, bias[:cout])
			for ky := range 3 {
				// The three taps of a row are 3*cin contiguous inputs.
				at := ((stride*y+ky)*wp + stride*x) * cin
				in := xp[at : at+3*cin]
				wk := wd[ky*3*cin*cout : (ky+1)*3*cin*cout]
				for j, v := range in {
					if v == 0 {
						continue // ReLU and the border make many
					}
					for i, t := range wk[j*cout : (j+1)*cout] {
						o[i] += v * t
					}
				}
			}
		}
	}
}

// convGradDirectGo adds to dw ([3][3][cin][cout]) the weight gradient of
// convDirectGo over n bordered images xp and their output gradients dz.
func convGradDirectGo(dw, xp, dz []float32, n, h, w, cin, cout int) {
	wp := w + 2
	for img := range n {
		xi := xp[img*(h+2)*wp*cin : (img+1)*(h+2)*wp*cin]
		for y := range h {
			for x := range w {
				d := dz[((img*h+y)*w+x)*cout : ((img*h+y)*w+x+1)*cout]
				for ky := range 3 {
					in := xi[((y+ky)*wp+x)*cin : ((y+ky)*wp+x+3)*cin]
					for j, v := range in {
						if v == 0 {
							continue
						}
						row := dw[(ky*3*cin+j)*cout : (ky*3*cin+j+1)*cout]
						for i, t := range d {
							row[i] += v * t
						}
					}
				}
			}
		}
	}
}
