package onnxtrain

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() { register(buildConv, "Conv") }

// conv is a 2-D convolution with groups, as im2col and a matrix product
// per chunk of images and group. Its gradients: dW = dY cols^T, dX =
// col2im(W^T dY), dB = the sum of dY over images and pixels.
//
// A chunk's images lie side by side in one wide column matrix, so that one
// matrix product covers them: one image's product is often too narrow (a
// few hundred columns) for the matrix kernel to run at its speed.
type conv struct {
	window
	m, group int
	bias     bool
	chunk    int // images per matrix product
	// cw is the distance between output rows in the columns, and pw an
	// image's columns: at stride 1 output rows are laid out as far apart as
	// input rows (cw = w, pw = (oh-1)*w+ow), so that a tap's columns are
	// one span of the input; the outputs in the ow..w-1 gaps are dropped,
	// and dY there is zero. Otherwise cw = ow and pw = oh*ow.
	cw, pw  int
	scratch [][]float32 // per worker: the chunk's columns, then its outputs or dY
	partial [][]float32 // per worker: dW and dB
	// shift, when not nil, runs the passes instead of the columns above,
	// which are then not allocated.
	shift *convShift
}

// colsBudget bounds one worker's scratch, in floats (a chunk's columns and
// its outputs or dY), so that it and the product's packed panels stay
// within a core's L2 cache, unless one image alone needs more; colsTarget
// is the width past which a wider product gains little.
const (
	colsBudget = 96 << 10
	colsTarget = 1024
)

func buildConv(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	x, w := in[0], in[1]
	if w == nil || len(w.shape) != 4 {
		return nil, nil, fmt.Errorf("weight of shape %v: lenetkit trains 2-D convolutions only", shapeOf(w))
	}
	win, err := readWindow(n, x.shape, w.shape[2], w.shape[3], false)
	if err != nil {
		return nil, nil, err
	}
	group, err := n.Attrs.Int("group", 1)
	if err != nil {
		return nil, nil, err
	}
	c := &conv{window: win, m: w.shape[0], group: int(group), bias: len(in) > 2 && in[2] != nil}
	if c.group < 1 || c.c%c.group != 0 || c.m%c.group != 0 || w.shape[1] != c.c/c.group {
		return nil, nil, fmt.Errorf("weight %v with group %d does not fit %d input channels", w.shape, c.group, c.c)
	}
	if c.bias && size(in[2].shape) != c.m {
		return nil, nil, fmt.Errorf("bias of shape %v for %d output channels", in[2].shape, c.m)
	}
	c.cw, c.pw = c.ow, c.oh*c.ow
	if c.sh == 1 && c.sw == 1 && c.ow <= c.w {
		c.cw, c.pw = c.w, (c.oh-1)*c.w+c.ow
	}
	for range kernel.MaxWorkers() {
		c.partial = append(c.partial, make([]float32, size(w.shape)+c.m))
	}
	if c.shiftable() {
		if c.shift, err = newConvShift(c); err == nil {
			return c, []int{c.n, c.m, c.oh, c.ow}, nil
		}
	}
	c.allocColumns()
	return c, []int{c.n, c.m, c.oh, c.ow}, nil
}

// allocColumns sizes the chunks of images and the workers' columns of the
// im2col path.
func (c *conv) allocColumns() {
	c.chunk = chunkImages(c.c/c.group*c.kh*c.kw+c.m/c.group, c.pw, ceilDiv(c.n, kernel.MaxWorkers()))
	if c.depthwise() {
		c.chunk = 0 // the direct loops need no columns
	}
	c.scratch = c.scratch[:0]
	for range kernel.MaxWorkers() {
		c.scratch = append(c.scratch, make([]float32, c.chunk*(c.c/c.group*c.kh*c.kw+c.m/c.group)*c.pw))
	}
}

// dropShift leaves the Shifted path for the im2col one, should a product
// fail to be made in a pass, which the checks at build time rule out.
func (c *conv) dropShift() {
	c.shift = nil
	c.allocColumns()
}

// chunkImages is how many images one product takes, each needing rows x p
// floats of scratch (rows: the columns' and the outputs'): enough for
// colsTarget columns, within colsBudget, at least one, and no more than
// one worker's share of the batch.
func chunkImages(rows, p, share int) int {
	b := min(ceilDiv(colsTarget, p), colsBudget/(rows*p), share)
	return max(b, 1)
}

