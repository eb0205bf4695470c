package onnxtrain

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/poolk"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	register(buildMaxPool, "MaxPool")
	register(buildAveragePool, "AveragePool")
	register(buildGlobalAveragePool, "GlobalAveragePool")
}

// maxPool keeps, for every output, the index of the input it took, and
// sends the output's gradient back there (the first maximum, as PyTorch).
type maxPool struct {
	window
	arg []int32
}

func buildMaxPool(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return nil, nil, fmt.Errorf("the Indices output is not supported in training")
	}
	ceil, err := n.Attrs.Int("ceil_mode", 0)
	if err != nil {
		return nil, nil, err
	}
	win, err := readWindow(n, in[0].shape, 0, 0, ceil != 0)
	if err != nil {
		return nil, nil, err
	}
	if win.kh == 0 {
		return nil, nil, fmt.Errorf("kernel_shape is missing")
	}
	p := &maxPool{window: win, arg: make([]int32, win.n*win.c*win.oh*win.ow)}
	return p, []int{win.n, win.c, win.oh, win.ow}, nil
}

func (p *maxPool) forward(y []float32, in [][]float32) {
	x, hw, ohw := in[0], p.h*p.w, p.oh*p.ow
	kernel.Parallel(p.n*p.c, func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			plane := x[pl*hw : (pl+1)*hw]
			if p.inside() {
				p.planeInside(y[pl*ohw:(pl+1)*ohw], p.arg[pl*ohw:(pl+1)*ohw], plane)
				continue
			}
			for oy := range p.oh {
				for ox := range p.ow {
					best, at := float32(math.Inf(-1)), int32(-1)
					for ki := range p.kh {
						iy := oy*p.sh - p.padT + ki*p.dh
						if iy < 0 || iy >= p.h {
							continue
						}
						for kj := range p.kw {
							ix := ox*p.sw - p.padL + kj*p.dw
							if ix >= 0 && ix < p.w && (at < 0 || plane[iy*p.w+ix] > best) {
								best, at = plane[iy*p.w+ix], int32(iy*p.w+ix)
							}
						}
					}
					o := pl*ohw + oy*p.ow + ox
					y[o], p.arg[o] = best, at
				}
			}
		}
	})
}

// inside reports whether every window lies inside the image: no padding
// is read, and no bounds need checking.
func (p *maxPool) inside() bool {
	return p.padT == 0 && p.padL == 0 && (p.oh-1)*p.sh+(p.kh-1)*p.dh < p.h && (p.ow-1)*p.sw+(p.kw-1)*p.dw < p.w
}

// planeInside pools one plane whose windows are all inside it.
func (p *maxPool) planeInside(y []float32, arg []int32, plane []float32) {
	if p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.dh == 1 && p.dw == 1 {
		p.plane2x2(y, arg, plane)
		return
	}
	for oy := range p.oh {
		for ox := range p.ow {
			at := (oy*p.sh)*p.w + ox*p.sw
			best := plane[at]
			for ki := range p.kh {
				row := (oy*p.sh+ki*p.dh)*p.w + ox*p.sw
				for kj := range p.kw {
					if v := plane[row+kj*p.dw]; v > best {
						best, at = v, row+kj*p.dw
					}
				}
			}
			y[oy*p.ow+ox], arg[oy*p.ow+ox] = best, int32(at)
		}
	}
}

// plane2x2 is planeInside for the common 2x2 window of stride 2, on
// poolk's kernels. Ties go to the first candidate, as in the general loop,
// except that +0 counts above -0 and a positive NaN above any number
// (poolk compares orderedBits).
func (p *maxPool) plane2x2(y []float32, arg []int32, plane []float32) {
	poolk.Max2x2(y, arg, plane, p.w, p.oh, p.ow)
}

func (p *maxPool) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	hw, ohw := p.h*p.w, p.oh*p.ow
	kernel.Parallel(p.n*p.c, func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			plane := dx[0][pl*hw : (pl+1)*hw]
			if p.tiles2x2() {
				p.back2x2(plane, dy[pl*ohw:(pl+1)*ohw], p.arg[pl*ohw:(pl+1)*ohw])
				continue
			}
			clear(plane)
			for o := pl * ohw; o < (pl+1)*ohw; o++ {
				if a := p.arg[o]; a >= 0 {
					plane[a] += dy[o]
				}
			}
		}
	})
}

// tiles2x2 reports whether 2x2 windows of stride 2 tile the image
// exactly, so that every input pixel is in exactly one window.
func (p *maxPool) tiles2x2() bool {
	return p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.dh == 1 && p.dw == 1 &&
		p.padT == 0 && p.padL == 0 && p.h == 2*p.oh && p.w == 2*p.ow
}

// back2x2 writes every pixel of an exactly tiled plane: its window's
// gradient where it was the maximum, else zero.
func (p *maxPool) back2x2(plane, dy []float32, arg []int32) {
	poolk.Back2x2(plane, dy, arg, p.w, p.oh, p.ow)
}

// avgPool averages each window over the pixels inside the image, or, with
// count_include_pad, over the window's size within the padding.
type avgPool struct {
	window
	includePad bool
}

func buildAveragePool(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	ceil, err := n.Attrs.Int("ceil_mode", 0)
	if err != nil {
		return nil, nil, err
	}
	inc, err := n.Attrs.Int("count_include_pad", 0)
	if err != nil {
		return nil, nil, err
	}
	win, err := readWindow(n, in[0].shape, 0, 0, ceil != 0)
	if err != nil {
		return nil, nil, err
	}
	if win.kh == 0 {
		return nil, nil, fmt.Errorf("kernel_shape is missing")
	}
	if win.dh != 1 || win.dw != 1 {
		return nil, nil, fmt.Errorf("dilated average pooling is not supported in training")
	}
	return &avgPool{window: win, includePad: inc != 0}, []int{win.n, win.c, win.oh, win.ow}, nil
}

