package nchw

import "github.com/lenetkit/lenetkit/internal/gemm"

// Conv2D is a 2-D convolution of one image, group 1, dilation 1.
//
// Its fields are the input's shape [InC][InH][InW], the number of output
// channels, the kernel's size, the strides and the zero padding on each
// side. Strides and kernel sizes must be at least 1, and the padded input
// must be at least as large as the kernel, so that OutH and OutW are
// positive.
type Conv2D struct {
	InC, InH, InW                        int
	OutC                                 int
	KH, KW                               int
	StrideH, StrideW                     int
	PadTop, PadLeft, PadBottom, PadRight int
}

// OutH is the height of the output: (InH+PadTop+PadBottom-KH)/StrideH + 1.
func (c Conv2D) OutH() int { return (c.InH+c.PadTop+c.PadBottom-c.KH)/c.StrideH + 1 }

// OutW is the width of the output: (InW+PadLeft+PadRight-KW)/StrideW + 1.
func (c Conv2D) OutW() int { return (c.InW+c.PadLeft+c.PadRight-c.KW)/c.StrideW + 1 }

// direct reports whether the input already is the matrix im2col would
// build, [InC][InH*InW], so that Forward can multiply by it in place.
func (c Conv2D) direct() bool {
	return c.KH == 1 && c.KW == 1 && c.StrideH == 1 && c.StrideW == 1 &&
		c.PadTop == 0 && c.PadLeft == 0 && c.PadBottom == 0 && c.PadRight == 0
}

// ScratchSize is the number of floats Forward needs in scratch: the
// im2col matrix of InC*KH*KW rows of OutH*OutW columns, or 0 for a 1x1
// kernel with stride 1 and no padding, which needs none.
func (c Conv2D) ScratchSize() int {
	if c.direct() {
		return 0
	}
	return c.InC * c.KH * c.KW * c.OutH() * c.OutW()
}

// Forward convolves one image: for every output channel oc and position
// (oh, ow),
//
//	y[oc][oh][ow] = bias[oc] + sum over ic, kh, kw of
//		w[oc][ic][kh][kw] * x[ic][oh*StrideH-PadTop+kh][ow*StrideW-PadLeft+kw]
//
// where x is zero outside the image. y is [OutC][OutH][OutW], x is
// [InC][InH][InW], w is [OutC][InC][KH][KW] (ONNX's layout), bias is
// [OutC] or nil for none, and scratch holds at least ScratchSize floats; its
// contents are overwritten. y must not overlap x, w, bias or scratch.
//
// The work is one matrix product, W [OutC][InC*KH*KW] times the im2col
// matrix [InC*KH*KW][OutH*OutW], which lands directly in y's layout.
func (c Conv2D) Forward(y, x, w, bias, scratch []float32) {
	oh, ow := c.OutH(), c.OutW()
	n := oh * ow
	k := c.InC * c.KH * c.KW
	y = y[:c.OutC*n]

	var cols []float32
	if c.direct() {
		cols = x[:k*n]
	} else {
		cols = scratch[:k*n]
		c.im2col(cols, x)
	}

	// The bias goes into y first and the product is added to it (beta 1):
	// the GEMM reads each tile of C once as it stores it, which is cheaper
	// than a second pass over y afterwards.
	var beta float32
	if bias != nil {
		bias = bias[:c.OutC]
		for oc, b := range bias {
			fill(y[oc*n:(oc+1)*n], b)
		}
		beta = 1
	}
	// Strides are at least 1 even for empty matrices, which Sgemm insists
	// on as BLAS does.
	gemm.Sgemm(false, false, c.OutC, n, k, 1, w[:c.OutC*k], max(k, 1), cols, max(n, 1), beta, y, max(n, 1))
}

