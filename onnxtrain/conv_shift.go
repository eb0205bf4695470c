package onnxtrain

import (
	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/kernel"
)

// convShift runs a stride-1, undilated, ungrouped convolution's forward
// pass and input gradient as gemm.Shifted products, which read the
// padded image in place: an im2col matrix, and Sgemm's second copy of it
// into its panels, cost a pass each over k times the image, where the
// product's arithmetic is only m times k per pixel.
//
// Forward: the image is copied into planes of rows wp = w+max(padL, padR)
// apart (a row's right padding is the next row's left padding), and the
// output computed "flat", at q = oy*wp + ox, of which the columns ox >= ow
// are dropped; tap (ch, ki, kj) reads the plane at q + ch*plane + ki*wp +
// kj.
//
// Input gradient: the full correlation of dY, padded by kh-1-padT rows and
// kw-1-padL columns, rows wq apart (wq = wp by the same sharing), with the
// flipped, transposed weights, dX[ch][y][x] = sum over (o, a, b) of
// W[o][ch][kh-1-a][kw-1-b] * dYp[o][y+a][x+b]: again a stride-1
// convolution, flat at q = y*wq + x.
//
// The weight gradient's sum runs over pixels, which a Shifted product
// cannot take: it stays an Sgemm of dY, widened to rows wp apart, by the
// columns, each tap's row one copy out of the padded plane.
type convShift struct {
	nr, mr         int // the Shifted tile
	wp, n, plane   int // forward: row stride, flat columns, channel stride
	wq, nq, planeQ int // input gradient: the same
	offF, offB     []int
	// Per worker: one padded image (its padding zero, as Pad never writes
	// there), one padded dY (likewise), and a flat output.
	xp, dyp, flat [][]float32
	wt            []float32 // the flipped, transposed weights: c x m*kh*kw
	// The weight gradient's products: chunk images each, an image's
	// columns pw wide, rows ld = chunk*pw apart whatever a chunk's images
	// (so that what is zero in one chunk's layout is in every one's); per
	// worker, kp rows of columns (the taps, then a row of ones, so that
	// the product sums dY into dB, and a row of zeros if need be: Sgemm
	// transposes an even number of rows at its speed) then the widened
	// dY, and dW of kp columns.
	chunk, pw, ld, kp int
	cols, dw          [][]float32
	// colGrad says dX is col2im of W^T dY instead, added up in a padded
	// plane per worker (dxp): with few input channels, the Shifted
	// product's rows, c rounded up to its tile, would be mostly waste.
	colGrad bool
	dxp     [][]float32
}

// shiftable says whether c runs on convShift: stride 1, no dilation, one
// group, and pads at most the kernel's size less one (the full
// correlation then holds dY inside its padded plane).
func (c *conv) shiftable() bool {
	return c.sh == 1 && c.sw == 1 && c.dh == 1 && c.dw == 1 && c.group == 1 &&
		c.padT < c.kh && c.padB < c.kh && c.padL < c.kw && c.padR < c.kw
}

func newConvShift(c *conv) (*convShift, error) {
	probe, err := gemm.NewShifted(1, 1, []float32{0}, 1, []int{0}, nil)
	if err != nil {
		return nil, err
	}
	s := &convShift{nr: probe.Width(), mr: probe.Rows()}
	// A row's right padding and the next row's left padding can be the
	// same zeros: a window reading past its row's end finds the next
	// row's left padding, zero as its own right padding would be. So the
	// rows are w + max(padL, padR) apart, and as much for dY, whose pads in
	// the full correlation are kw-1-padL and kw-1-padR around ow columns.
	s.wp = c.w + max(c.padL, c.padR)
	s.n = roundTo(c.oh*s.wp, s.nr)
	s.plane = s.n + (c.kh-1)*s.wp + c.kw - 1
	s.wq = s.wp
	s.nq = roundTo(c.h*s.wq, s.nr)
	s.planeQ = s.nq + (c.kh-1)*s.wq + c.kw - 1
	s.offF = tapOffsets(c.c, c.kh, c.kw, s.plane, s.wp)
	s.offB = tapOffsets(c.m, c.kh, c.kw, s.planeQ, s.wq)
	s.colGrad = 4*c.c <= s.mr
	flat := roundTo(c.m, s.mr) * s.n
	if !s.colGrad {
		flat = max(flat, roundTo(c.c, s.mr)*s.nq)
	}
	for range kernel.MaxWorkers() {
		s.xp = append(s.xp, make([]float32, c.c*s.plane))
		s.flat = append(s.flat, make([]float32, flat))
		if s.colGrad {
			s.dxp = append(s.dxp, make([]float32, c.c*s.plane))
		} else {
			s.dyp = append(s.dyp, make([]float32, c.m*s.planeQ))
		}
	}
	s.wt = make([]float32, c.c*c.m*c.kh*c.kw)
	// The products the layer will make, on its shapes: any error shows
	// here rather than in a pass.
	k := c.c * c.kh * c.kw
	if _, err := gemm.NewShifted(c.m, k, make([]float32, c.m*k), k, s.offF, nil); err != nil {
		return nil, err
	}
	if _, err := gemm.NewShifted(c.c, c.m*c.kh*c.kw, s.wt, c.m*c.kh*c.kw, s.offB, nil); err != nil {
		return nil, err
	}
	pw := (c.oh-1)*s.wp + c.ow
	s.setChunk(c, chunkImages(k+c.m, pw, ceilDiv(c.n, kernel.MaxWorkers())))
	return s, nil
}