// span is an output's window clipped to the image, and its divisor.
func (p *avgPool) span(oy, ox int) (y0, y1, x0, x1 int, div float32) {
	y0, x0 = oy*p.sh-p.padT, ox*p.sw-p.padL
	y1, x1 = min(y0+p.kh, p.h+p.padB), min(x0+p.kw, p.w+p.padR)
	padded := (y1 - y0) * (x1 - x0)
	y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, p.h), min(x1, p.w)
	if p.includePad {
		return y0, y1, x0, x1, float32(padded)
	}
	return y0, y1, x0, x1, float32((y1 - y0) * (x1 - x0))
}

func (p *avgPool) forward(y []float32, in [][]float32) {
	x, hw, ohw := in[0], p.h*p.w, p.oh*p.ow
	kernel.Parallel(p.n*p.c, func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			plane, out := x[pl*hw:(pl+1)*hw], y[pl*ohw:(pl+1)*ohw]
			if p.tiles2x2() {
				p.plane2x2(out, plane)
				continue
			}
			for oy := range p.oh {
				for ox := range p.ow {
					y0, y1, x0, x1, div := p.span(oy, ox)
					var s float32
					for iy := y0; iy < y1; iy++ {
						for _, v := range plane[iy*p.w+x0 : iy*p.w+x1] {
							s += v
						}
					}
					out[oy*p.ow+ox] = s / div
				}
			}
		}
	})
}

// tiles2x2 reports whether 2x2 windows of stride 2 tile the image
// exactly: no padding, every pixel in exactly one window of four.
func (p *avgPool) tiles2x2() bool {
	return p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 &&
		p.padT == 0 && p.padL == 0 && p.h == 2*p.oh && p.w == 2*p.ow
}

// plane2x2 is forward on one exactly tiled plane, adding in the general
// loop's order; a quarter is exact, as the general loop's division by 4.
func (p *avgPool) plane2x2(y, plane []float32) {
	for oy := range p.oh {
		ys := y[oy*p.ow : (oy+1)*p.ow]
		top := plane[2*oy*p.w:][:2*len(ys)]
		bot := plane[(2*oy+1)*p.w:][:len(top)]
		for ox := range ys {
			ys[ox] = (top[2*ox] + top[2*ox+1] + bot[2*ox] + bot[2*ox+1]) * 0.25
		}
	}
}

func (p *avgPool) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	hw, ohw := p.h*p.w, p.oh*p.ow
	kernel.Parallel(p.n*p.c, func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			plane, g := dx[0][pl*hw:(pl+1)*hw], dy[pl*ohw:(pl+1)*ohw]
			if p.tiles2x2() {
				p.back2x2(plane, g)
				continue
			}
			clear(plane)
			for oy := range p.oh {
				for ox := range p.ow {
					y0, y1, x0, x1, div := p.span(oy, ox)
					for iy := y0; iy < y1; iy++ {
						row := plane[iy*p.w+x0 : iy*p.w+x1]
						for j := range row {
							row[j] += g[oy*p.ow+ox] / div
						}
					}
				}
			}
		}
	})
}

// back2x2 is backward on one exactly tiled plane: each pixel gets a
// quarter of its window's gradient, written once.
func (p *avgPool) back2x2(plane, dy []float32) {
	for oy := range p.oh {
		gs := dy[oy*p.ow : (oy+1)*p.ow]
		top := plane[2*oy*p.w:][:2*len(gs)]
		bot := plane[(2*oy+1)*p.w:][:len(top)]
		for ox, g := range gs {
			g *= 0.25
			top[2*ox], top[2*ox+1], bot[2*ox], bot[2*ox+1] = g, g, g, g
		}
	}
}

// globalAvgPool is the mean of each channel's plane.
type globalAvgPool struct{ planes, hw int }

func buildGlobalAveragePool(b *builder, n *onnx.Node, in []*value) (layer, []int, error) {
	s := in[0].shape
	if len(s) < 3 {
		return nil, nil, fmt.Errorf("input of shape %v: want [N, C, spatial...]", s)
	}
	out := []int{s[0], s[1]}
	for range s[2:] {
		out = append(out, 1)
	}
	return &globalAvgPool{planes: s[0] * s[1], hw: size(s[2:])}, out, nil
}

// forward sums each plane with four accumulators, so that the additions
// overlap rather than wait each on the one before.
func (p *globalAvgPool) forward(y []float32, in [][]float32) {
	kernel.Parallel(p.planes, func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			v := in[0][pl*p.hw : (pl+1)*p.hw]
			var s0, s1, s2, s3 float32
			j := 0
			for ; j+4 <= len(v); j += 4 {
				w := v[j : j+4 : j+4]
				s0, s1, s2, s3 = s0+w[0], s1+w[1], s2+w[2], s3+w[3]
			}
			for ; j < len(v); j++ {
				s0 += v[j]
			}
			y[pl] = ((s0 + s1) + (s2 + s3)) / float32(p.hw)
		}
	})
}

// backward fills each plane by doubling copies, which memmove runs in
// vectors.
func (p *globalAvgPool) backward(dx [][]float32, dy, _ []float32, _ [][]float32) {
	if p.hw == 0 {
		return
	}
	kernel.Parallel(p.planes, func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			row := dx[0][pl*p.hw : (pl+1)*p.hw]
			row[0] = dy[pl] / float32(p.hw)
			for k := 1; k < len(row); k *= 2 {
				copy(row[k:], row[:k])
			}
		}
	})
}
