package onnxtrain

import (
	"fmt"

	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() { register(buildConv, "Conv") }

// conv is a 2-D convolution with groups, as im2col and a matrix product per
// image and group. Its gradients: dW = dY cols^T, dX = col2im(W^T dY),
// dB = the sum of dY over images and pixels.
type conv struct {
	window
	m, group int
	bias     bool
	scratch  [][]float32 // per worker: cols, then dcols
	partial  [][]float32 // per worker: dW and dB
}

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
	k := c.c / c.group * c.kh * c.kw
	for range kernel.MaxWorkers() {
		c.scratch = append(c.scratch, make([]float32, 2*k*c.oh*c.ow))
		c.partial = append(c.partial, make([]float32, size(w.shape)+c.m))
	}
	return c, []int{c.n, c.m, c.oh, c.ow}, nil
}

func shapeOf(v *value) []int {
	if v == nil {
		return nil
	}
	return v.shape
}

func (c *conv) forward(y []float32, in [][]float32) {
	x, w := in[0], in[1]
	cg, mg, k, p := c.c/c.group, c.m/c.group, c.c/c.group*c.kh*c.kw, c.oh*c.ow
	kernel.Parallel(c.n, func(wk, lo, hi int) {
		cols := c.scratch[wk][:k*p]
		for i := lo; i < hi; i++ {
			groups := c.group // run as im2col and a matrix product each
			if c.depthwise() {
				c.depthwiseForward(y, x, w, i)
				groups = 0
			}
			for g := range groups {
				img := x[(i*c.c+g*cg)*c.h*c.w:]
				c.im2col(cols, img, cg)
				out := y[(i*c.m+g*mg)*p : (i*c.m+(g+1)*mg)*p]
				gemm.Sgemm(false, false, mg, p, k, 1, w[g*mg*k:], k, cols, p, 0, out, p)
			}
			if c.bias {
				for o := range c.m {
					b, row := in[2][o], y[(i*c.m+o)*p:(i*c.m+o+1)*p]
					for j := range row {
						row[j] += b
					}
				}
			}
		}
	})
}

func (c *conv) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	x, w := in[0], in[1]
	cg, mg, k, p := c.c/c.group, c.m/c.group, c.c/c.group*c.kh*c.kw, c.oh*c.ow
	nw := len(w)
	for _, part := range c.partial {
		clear(part)
	}
	kernel.Parallel(c.n, func(wk, lo, hi int) {
		cols, dcols := c.scratch[wk][:k*p], c.scratch[wk][k*p:2*k*p]
		dw, db := c.partial[wk][:nw], c.partial[wk][nw:]
		for i := lo; i < hi; i++ {
			groups := c.group
			if c.depthwise() {
				c.depthwiseBackward(dx[0], dw, dy, x, w, i)
				groups = 0
			}
			for g := range groups {
				dyg := dy[(i*c.m+g*mg)*p : (i*c.m+(g+1)*mg)*p]
				if dx[1] != nil {
					c.im2col(cols, x[(i*c.c+g*cg)*c.h*c.w:], cg)
					gemm.Sgemm(false, true, mg, k, p, 1, dyg, p, cols, p, 1, dw[g*mg*k:], k)
				}
				if dx[0] != nil {
					gemm.Sgemm(true, false, k, p, mg, 1, w[g*mg*k:], k, dyg, p, 0, dcols, p)
					c.col2im(dx[0][(i*c.c+g*cg)*c.h*c.w:], dcols, cg)
				}
			}
			if len(dx) > 2 && dx[2] != nil {
				for o := range c.m {
					var s float32
					for _, v := range dy[(i*c.m+o)*p : (i*c.m+o+1)*p] {
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
// the window, zero where the window is over padding. Each (tap, output
// row) is one span of the input row, copied, or strided for stride > 1.
func (c *conv) im2col(cols, img []float32, cg int) {
	p := c.oh * c.ow
	for ch := range cg {
		plane := img[ch*c.h*c.w : (ch+1)*c.h*c.w]
		for ki := range c.kh {
			for kj := range c.kw {
				row := cols[((ch*c.kh+ki)*c.kw+kj)*p:][:p]
				lo, hi, ix0 := c.tapSpan(kj)
				for oy := range c.oh {
					out := row[oy*c.ow : (oy+1)*c.ow]
					iy := c.tapRow(oy, ki)
					if iy < 0 || lo == hi {
						clear(out)
						continue
					}
					clear(out[:lo])
					clear(out[hi:])
					src := plane[iy*c.w+ix0:]
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

// col2im writes the image's cg channels from the columns, the transpose
// of im2col: every pixel gets the sum of the column entries taken from it.
func (c *conv) col2im(img, cols []float32, cg int) {
	p := c.oh * c.ow
	for ch := range cg {
		plane := img[ch*c.h*c.w : (ch+1)*c.h*c.w]
		clear(plane)
		for ki := range c.kh {
			for kj := range c.kw {
				row := cols[((ch*c.kh+ki)*c.kw+kj)*p:][:p]
				lo, hi, ix0 := c.tapSpan(kj)
				for oy := range c.oh {
					iy := c.tapRow(oy, ki)
					if iy < 0 {
						continue
					}
					dst, src := plane[iy*c.w+ix0:], row[oy*c.ow:(oy+1)*c.ow]
					for ox := lo; ox < hi; ox++ {
						dst[(ox-lo)*c.sw] += src[ox]
					}
				}
			}
		}
	}
}
