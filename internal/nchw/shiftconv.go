package nchw

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/gemm"
)

// ShiftConv is a Conv2D of stride 1 computed without an im2col matrix.
//
// The input is laid out padded, each channel a plane of rows Wp = InW +
// PadLeft + PadRight wide, and the output is first computed "flat": for
// each flat position q = oh*Wp + ow, of which those with ow < OutW are
// the output's and the rest land in the padding columns and are dropped.
// In that layout the value tap (kh, kw) multiplies at q is the padded
// plane's element q + kh*Wp + kw, so that the im2col row of a tap is a
// contiguous slice of the plane, shifted by the tap's offset: a panel of
// the matrix product's B, PanelWidth positions wide, is one copy of that
// many floats per tap, straight into the layout the GEMM micro-kernels
// read, and the weights are packed once. A few padding columns per row
// are computed for nothing (Wp-OutW of every Wp); im2col would instead
// cost a pass writing the whole matrix and Sgemm a second one packing it.
type ShiftConv struct {
	Conv2D
	a *gemm.PackedA
	// wp is the padded width, n the flat output's columns (OutH*wp
	// rounded up to whole panels), plane a padded input channel's floats.
	wp, n, plane int
}

// NewShiftConv packs the weights w, [OutC][InC][KH][KW], for a
// convolution c of stride 1. It returns an error for any other stride or
// an empty shape.
func NewShiftConv(c Conv2D, w []float32) (ShiftConv, error) {
	if c.StrideH != 1 || c.StrideW != 1 || c.InC < 1 || c.OutC < 1 || c.KH < 1 || c.KW < 1 || c.OutH() < 1 || c.OutW() < 1 {
		return ShiftConv{}, fmt.Errorf("nchw: ShiftConv of %+v: only stride 1, and shapes that leave an output", c)
	}
	k := c.InC * c.KH * c.KW
	if len(w) < c.OutC*k {
		return ShiftConv{}, fmt.Errorf("nchw: ShiftConv: %d weights for %d", len(w), c.OutC*k)
	}
	s := ShiftConv{Conv2D: c, wp: c.InW + c.PadLeft + c.PadRight}
	s.a = gemm.PackA(c.OutC, k, w, k, c.OutH()*s.wp)
	nr := s.a.PanelWidth()
	s.n = (c.OutH()*s.wp + nr - 1) / nr * nr
	s.plane = s.n + (c.KH-1)*s.wp + c.KW - 1
	return s, nil
}

// PanelWidth is the number of flat positions one panel covers.
func (s ShiftConv) PanelWidth() int { return s.a.PanelWidth() }

// Panels is the number of panels of the flat output: Multiply's range.
func (s ShiftConv) Panels() int { return s.n / s.a.PanelWidth() }

// PaddedSize is the floats of the padded input Pad writes.
func (s ShiftConv) PaddedSize() int { return s.InC * s.plane }

// PanelSize is the floats of one panel of B, the scratch Multiply takes.
func (s ShiftConv) PanelSize() int { return s.InC * s.KH * s.KW * s.a.PanelWidth() }

// FlatSize is the floats of the flat output, [OutC][FlatStride].
func (s ShiftConv) FlatSize() int { return s.OutC * s.n }

// FlatStride is the flat output's channel stride; its rows are
// FlatWidth apart, of which the first OutW are the output's.
func (s ShiftConv) FlatStride() int { return s.n }

// FlatWidth is the flat output's row stride, the padded input's width.
func (s ShiftConv) FlatWidth() int { return s.wp }

// WeightBytes is the memory the packed weights take.
func (s ShiftConv) WeightBytes() int64 { return s.a.Bytes() }

// Pad writes the image x, [InC][InH][InW], into xp, PaddedSize floats,
// each channel a padded plane: xp's padding is zeroed by the first call
// and never written again, so that later calls into the same xp copy
// the image's rows only. zeroed says xp's padding is known to be zero.
func (s ShiftConv) Pad(xp, x []float32, zeroed bool) {
	xp = xp[:s.InC*s.plane]
	if !zeroed {
		clear(xp)
	}
	hw := s.InH * s.InW
	for ic := range s.InC {
		img, dst := x[ic*hw:(ic+1)*hw], xp[ic*s.plane:]
		d := s.PadTop*s.wp + s.PadLeft
		for r := range s.InH {
			copy(dst[d:d+s.InW], img[r*s.InW:(r+1)*s.InW])
			d += s.wp
		}
	}
}

// Multiply computes panels lo <= j < hi of the flat output yf, FlatSize
// floats, from the padded input xp, without the bias: yf[oc][q] is the sum
// over taps of w times xp's plane at q shifted by the tap. panel is
// PanelSize floats of scratch, one per goroutine sharing the work.
func (s ShiftConv) Multiply(yf, xp, panel []float32, lo, hi int) {
	nr := s.a.PanelWidth()
	panel = panel[:s.PanelSize()]
	for j := lo; j < hi; j++ {
		base := j * nr
		i := 0
		for ic := range s.InC {
			plane := xp[ic*s.plane : (ic+1)*s.plane]
			for kh := range s.KH {
				row := plane[base+kh*s.wp:]
				for kw := range s.KW {
					copyPanelRow(panel[i:i+nr], row[kw:kw+nr])
					i += nr
				}
			}
		}
		s.a.MulPanel(panel, yf[base:], s.n)
	}
}

// copyPanelRow copies src into dst, of one length: as fixed-size arrays
// for the assembly kernels' widths, which the compiler moves in a few
// vector instructions where copy would call memmove.
func copyPanelRow(dst, src []float32) {
	switch len(dst) {
	case 32:
		*(*[32]float32)(dst) = *(*[32]float32)(src)
	case 16:
		*(*[16]float32)(dst) = *(*[16]float32)(src)
	default:
		copy(dst, src)
	}
}

// Crop writes output channels lo <= oc < hi of y, [OutC][OutH][OutW],
// from the flat output yf, adding bias[oc] (nil for none).
func (s ShiftConv) Crop(y, yf, bias []float32, lo, hi int) {
	oh, ow := s.OutH(), s.OutW()
	for oc := lo; oc < hi; oc++ {
		var b float32
		if bias != nil {
			b = bias[oc]
		}
		src, dst := yf[oc*s.n:], y[oc*oh*ow:(oc+1)*oh*ow]
		for r := range oh {
			out, in := dst[r*ow:(r+1)*ow], src[r*s.wp:r*s.wp+ow]
			for i, v := range in {
				out[i] = v + b
			}
		}
	}
}