func shapeOf(v *value) []int {
	if v == nil {
		return nil
	}
	return v.shape
}

func (c *conv) forward(y []float32, in [][]float32) {
	if c.shift != nil {
		if c.shiftForward(y, in) == nil {
			return
		}
		c.dropShift()
	}
	x, w := in[0], in[1]
	kernel.Parallel(c.n, func(wk, lo, hi int) {
		if c.depthwise() {
			for i := lo; i < hi; i++ {
				c.depthwiseForward(y, x, w, i)
			}
			c.addBias(y, in, lo, hi)
			return
		}
		for i0 := lo; i0 < hi; i0 += c.chunk {
			c.forwardChunk(y, in, c.scratch[wk], i0, min(i0+c.chunk, hi))
		}
	})
}

// forwardChunk convolves images [i0, i1) with one product per group. A
// single image whose columns are laid out as y's writes into y; other
// products write into scratch, whose rows are then copied out, the bias
// added on the way.
func (c *conv) forwardChunk(y []float32, in [][]float32, scratch []float32, i0, i1 int) {
	x, w := in[0], in[1]
	cg, mg, k, p := c.c/c.group, c.m/c.group, c.c/c.group*c.kh*c.kw, c.oh*c.ow
	ld := (i1 - i0) * c.pw
	cols, out := scratch[:k*ld], scratch[k*ld:][:mg*ld]
	for g := range c.group {
		for i := i0; i < i1; i++ {
			c.im2col(cols[(i-i0)*c.pw:], ld, x[(i*c.c+g*cg)*c.h*c.w:], cg)
		}
		if i1-i0 == 1 && c.pw == p {
			gemm.Sgemm(false, false, mg, p, k, 1, w[g*mg*k:], k, cols, p, 0, y[(i0*c.m+g*mg)*p:][:mg*p], p)
			continue
		}
		gemm.Sgemm(false, false, mg, ld, k, 1, w[g*mg*k:], k, cols, ld, 0, out, ld)
		for i := i0; i < i1; i++ {
			for o := range mg {
				var b []float32
				if c.bias {
					b = in[2][g*mg+o:]
				}
				c.unwiden(y[(i*c.m+g*mg+o)*p:][:p], out[o*ld+(i-i0)*c.pw:][:c.pw], b)
			}
		}
	}
	if i1-i0 == 1 && c.pw == p {
		c.addBias(y, in, i0, i1)
	}
}

// unwiden copies one output channel's plane from its columns' layout,
// adding bias[0] when bias is not nil.
func (c *conv) unwiden(dst, src, bias []float32) {
	rows, width := c.oh, c.ow
	if c.cw == c.ow {
		rows, width = 1, c.oh*c.ow // one span
	}
	for r := range rows {
		d, s := dst[r*width:][:width], src[r*c.cw:][:width]
		if bias == nil {
			copy(d, s)
			continue
		}
		b := bias[0]
		for j, v := range s {
			d[j] = v + b
		}
	}
}

// widen is unwiden's inverse, with the gaps between rows zeroed.
func (c *conv) widen(dst, src []float32) {
	if c.cw == c.ow {
		copy(dst, src)
		return
	}
	for oy := range c.oh {
		row := dst[oy*c.cw:][:min(c.cw, len(dst)-oy*c.cw)]
		copy(row, src[oy*c.ow:][:c.ow])
		clear(row[c.ow:])
	}
}

func (c *conv) addBias(y []float32, in [][]float32, i0, i1 int) {
	if !c.bias {
		return
	}
	p := c.oh * c.ow
	for i := i0; i < i1; i++ {
		for o, b := range in[2][:c.m] {
			row := y[(i*c.m+o)*p:][:p]
			for j := range row {
				row[j] += b
			}
		}
	}
}