func roundTo(n, unit int) int { return ceilDiv(n, unit) * unit }

// tapOffsets is each tap's offset, channel by channel, in planes of the
// given size with rows stride apart.
func tapOffsets(ch, kh, kw, plane, stride int) []int {
	off := make([]int, 0, ch*kh*kw)
	for c := range ch {
		for ki := range kh {
			for kj := range kw {
				off = append(off, c*plane+ki*stride+kj)
			}
		}
	}
	return off
}

// pad copies image i's channels into the worker's padded planes.
func (s *convShift) pad(c *conv, xp, x []float32, i int) {
	hw := c.h * c.w
	for ch := range c.c {
		img := x[(i*c.c+ch)*hw:][:hw]
		dst := xp[ch*s.plane+c.padT*s.wp+c.padL:]
		for r := range c.h {
			copy(dst[r*s.wp:][:c.w], img[r*c.w:][:c.w])
		}
	}
}

// shiftForward is conv.forward on Shifted products, one image at a time.
func (c *conv) shiftForward(y []float32, in [][]float32) error {
	s := c.shift
	var bias []float32
	if c.bias {
		bias = in[2]
	}
	k := c.c * c.kh * c.kw
	g, err := gemm.NewShifted(c.m, k, in[1], k, s.offF, bias)
	if err != nil {
		return err
	}
	p := c.oh * c.ow
	kernel.Parallel(c.n, func(wk, lo, hi int) {
		xp, flat := s.xp[wk], s.flat[wk]
		for i := lo; i < hi; i++ {
			s.pad(c, xp, in[0], i)
			for j := 0; j < s.n; j += s.nr {
				g.Mul(xp, j, flat[j:], s.n)
			}
			for o := range c.m {
				crop(y[(i*c.m+o)*p:][:p], flat[o*s.n:], c.oh, c.ow, s.wp)
			}
		}
	})
	return nil
}

// crop copies rows rows of width floats, stride apart in src, into dst.
func crop(dst, src []float32, rows, width, stride int) {
	for r := range rows {
		copy(dst[r*width:][:width], src[r*stride:][:width])
	}
}

// flipWeights writes s.wt[ch][o][a][b] = w[o][ch][kh-1-a][kw-1-b].
func (s *convShift) flipWeights(c *conv, w []float32) {
	taps := c.kh * c.kw
	for o := range c.m {
		for ch := range c.c {
			src := w[(o*c.c+ch)*taps:][:taps]
			dst := s.wt[(ch*c.m+o)*taps:][:taps]
			for t, v := range src {
				dst[taps-1-t] = v
			}
		}
	}
}

// setChunk sizes the weight gradient's products at b images each: a
// worker's columns and widened dY, k+m rows of b*pw floats, pw the span of
// an image's flat output, (oh-1)*wp + ow.
func (s *convShift) setChunk(c *conv, b int) {
	s.chunk, s.pw = b, (c.oh-1)*s.wp+c.ow
	s.ld, s.kp = b*s.pw, roundTo(c.c*c.kh*c.kw+1, 2)
	s.cols, s.dw = s.cols[:0], s.dw[:0]
	for range kernel.MaxWorkers() {
		cols := make([]float32, (s.kp+c.m)*s.ld)
		if s.kp > c.c*c.kh*c.kw {
			for j := range s.ld {
				cols[c.c*c.kh*c.kw*s.ld+j] = 1
			}
		}
		s.cols = append(s.cols, cols)
		s.dw = append(s.dw, make([]float32, c.m*s.kp))
	}
}