// im2col writes into cols the matrix [InC][KH][KW][OutH*OutW] whose row
// (ic, kh, kw) holds, for every output position, the input value that tap
// multiplies there, or 0 where the tap falls in the padding.
//
// For each row of the kernel the output columns whose taps land inside the
// image form one interval, computed once per (kw) rather than tested per
// element; with stride 1 the interval is a contiguous copy, and when the
// output is also as wide as the input all rows of one tap are a single
// copy (sameRows).
func (c Conv2D) im2col(cols, x []float32) {
	oh, ow := c.OutH(), c.OutW()
	hw := c.InH * c.InW
	i := 0
	for ic := range c.InC {
		img := x[ic*hw : (ic+1)*hw]
		for kh := range c.KH {
			for kw := range c.KW {
				// Output columns lo <= j < hi read input column
				// j*StrideW - PadLeft + kw inside [0, InW).
				lo, hi := validRange(c.PadLeft-kw, c.InW, c.StrideW, ow)
				if c.StrideH == 1 && c.StrideW == 1 && ow == c.InW {
					sameRows(cols[i:i+oh*ow], img, ow, c.InH, c.PadTop-kh, c.PadLeft-kw, lo, hi)
					i += oh * ow
					continue
				}
				for r := range oh {
					dst := cols[i : i+ow]
					i += ow
					ih := r*c.StrideH - c.PadTop + kh
					if ih < 0 || ih >= c.InH {
						clear(dst)
						continue
					}
					clear(dst[:lo])
					clear(dst[hi:])
					src := img[ih*c.InW : (ih+1)*c.InW]
					iw := lo*c.StrideW - c.PadLeft + kw
					if c.StrideW == 1 {
						copy(dst[lo:hi], src[iw:])
						continue
					}
					for j := lo; j < hi; j++ {
						dst[j] = src[iw]
						iw += c.StrideW
					}
				}
			}
		}
	}
}

// sameRows fills one im2col row, dst of [len(dst)/w][w], in the common case
// of stride 1 with the output as wide as the input ("same" padding
// along the width): dst[r][j] = img[r-top][j-left], 0 outside the image,
// where only columns lo <= j < hi read inside it.
//
// Because dst and img then have the same row length w, the valid part of
// every row sits at one fixed offset from its source, and all the rows
// inside the image are a single copy; the few columns per row that the
// copy filled from neighbouring rows instead of the padding are zeroed
// afterwards. Per-row copies of 16 or so floats cost more in call
// overhead than in moving data.
func sameRows(dst, img []float32, w, h, top, left, lo, hi int) {
	oh := len(dst) / w
	// Rows r0 <= r < r1 read image rows r-top inside [0, h).
	r0, r1 := max(top, 0), min(h+top, oh)
	if r0 >= r1 || lo >= hi {
		clear(dst)
		return
	}
	clear(dst[:r0*w])
	clear(dst[r1*w:])
	d := r0*w + lo
	s := (r0-top)*w + lo - left
	n := (r1-r0-1)*w + hi - lo
	copy(dst[d:d+n], img[s:s+n])
	for r := r0; r < r1; r++ {
		row := dst[r*w : (r+1)*w]
		for j := range lo {
			row[j] = 0
		}
		for j := hi; j < w; j++ {
			row[j] = 0
		}
	}
}

// validRange returns the interval [lo, hi) of output indices j in [0, out)
// for which j*stride - off lies in [0, size): the outputs whose tap reads
// inside the input rather than in its padding. lo <= hi always, so an
// empty interval is [lo, lo).
func validRange(off, size, stride, out int) (lo, hi int) {
	// j*stride >= off, i.e. j >= ceil(off/stride) when off > 0.
	if off > 0 {
		lo = (off + stride - 1) / stride
	}
	// j*stride <= size-1+off, i.e. j <= floor((size-1+off)/stride).
	if last := size - 1 + off; last >= 0 {
		hi = last/stride + 1
	}
	lo, hi = min(lo, out), min(hi, out)
	return lo, max(lo, hi)
}

// fill sets every element of s to v.
func fill(s []float32, v float32) {
	if len(s) == 0 {
		return
	}
	// Doubling copies run at memmove's speed; a loop storing one float a
	// time took a tenth of a small network's time (a 1x1 convolution's
	// bias over its 14x14 map).
	s[0] = v
	for i := 1; i < len(s); i *= 2 {
		copy(s[i:], s[:i])
	}
}

// Im2col writes the matrix Forward multiplies the weights by,
// [InC*KH*KW][OutH*OutW], into cols, for callers that divide the product
// between CPUs themselves.
func (c Conv2D) Im2col(cols, x []float32) { c.im2col(cols, x) }
