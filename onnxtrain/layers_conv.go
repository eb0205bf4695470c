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
	chunk    int         // images per matrix product
	scratch  [][]float32 // per worker: the chunk's columns, then its outputs or dY
	partial  [][]float32 // per worker: dW and dB
}

// colsBudget bounds one worker's column matrix, in floats, so that it and
// the product's packed panels stay within a core's L2 cache; colsTarget
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
	c.chunk = chunkImages(c.c/c.group*c.kh*c.kw, c.oh*c.ow, ceilDiv(c.n, kernel.MaxWorkers()))
	if c.depthwise() {
		c.chunk = 0 // the direct loops need no columns
	}
	for range kernel.MaxWorkers() {
		c.scratch = append(c.scratch, make([]float32, c.chunk*(c.c/c.group*c.kh*c.kw+c.m/c.group)*c.oh*c.ow))
		c.partial = append(c.partial, make([]float32, size(w.shape)+c.m))
	}
	return c, []int{c.n, c.m, c.oh, c.ow}, nil
}

// chunkImages is how many images of k x p columns one product takes: enough
// for colsTarget columns, within colsBudget, at least one, and no more than
// one worker's share of the batch.
func chunkImages(k, p, share int) int {
	b := min(ceilDiv(colsTarget, p), colsBudget/(k*p), share)
	return max(b, 1)
}

func shapeOf(v *value) []int {
	if v == nil {
		return nil
	}
	return v.shape
}

func (c *conv) forward(y []float32, in [][]float32) {
	x, w := in[0], in[1]
	kernel.Parallel(c.n, func(wk, lo, hi int) {
		if c.depthwise() {
			for i := lo; i < hi; i++ {
				c.depthwiseForward(y, x, w, i)
			}
		} else {
			for i0 := lo; i0 < hi; i0 += c.chunk {
				c.forwardChunk(y, x, w, c.scratch[wk], i0, min(i0+c.chunk, hi))
			}
		}
		c.addBias(y, in, lo, hi)
	})
}