// shiftBackward is the backward pass's work for images [lo, hi) on the
// Shifted layout, dB's included: gx, the input gradient's product, is nil
// when dX is not wanted.
func (c *conv) shiftBackward(dx [][]float32, dw, db, dy []float32, in [][]float32, gx *gemm.Shifted, wk, lo, hi int) {
	s := c.shift
	k, p, ld := c.c*c.kh*c.kw, c.oh*c.ow, s.ld
	cols, dyw, dwp := s.cols[wk][:s.kp*ld], s.cols[wk][s.kp*ld:][:c.m*ld], s.dw[wk]
	clear(dwp)
	for i0 := lo; i0 < hi; i0 += s.chunk {
		i1 := min(i0+s.chunk, hi)
		for i := i0; i < i1; i++ {
			if dx[1] != nil {
				s.pad(c, s.xp[wk], in[0], i)
				for l, o := range s.offF {
					copy(cols[l*ld+(i-i0)*s.pw:][:s.pw], s.xp[wk][o:])
				}
			}
			if dx[1] != nil || s.colGrad && dx[0] != nil {
				for o := range c.m {
					s.widen(c, dyw[o*ld+(i-i0)*s.pw:], dy[(i*c.m+o)*p:][:p])
				}
			}
			if gx != nil {
				s.inputGrad(c, gx, dx[0], dy, wk, i)
			}
		}
		if dx[1] != nil {
			gemm.Sgemm(false, true, c.m, s.kp, (i1-i0)*s.pw, 1, dyw, ld, cols, ld, 1, dwp, s.kp)
		}
		if s.colGrad && dx[0] != nil {
			s.colInputGrad(c, dx[0], in[1], cols, dyw, wk, i0, i1)
		}
	}
	if dx[1] != nil {
		for o := range c.m {
			addTo(dw[o*k:][:k], dwp[o*s.kp:][:k])
		}
	}
	if len(dx) < 3 || dx[2] == nil {
		return
	}
	if dx[1] != nil && s.kp > k {
		for o := range c.m {
			db[o] += dwp[o*s.kp+k] // the row of ones'
		}
		return
	}
	for i := lo; i < hi; i++ {
		for o := range c.m {
			db[o] += sumRow(dy[(i*c.m+o)*p:][:p])
		}
	}
}

// widen lays one channel's dY plane out at rows wp apart. The gaps,
// where the columns hold pixels of the padded plane that must add
// nothing to dW, stay zero: nothing writes them.
func (s *convShift) widen(c *conv, dst, src []float32) {
	for r := range c.oh {
		copy(dst[r*s.wp:][:c.ow], src[r*c.ow:][:c.ow])
	}
}

// inputGrad writes image i's dX: dY padded for the full correlation, its
// product with the flipped weights, cropped.
func (s *convShift) inputGrad(c *conv, gx *gemm.Shifted, dx, dy []float32, wk, i int) {
	dyp, flat := s.dyp[wk], s.flat[wk]
	p := c.oh * c.ow
	top, left := c.kh-1-c.padT, c.kw-1-c.padL
	for o := range c.m {
		src := dy[(i*c.m+o)*p:][:p]
		dst := dyp[o*s.planeQ+top*s.wq+left:]
		for r := range c.oh {
			copy(dst[r*s.wq:][:c.ow], src[r*c.ow:][:c.ow])
		}
	}
	for j := 0; j < s.nq; j += s.nr {
		gx.Mul(dyp, j, flat[j:], s.nq)
	}
	hw := c.h * c.w
	for ch := range c.c {
		crop(dx[(i*c.c+ch)*hw:][:hw], flat[ch*s.nq:], c.h, c.w, s.wq)
	}
}

// inputGradProduct packs the flipped weights for the input gradient.
// It returns nil when dX is col2im's.
func (s *convShift) inputGradProduct(c *conv, w []float32) (*gemm.Shifted, error) {
	if s.colGrad {
		return nil, nil
	}
	s.flipWeights(c, w)
	k := c.m * c.kh * c.kw
	return gemm.NewShifted(c.c, k, s.wt, k, s.offB, nil)
}

// colInputGrad writes images [i0, i1)'s dX as col2im of W^T dY, dY widened
// in dyw: tap l's row of the product adds into the padded plane at the
// tap's offset, one span, as im2col read it; the padding and the gaps
// gather what dY's zeros there make, and the crop drops them.
func (s *convShift) colInputGrad(c *conv, dx, w, cols, dyw []float32, wk, i0, i1 int) {
	k, ld := c.c*c.kh*c.kw, s.ld
	gemm.Sgemm(true, false, k, (i1-i0)*s.pw, c.m, 1, w, k, dyw, ld, 0, cols, ld)
	dxp, hw := s.dxp[wk], c.h*c.w
	for i := i0; i < i1; i++ {
		clear(dxp)
		for l, off := range s.offF {
			addTo(dxp[off:], cols[l*ld+(i-i0)*s.pw:][:s.pw])
		}
		for ch := range c.c {
			crop(dx[(i*c.c+ch)*hw:][:hw], dxp[ch*s.plane+c.padT*s.wp+c.padL:], c.h, c.w, s.wp)
		}
	}
}
