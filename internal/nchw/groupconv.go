package nchw

import "github.com/lenetkit/lenetkit/internal/gemm"

// GroupConv2D is ONNX's 2-D convolution of one image in general: its
// channels split into Group groups convolved separately (Group == InC is
// a depthwise convolution), and the kernel's taps DilationH and DilationW
// apart. Conv2D is the faster form for group 1, dilation 1.
//
// The fields are Conv2D's, with InC and OutC both multiples of Group, and
// dilations of at least 1. The padded input must be at least as large as
// the dilated kernel, (KH-1)*DilationH+1 by (KW-1)*DilationW+1, so that
// OutH and OutW are positive.
type GroupConv2D struct {
	InC, InH, InW                        int
	OutC                                 int
	KH, KW                               int
	StrideH, StrideW                     int
	PadTop, PadLeft, PadBottom, PadRight int
	DilationH, DilationW                 int
	Group                                int
}

// OutH is the height of the output:
// (InH+PadTop+PadBottom-(KH-1)*DilationH-1)/StrideH + 1.
func (c GroupConv2D) OutH() int {
	return (c.InH+c.PadTop+c.PadBottom-(c.KH-1)*c.DilationH-1)/c.StrideH + 1
}

// OutW is the width of the output, computed as OutH is.
func (c GroupConv2D) OutW() int {
	return (c.InW+c.PadLeft+c.PadRight-(c.KW-1)*c.DilationW-1)/c.StrideW + 1
}

// ScratchSize is the number of floats Forward needs in scratch: one
// group's im2col matrix, InC/Group*KH*KW rows of OutH*OutW columns.
func (c GroupConv2D) ScratchSize() int {
	return c.InC / c.Group * c.KH * c.KW * c.OutH() * c.OutW()
}

// Forward convolves one image: for every output channel oc of group
// g = oc / (OutC/Group) and position (oh, ow),
//
//	y[oc][oh][ow] = bias[oc] + sum over i < InC/Group, kh, kw of
//		w[oc][i][kh][kw] * x[g*InC/Group+i][oh*StrideH-PadTop+kh*DilationH][ow*StrideW-PadLeft+kw*DilationW]
//
// where x is zero outside the image. y is [OutC][OutH][OutW], x is
// [InC][InH][InW], w is [OutC][InC/Group][KH][KW] (ONNX's layout), bias is
// [OutC] or nil for none, and scratch holds at least ScratchSize floats,
// overwritten. y must not overlap x, w, bias or scratch.
//
// Each group is one matrix product of its weights by its im2col matrix.
func (c GroupConv2D) Forward(y, x, w, bias, scratch []float32) {
	n := c.OutH() * c.OutW()
	icg, ocg := c.InC/c.Group, c.OutC/c.Group
	k := icg * c.KH * c.KW
	hw := c.InH * c.InW
	cols := scratch[:k*n]
	for g := range c.Group {
		c.im2col(cols, x[g*icg*hw:(g+1)*icg*hw], icg)
		yg := y[g*ocg*n : (g+1)*ocg*n]
		var beta float32
		if bias != nil {
			for oc := range ocg {
				fill(yg[oc*n:(oc+1)*n], bias[g*ocg+oc])
			}
			beta = 1
		}
		gemm.Sgemm(false, false, ocg, n, k, 1, w[g*ocg*k:(g+1)*ocg*k], max(k, 1), cols, max(n, 1), beta, yg, max(n, 1))
	}
}

// im2col writes into cols the matrix [ch][KH][KW][OutH*OutW] of the ch
// channels of x: row (ic, kh, kw) holds, for every output position, the
// input value that dilated tap multiplies there, or 0 in the padding.
func (c GroupConv2D) im2col(cols, x []float32, ch int) {
	oh, ow := c.OutH(), c.OutW()
	hw := c.InH * c.InW
	i := 0
	for ic := range ch {
		img := x[ic*hw : (ic+1)*hw]
		for kh := range c.KH {
			for kw := range c.KW {
				// Output columns lo <= j < hi read input column
				// j*StrideW - PadLeft + kw*DilationW inside [0, InW).
				off := c.PadLeft - kw*c.DilationW
				lo, hi := validRange(off, c.InW, c.StrideW, ow)
				for r := range oh {
					dst := cols[i : i+ow]
					i += ow
					ih := r*c.StrideH - c.PadTop + kh*c.DilationH
					if ih < 0 || ih >= c.InH {
						clear(dst)
						continue
					}
					clear(dst[:lo])
					clear(dst[hi:])
					src := img[ih*c.InW : (ih+1)*c.InW]
					iw := lo*c.StrideW - off
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