// forwardChunk convolves images [i0, i1) with one product per group. A
// single image's product writes into y; a wider one into scratch, whose
// rows are then copied out image by image.
func (c *conv) forwardChunk(y, x, w, scratch []float32, i0, i1 int) {
	cg, mg, k, p := c.c/c.group, c.m/c.group, c.c/c.group*c.kh*c.kw, c.oh*c.ow
	ld := (i1 - i0) * p
	cols, out := scratch[:k*ld], scratch[k*ld:][:mg*ld]
	for g := range c.group {
		for i := i0; i < i1; i++ {
			c.im2col(cols[(i-i0)*p:], ld, x[(i*c.c+g*cg)*c.h*c.w:], cg)
		}
		if i1-i0 == 1 {
			gemm.Sgemm(false, false, mg, p, k, 1, w[g*mg*k:], k, cols, p, 0, y[(i0*c.m+g*mg)*p:][:mg*p], p)
			continue
		}
		gemm.Sgemm(false, false, mg, ld, k, 1, w[g*mg*k:], k, cols, ld, 0, out, ld)
		for i := i0; i < i1; i++ {
			for o := range mg {
				copy(y[(i*c.m+g*mg+o)*p:][:p], out[o*ld+(i-i0)*p:][:p])
			}
		}
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
	kernel.Parallel(c.n, func(wk, lo, hi int) {
		dw, db := c.partial[wk][:nw], c.partial[wk][nw:]
		if c.depthwise() {
			for i := lo; i < hi; i++ {
				c.depthwiseBackward(dx[0], dw, dy, x, w, i)
			}
		} else {
			for i0 := lo; i0 < hi; i0 += c.chunk {
				c.backwardChunk(dx, dw, dy, x, w, c.scratch[wk], i0, min(i0+c.chunk, hi))
			}
		}
		if len(dx) > 2 && dx[2] != nil {
			p := c.oh * c.ow
			for i := lo; i < hi; i++ {
				for o := range c.m {
					var s float32
					for _, v := range dy[(i*c.m+o)*p:][:p] {
						s += v
					}
					db[o] += s
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
// their input gradient, one product of each per group. A chunk of more
// than one image first gathers its dY rows side by side in scratch; the
// column matrix holds the image's columns, then their gradient.
func (c *conv) backwardChunk(dx [][]float32, dw, dy, x, w, scratch []float32, i0, i1 int) {
	cg, mg, k, p := c.c/c.group, c.m/c.group, c.c/c.group*c.kh*c.kw, c.oh*c.ow
	ld := (i1 - i0) * p
	cols := scratch[:k*ld]
	for g := range c.group {
		dyg := dy[(i0*c.m+g*mg)*p:][:mg*p]
		if i1-i0 > 1 {
			dyg = scratch[k*ld:][:mg*ld]
			for i := i0; i < i1; i++ {
				for o := range mg {
					copy(dyg[o*ld+(i-i0)*p:][:p], dy[(i*c.m+g*mg+o)*p:][:p])
				}
			}
		}
		if dx[1] != nil {
			for i := i0; i < i1; i++ {
				c.im2col(cols[(i-i0)*p:], ld, x[(i*c.c+g*cg)*c.h*c.w:], cg)
			}
			gemm.Sgemm(false, true, mg, k, ld, 1, dyg, ld, cols, ld, 1, dw[g*mg*k:], k)
		}
		if dx[0] != nil {
			gemm.Sgemm(true, false, k, ld, mg, 1, w[g*mg*k:], k, dyg, ld, 0, cols, ld)
			for i := i0; i < i1; i++ {
				c.col2im(dx[0][(i*c.c+g*cg)*c.h*c.w:], cols[(i-i0)*p:], ld, cg)
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

// im2col writes the [cg*kh*kw][oh*ow] matrix of img's cg channels under
// the window, row r at cols[r*ld:], zero where the window is over padding.
func (c *conv) im2col(cols []float32, ld int, img []float32, cg int) {
	p := c.oh * c.ow
	for ch := range cg {
		plane := img[ch*c.h*c.w : (ch+1)*c.h*c.w]
		for ki := range c.kh {
			oy0, oy1 := c.tapRows(ki)
			for kj := range c.kw {
				row := cols[((ch*c.kh+ki)*c.kw+kj)*ld:][:p]
				lo, hi, ix0 := c.tapSpan(kj)
				if oy0 >= oy1 || lo == hi {
					clear(row)
					continue
				}
				clear(row[:oy0*c.ow])
				clear(row[oy1*c.ow:])
				if c.flat() {
					// Output row oy is input row iy shifted by a constant, so
					// the rows are one span of the plane; the entries that
					// span wraps into are the padding, zeroed after.
					a, b := oy0*c.ow+lo, (oy1-1)*c.ow+hi
					copy(row[a:b], plane[c.tapRow(oy0, ki)*c.w+ix0:])
					c.clearEdges(row, oy0, oy1, lo, hi)
					continue
				}
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
// column entries taken from it. Where the layout is flat it zeroes the
// columns' padding entries.
func (c *conv) col2im(img, cols []float32, ld, cg int) {
	p := c.oh * c.ow
	for ch := range cg {
		plane := img[ch*c.h*c.w : (ch+1)*c.h*c.w]
		clear(plane)
		for ki := range c.kh {
			oy0, oy1 := c.tapRows(ki)
			for kj := range c.kw {
				row := cols[((ch*c.kh+ki)*c.kw+kj)*ld:][:p]
				lo, hi, ix0 := c.tapSpan(kj)
				if oy0 >= oy1 || lo == hi {
					continue
				}
				if c.flat() {
					a, b := oy0*c.ow+lo, (oy1-1)*c.ow+hi
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

// flat reports whether output rows are as wide as input rows at stride
// 1, so that a tap's rows are one contiguous span of the input.
func (c *conv) flat() bool { return c.sh == 1 && c.sw == 1 && c.ow == c.w }

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

// clearEdges zeroes, in rows [oy0, oy1) of a tap's row of columns, the
// entries outside output columns [lo, hi).
func (c *conv) clearEdges(row []float32, oy0, oy1, lo, hi int) {
	for oy := oy0; oy < oy1; oy++ {
		out := row[oy*c.ow : (oy+1)*c.ow]
		clear(out[:lo])
		clear(out[hi:])
	}
}

// addTo adds src to dst's leading elements.
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	for j, v := range src {
		dst[j] += v
	}
}