func (c *conv) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	x, w := in[0], in[1]
	nw := len(w)
	for _, part := range c.partial {
		clear(part)
	}
	var gx *gemm.Shifted
	if c.shift != nil && dx[0] != nil {
		var err error
		if gx, err = c.shift.inputGradProduct(c, w); err != nil {
			c.dropShift()
		}
	}
	kernel.Parallel(c.n, func(wk, lo, hi int) {
		dw, db := c.partial[wk][:nw], c.partial[wk][nw:]
		if c.depthwise() {
			for i := lo; i < hi; i++ {
				c.depthwiseBackward(dx[0], dw, dy, x, w, i)
			}
		} else if c.shift != nil {
			c.shiftBackward(dx, dw, db, dy, in, gx, wk, lo, hi)
			return // dB too
		} else {
			for i0 := lo; i0 < hi; i0 += c.chunk {
				c.backwardChunk(dx, dw, dy, x, w, c.scratch[wk], i0, min(i0+c.chunk, hi))
			}
		}
		if len(dx) > 2 && dx[2] != nil {
			p := c.oh * c.ow
			for i := lo; i < hi; i++ {
				for o := range c.m {
					db[o] += sumRow(dy[(i*c.m+o)*p:][:p])
				}
			}
		}
	})
	sumPartials(dx[1], c.partial, 0)
	if len(dx) > 2 {
		sumPartials(dx[2], c.partial, nw)
	}
}

// backwardChunk adds images [i0, i1)'s weight gradient to dw and writes
// their input gradient, one product of each per group. Unless a single
// image's dY is already laid out as its columns, dY's rows are first
// gathered side by side in scratch; the column matrix holds the images'
// columns, then their gradient.
func (c *conv) backwardChunk(dx [][]float32, dw, dy, x, w, scratch []float32, i0, i1 int) {
	cg, mg, k, p := c.c/c.group, c.m/c.group, c.c/c.group*c.kh*c.kw, c.oh*c.ow
	ld := (i1 - i0) * c.pw
	cols := scratch[:k*ld]
	for g := range c.group {
		dyg := dy[(i0*c.m+g*mg)*p:][:mg*p]
		if i1-i0 > 1 || c.pw != p {
			dyg = scratch[k*ld:][:mg*ld]
			for i := i0; i < i1; i++ {
				for o := range mg {
					c.widen(dyg[o*ld+(i-i0)*c.pw:][:c.pw], dy[(i*c.m+g*mg+o)*p:][:p])
				}
			}
		}
		if dx[1] != nil {
			for i := i0; i < i1; i++ {
				c.im2col(cols[(i-i0)*c.pw:], ld, x[(i*c.c+g*cg)*c.h*c.w:], cg)
			}
			gemm.Sgemm(false, true, mg, k, ld, 1, dyg, ld, cols, ld, 1, dw[g*mg*k:], k)
		}
		if dx[0] != nil {
			gemm.Sgemm(true, false, k, ld, mg, 1, w[g*mg*k:], k, dyg, ld, 0, cols, ld)
			for i := i0; i < i1; i++ {
				c.col2im(dx[0][(i*c.c+g*cg)*c.h*c.w:], cols[(i-i0)*c.pw:], ld, cg)
			}
		}
	}
}

// sumPartials writes into dst the sum of the workers' partial results
// starting at off; a nil dst wants none.
func sumPartials(dst []float32, partial [][]float32, off int) {
	if dst == nil {
		return
	}
	clear(dst)
	for _, p := range partial {
		for j := range dst {
			dst[j] += p[off+j]
		}
	}
}

// im2col writes the [cg*kh*kw][pw] matrix of img's cg channels under
// the window, row r at cols[r*ld:], zero where the window is over padding.
// The gaps between output rows hold input pixels, finite when the input
// is.
func (c *conv) im2col(cols []float32, ld int, img []float32, cg int) {
	for ch := range cg {
		plane := img[ch*c.h*c.w : (ch+1)*c.h*c.w]
		for ki := range c.kh {
			oy0, oy1 := c.tapRows(ki)
			for kj := range c.kw {
				row := cols[((ch*c.kh+ki)*c.kw+kj)*ld:][:c.pw]
				lo, hi, ix0 := c.tapSpan(kj)
				if oy0 >= oy1 || lo == hi {
					clear(row)
					continue
				}
				if c.cw == c.w {
					// Output row oy is input row iy shifted by a constant, so
					// the rows are one span of the plane; where that span
					// wraps into padding it is zeroed after.
					a, b := oy0*c.cw+lo, (oy1-1)*c.cw+hi
					clear(row[:a])
					copy(row[a:b], plane[c.tapRow(oy0, ki)*c.w+ix0:])
					clear(row[b:])
					c.clearEdges(row, oy0, oy1, lo, hi)
					continue
				}
				clear(row[:oy0*c.ow])
				clear(row[oy1*c.ow:])
				for oy := oy0; oy < oy1; oy++ {
					out := row[oy*c.ow : (oy+1)*c.ow]
					clear(out[:lo])
					clear(out[hi:])
					src := plane[c.tapRow(oy, ki)*c.w+ix0:]
					if c.sw == 1 {
						copy(out[lo:hi], src)
						continue
					}
					for ox := lo; ox < hi; ox++ {
						out[ox] = src[(ox-lo)*c.sw]
					}
				}
			}
		}
	}
}

