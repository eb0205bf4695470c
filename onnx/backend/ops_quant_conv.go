package backend

// Quantized convolutions: QLinearConv (int8 in, int8 out, through the
// requantization ONNX Runtime computes) and ConvInteger (int32 out), and
// the QDQ Conv that fuseQDQ rewrites as a QLinearConv. Each image, each
// group: an im2col matrix of bytes, padded with the input's zero point
// (the value that stands for 0), times the weights packed once, then the
// epilogue into NCHW.

import (
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func init() {
	registerQuant(register, map[string]handler{"QLinearConv": compileQLinearConv, "ConvInteger": compileConvInteger})
}

func compileQLinearConv(c *compiler, o op) error { return c.qconv(o, true) }
func compileConvInteger(c *compiler, o op) error { return c.qconv(o, false) }

// qconvShape is what qconv reads of a quantized convolution's input and
// weights: the geometry, as compileConv reads a float one's.
func qconvShape(o op, x, w *val) (qconvStep, error) {
	var s qconvStep
	rank := len(x.shape)
	if x.c != nil || !isQuant8(x.dt) || rank != 3 && rank != 4 {
		return s, unsupportedf("%s of %v: only 1-D and 2-D convolutions of run-time 8-bit maps", o.typ, x.shape)
	}
	if w.c == nil || !isQuant8(w.c.dt) {
		return s, unsupportedf("%s: weights computed at run time or not int8 or uint8", o.typ)
	}
	if len(w.shape) != rank {
		return s, modelfile.FormatErrorf("%s of %v by weights %v", o.typ, x.shape, w.shape)
	}
	group, err := o.attrs.Int("group", 1)
	if err != nil {
		return s, err
	}
	inC, outC := x.shape[1], w.shape[0]
	if group < 1 || group > int64(inC) || inC%int(group) != 0 || outC%int(group) != 0 || w.shape[1]*int(group) != inC {
		return s, modelfile.FormatErrorf("%s of %v by weights %v in %d groups", o.typ, x.shape, w.shape, group)
	}
	k := make([]int64, rank-2)
	for i, d := range w.shape[2:] {
		k[i] = int64(d)
	}
	if ks, err := o.attrs.Ints("kernel_shape"); err != nil {
		return s, err
	} else if ks != nil && !slices.Equal(ks, k) {
		return s, modelfile.FormatErrorf("kernel_shape %v does not match weights %v", ks, w.shape)
	}
	g, err := spatialGeometry(o, x.shape[2:], k, false)
	if err != nil {
		return s, err
	}
	s = qconvStep{n: x.shape[0], inC: inC, outC: outC, group: int(group), h: 1, w: x.shape[rank-1], signed: x.dt == onnx.Int8}
	if rank == 4 {
		s.h = x.shape[2]
	}
	var pb, pr int
	s.kh, s.kw, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl, pb, pr = g.flat2D()
	s.oh = (s.h+s.pt+pb-(s.kh-1)*s.dh-1)/s.sh + 1
	s.ow = (s.w+s.pl+pr-(s.kw-1)*s.dw-1)/s.sw + 1
	s.direct = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 && pb == 0 && pr == 0
	return s, nil
}

// qconv compiles QLinearConv (requant) or ConvInteger.
func (c *compiler) qconv(o op, requant bool) error {
	wi, wzi := 1, 3
	if requant {
		wi, wzi = 3, 5
	}
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	wv, err := c.in(o, wi)
	if err != nil {
		return err
	}
	s, err := qconvShape(o, x, wv)
	if err != nil {
		return err
	}
	wq := qparam{scaleBuf: -1, zeroBuf: -1, dt: wv.c.dt}
	s.xz = qparam{scaleBuf: -1, zeroBuf: -1, dt: x.dt}
	var y *val
	if requant {
		if s.rq, err = c.qconvRequant(o, x, wv, &s, &wq); err != nil {
			return err
		}
		if ok, err := c.qconvNHWC(o, x, wv, &s, wq); ok || err != nil {
			return err
		}
		if x, err = c.chw(x); err != nil {
			return err
		}
		s.in = x.buf
		y, err = c.typedRuntime(s.outShape(len(x.shape)), s.rq.dt)
	} else {
		if err := c.zeroParam(o, 2, nil, -1, 1, false, true, &s.xz); err != nil {
			return err
		}
		if err := c.zeroParam(o, wzi, wv.shape, 0, 1, false, false, &wq); err != nil {
			return err
		}
		y, err = c.typedRuntime(s.outShape(len(x.shape)), onnx.Int32)
	}
	if err != nil {
		return err
	}
	if err := c.qconvBuffers(o, &s, wv.c.ints(), wq); err != nil {
		return err
	}
	s.in, s.out = x.buf, y.buf
	c.steps = append(c.steps, s)
	return c.set(o, 0, y)
}

// qconvRequant reads QLinearConv's scales and zero points (x's into s.xz,
// the weights' into wq, per output channel or one) and bias, and returns
// its output stage.
func (c *compiler) qconvRequant(o op, x, w *val, s *qconvStep, wq *qparam) (*requantizer, error) {
	xq, err := c.quantParam(o, 1, 2, nil, -1, x.dt, false)
	if err != nil {
		return nil, err
	}
	s.xz = xq
	if *wq, err = c.quantParam(o, 4, 5, w.shape, 0, w.c.dt, false); err != nil {
		return nil, err
	}
	yq, err := c.quantParam(o, 6, 7, nil, -1, 0, false)
	if err != nil {
		return nil, err
	}
	if !isQuant8(yq.dt) {
		return nil, unsupportedf("QLinearConv to %s", yq.dt)
	}
	r := &requantizer{mult: multipliers(xq.scale[0], wq.scale, yq.scale[0]), zero: yq.zero[0], dt: yq.dt, relu: c.qfused[c.g.Nodes[o.index]].relu}
	if r.bias, err = c.qbias(o, 8, s.outC); err != nil {
		return nil, err
	}
	return r, nil
}

// qbias reads an optional int32 bias of n values, input i of o.
func (c *compiler) qbias(o op, i, n int) ([]int32, error) {
	b, err := c.optional(o, i)
	if err != nil || b == nil {
		return nil, err
	}
	if b.c == nil {
		return nil, unsupportedf("%s: a bias computed at run time", o.typ)
	}
	if b.c.dt != onnx.Int32 && !(b.c.dt == 0 && b.c.isInt()) || len(b.shape) != 1 || b.shape[0] != n {
		return nil, modelfile.FormatErrorf("%s: bias %v of %s; want %d INT32 values", o.typ, b.shape, b.c.dt, n)
	}
	bias := make([]int32, n)
	for j, v := range b.c.ints() {
		bias[j] = int32(v)
	}
	return bias, nil
}

// qconvBuffers packs the weights, one matrix a group, and makes the
// step's buffers, within the plan's budget.
func (c *compiler) qconvBuffers(o op, s *qconvStep, w []int64, wq qparam) error {
	outCg, kg, p := s.outC/s.group, s.inC/s.group*s.kh*s.kw, s.oh*s.ow
	cols, err := elements([]int{kg, p})
	if err != nil {
		return fmt.Errorf("%s: its im2col matrix: %w", o.typ, err)
	}
	if err := c.b.ops(s.n, s.outC, cols); err != nil {
		return err
	}
	for g := range s.group {
		zp := wq.zero
		if len(zp) > 1 {
			zp = zp[g*outCg : (g+1)*outCg]
		}
		q, err := packQWeights(true, kg, outCg, w[g*outCg*kg:(g+1)*outCg*kg], wq.dt == onnx.Int8, zp)
		if err != nil {
			return fmt.Errorf("%s: %w", o.typ, err)
		}
		if err := c.b.constBytes(q.bytes()); err != nil {
			return err
		}
		s.weights = append(s.weights, q)
		c.noteKernel(q)
	}
	s.cols = -1
	if !s.direct {
		if s.cols, err = c.newBuf(slotsOf(onnx.Uint8, cols)); err != nil {
			return err
		}
	}
	if s.acc, err = c.newBuf(p * outCg); err != nil {
		return err
	}
	if s.rq != nil {
		if s.tmp, err = c.newBuf(slotsOf(onnx.Uint8, p*outCg)); err != nil {
			return err
		}
	}
	s.ws = newWorkspaces()
	return nil
}

// qconvStep is a quantized convolution of n images.
type qconvStep struct {
	n, inC, outC, group, h, w, oh, ow int
	kh, kw, sh, sw, dh, dw, pt, pl    int
	direct                            bool // 1x1, stride 1, no padding: x is its own im2col matrix
	signed                            bool // x is int8
	xz                                qparam
	weights                           []*qweights // one a group
	rq                                *requantizer
	ws                                *workspaces
	in, out, cols, acc, tmp           int
}

func (s qconvStep) outShape(rank int) []int {
	if rank == 3 {
		return []int{s.n, s.outC, s.ow}
	}
	return []int{s.n, s.outC, s.oh, s.ow}
}

func (s qconvStep) run(b [][]float32) { s.each(b, false) }

// runSplit divides each group's output pixels between the CPUs, after
// one im2col pass: what a batch of one image runs.
func (s qconvStep) runSplit(b [][]float32) { s.each(b, true) }

// each runs the convolution, image by image and group by group, its
// products and epilogues split between the CPUs by rows of pixels when
// split.
func (s qconvStep) each(b [][]float32, split bool) {
	x := bytesOf(b[s.in])
	za := s.xz.zeroPoint(b)
	p, inCg, outCg := s.oh*s.ow, s.inC/s.group, s.outC/s.group
	kg := inCg * s.kh * s.kw
	for img := range s.n {
		for g := range s.group {
			xg := x[(img*s.inC+g*inCg)*s.h*s.w:][:inCg*s.h*s.w]
			a := xg
			if !s.direct {
				a = bytesOf(b[s.cols])[:kg*p]
				s.im2col(a, xg, inCg, byte(za))
			}
			base := (img*s.outC + g*outCg) * p
			if !split {
				s.pixels(b, a, za, g, base, 0, p)
				continue
			}
			kernel.Parallel(p, func(_, lo, hi int) { s.pixels(b, a, za, g, base, lo, hi) })
		}
	}
}

// pixels computes output pixels lo..hi-1 of group g from its im2col
// matrix a (the input itself for a direct convolution), into the output
// at element base: the product, then the epilogue, requantized or as
// int32 for ConvInteger, moved from [pixels][channels] to NCHW.
func (s qconvStep) pixels(b [][]float32, a []byte, za int32, g, base, lo, hi int) {
	p, outCg := s.oh*s.ow, s.outC/s.group
	ws := s.ws.get()
	defer s.ws.put(ws)
	acc := int32sOf(b[s.acc])[lo*outCg : hi*outCg]
	s.weights[g].mul(s.signed, true, hi-lo, a[lo:], p, za, acc, outCg, ws)
	if s.rq == nil {
		transpose(int32sOf(b[s.out])[base+lo:base+outCg*p], acc, hi-lo, outCg, p)
		return
	}
	r := *s.rq
	c0 := g * outCg
	if r.bias != nil {
		r.bias = r.bias[c0 : c0+outCg]
	}
	if len(r.mult) > 1 {
		r.mult = r.mult[c0 : c0+outCg]
	}
	tmp := bytesOf(b[s.tmp])[lo*outCg : hi*outCg]
	r.rows(hi-lo, outCg, tmp, outCg, acc, outCg)
	transpose(bytesOf(b[s.out])[base+lo:base+outCg*p], tmp, hi-lo, outCg, p)
}

// transpose writes the rows x cols matrix x into y as cols rows of
// stride ldy, in tiles that stay in the L1 cache on both sides.
func transpose[T any](y, x []T, rows, cols, ldy int) {
	const tile = 32
	for i0 := 0; i0 < rows; i0 += tile {
		i1 := min(i0+tile, rows)
		for j0 := 0; j0 < cols; j0 += tile {
			for j := j0; j < min(j0+tile, cols); j++ {
				dst := y[j*ldy+i0 : j*ldy+i1]
				for i := range dst {
					dst[i] = x[(i0+i)*cols+j]
				}
			}
		}
	}
}

// im2col writes the [inCg*KH*KW][OH*OW] matrix of one group's input x,
// reading pad, the input's zero point, outside it.
func (s qconvStep) im2col(col, x []byte, inCg int, pad byte) {
	p := s.oh * s.ow
	r := 0
	for ci := range inCg {
		xc := x[ci*s.h*s.w : (ci+1)*s.h*s.w]
		for ky := range s.kh {
			for kx := range s.kw {
				// Output columns lo..hi-1 read inside the row; the others, pad.
				off := kx*s.dw - s.pl
				lo := min(max(0, (-off+s.sw-1)/s.sw), s.ow)
				hi := max(min(s.ow, (s.w-1-off)/s.sw+1), lo)
				if s.w-1-off < 0 {
					hi = lo
				}
				row := col[r*p : (r+1)*p]
				r++
				for oy := range s.oh {
					dst := row[oy*s.ow : (oy+1)*s.ow]
					iy := oy*s.sh - s.pt + ky*s.dh
					if iy < 0 || iy >= s.h {
						fill(dst, pad)
						continue
					}
					fill(dst[:lo], pad)
					fill(dst[hi:], pad)
					src := xc[iy*s.w : (iy+1)*s.w]
					if s.sw == 1 {
						copy(dst[lo:hi], src[lo+off:hi+off])
						continue
					}
					for ox := lo; ox < hi; ox++ {
						dst[ox] = src[ox*s.sw+off]
					}
				}
			}
		}
	}
}

// fill sets every byte of b to v, by doubling copies.
func fill(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}