// col2im writes the image's cg channels from the columns (row r at
// cols[r*ld:]), the transpose of im2col: every pixel gets the sum of the
// column entries taken from it. Where a tap's columns are one span of the
// input, it zeroes their padding entries first; their gaps are zero.
func (c *conv) col2im(img, cols []float32, ld, cg int) {
	for ch := range cg {
		plane := img[ch*c.h*c.w : (ch+1)*c.h*c.w]
		clear(plane)
		for ki := range c.kh {
			oy0, oy1 := c.tapRows(ki)
			for kj := range c.kw {
				row := cols[((ch*c.kh+ki)*c.kw+kj)*ld:][:c.pw]
				lo, hi, ix0 := c.tapSpan(kj)
				if oy0 >= oy1 || lo == hi {
					continue
				}
				if c.cw == c.w {
					a, b := oy0*c.cw+lo, (oy1-1)*c.cw+hi
					c.clearEdges(row, oy0, oy1, lo, hi)
					addTo(plane[c.tapRow(oy0, ki)*c.w+ix0:], row[a:b])
					continue
				}
				for oy := oy0; oy < oy1; oy++ {
					dst, src := plane[c.tapRow(oy, ki)*c.w+ix0:], row[oy*c.ow+lo:oy*c.ow+hi]
					if c.sw == 1 {
						addTo(dst, src)
						continue
					}
					for j, v := range src {
						dst[j*c.sw] += v
					}
				}
			}
		}
	}
}

// tapRows is the output rows [oy0, oy1) whose window's tap row ki falls
// inside the image.
func (c *conv) tapRows(ki int) (oy0, oy1 int) {
	off := ki*c.dh - c.padT
	oy0 = max(0, ceilDiv(-off, c.sh))
	if c.h-1-off < 0 {
		return oy0, oy0
	}
	return oy0, max(oy0, min(c.oh, (c.h-1-off)/c.sh+1))
}

// clearEdges zeroes, in rows [oy0, oy1) of a tap's row of columns laid
// out cw apart, the entries left of output column lo and from hi to ow:
// those whose tap is over padding. It leaves the gaps between rows: in
// the forward pass their outputs are dropped, and in the backward pass
// dY is zero there, so they add nothing to dW and their dX columns are
// zero.
func (c *conv) clearEdges(row []float32, oy0, oy1, lo, hi int) {
	if lo == 0 && hi == c.ow {
		return
	}
	// Column by column: there are a few, and down a column the stores
	// need no slicing per row.
	last := (oy1 - 1) * c.cw
	for x := 0; x < c.ow; x++ {
		if x == lo {
			x = max(hi, lo)
			if x >= c.ow {
				break
			}
		}
		for j := oy0*c.cw + x; j <= last+x; j += c.cw {
			row[j] = 0
		}
	}
}

// sumRow adds up v in four interleaved partial sums: one running sum waits
// on each add's latency.
func sumRow(v []float32) float32 {
	var s0, s1, s2, s3 float32
	for len(v) >= 4 {
		q := v[:4:4]
		s0, s1, s2, s3 = s0+q[0], s1+q[1], s2+q[2], s3+q[3]
		v = v[4:]
	}
	for _, x := range v {
		s0 += x
	}
	return (s0 + s1) + (s2 + s3)
}

// addTo adds src to dst's leading elements, four at a time: the compiler
// does not vectorise, and unrolled the loop runs about twice as fast.
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	for len(src) >= 4 {
		d, s := dst[:4:4], src[:4:4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
		dst, src = dst[4:], src[4:]
	}
	for j, v := range src {
		dst[j] += v
	}
}
