package backend

import (
	"github.com/lenetkit/lenetkit/internal/dwconv"
	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
)

// A step is one operator of a compiled plan, run on one image: it reads
// and writes buffers of a worker's workspace by index.
type step interface {
	run(b [][]float32)
}

// A splitter is a step that can also spread one image over all CPUs: how
// a batch of one keeps both of them busy.
type splitter interface {
	runSplit(b [][]float32)
}

type unaryStep struct {
	fn      func(y, x []float32)
	in, out int
}

func (s unaryStep) run(b [][]float32) { s.fn(b[s.out], b[s.in]) }

type convStep struct {
	c                nchw.Conv2D
	w, bias          []float32
	in, out, scratch int
}

func (s convStep) run(b [][]float32) { s.c.Forward(b[s.out], b[s.in], s.w, s.bias, b[s.scratch]) }

type poolStep struct {
	p       nchw.Pool2D
	in, out int
}

func (s poolStep) run(b [][]float32) { s.p.Forward(b[s.out], b[s.in]) }

type scaleShiftStep struct {
	scale, shift []float32
	c, hw        int
	in, out      int
}

func (s scaleShiftStep) run(b [][]float32) {
	nchw.ScaleShift(b[s.out], b[s.in], s.scale, s.shift, s.c, s.hw)
}

// binaryStep applies an elementwise operator to two operands, each a
// buffer or a constant.
type binaryStep struct {
	op             nchw.BinaryOp
	a, b           []float32 // constants, or nil for buffers ia, ib
	ia, ib, out    int
	aShape, bShape []int
	yShape         []int
}

func (s binaryStep) run(b [][]float32) {
	x, y := s.a, s.b
	if x == nil {
		x = b[s.ia]
	}
	if y == nil {
		y = b[s.ib]
	}
	nchw.Binary(s.op, b[s.out], x, s.aShape, y, s.bShape, s.yShape)
}

type gemmStep struct {
	m, n, k        int
	transA, transB bool
	alpha, beta    float32
	a, bm, c       []float32 // constants; a nil: buffer in; bm nil: buffer inB; c nil with hasC: buffer inC
	hasC           bool
	pb             *gemm.PackedB // bm packed once, when bm is a constant
	node           int           // the graph node it computes, for rowBatch
	cShape         []int
	in, inB, inC   int
	out            int
}

func (s gemmStep) run(b [][]float32) {
	a, bm, c := s.a, s.bm, s.c
	if a == nil {
		a = b[s.in]
	}
	if bm == nil {
		bm = b[s.inB]
	}
	if c == nil && s.hasC {
		c = b[s.inC]
	}
	if s.pb != nil {
		nchw.GemmPacked(b[s.out], s.m, s.n, s.k, s.transA, s.alpha, a, s.pb, s.beta, c, s.cShape)
		return
	}
	nchw.Gemm(b[s.out], s.m, s.n, s.k, s.transA, s.transB, s.alpha, a, bm, s.beta, c, s.cShape)
}

type softmaxStep struct {
	rows, cols int
	log        bool
	in, out    int
}

func (s softmaxStep) run(b [][]float32) {
	if s.log {
		nchw.LogSoftmax(b[s.out], b[s.in], s.rows, s.cols)
	} else {
		nchw.Softmax(b[s.out], b[s.in], s.rows, s.cols)
	}
}

// layoutStep moves a [C][H][W] map to [H][W][C] (toNHWC) or back.
type layoutStep struct {
	c, hw   int
	toNHWC  bool
	in, out int
}

func (s layoutStep) run(b [][]float32) {
	x, y := b[s.in], b[s.out]
	// dwconv.RowToPlanes transposes 8x8 blocks in registers, six to ten
	// times the loops' speed, where the side it walks in vectors holds
	// eight or more: NHWC to NCHW is a row of hw pixels of c channels
	// into c planes, and NCHW to NHWC the same with the roles swapped.
	switch {
	case s.toNHWC && s.c >= 8:
		dwconv.RowToPlanes(y, s.c, x, s.hw, s.c)
		return
	case !s.toNHWC && s.hw >= 8:
		dwconv.RowToPlanes(y, s.hw, x, s.c, s.hw)
		return
	}
	if s.toNHWC {
		for c := 0; c < s.c; c++ {
			for p, v := range x[c*s.hw : (c+1)*s.hw] {
				y[p*s.c+c] = v
			}
		}
		return
	}
	for p := 0; p < s.hw; p++ {
		for c, v := range x[p*s.c : (p+1)*s.c] {
			y[c*s.hw+p] = v
		}
	}
}

// blockStep is one of the seed's conv blocks, Conv 3x3 (stride 1, pad 1)
// -> ReLU -> BatchNorm -> MaxPool KxK, on channels-last maps, through the
// kernels lenetkit trains with: the convolution's output is pooled with
// BatchNorm folded in, never normalised in memory.
type blockStep struct {
	conv           kernel.Conv3x3
	bn             kernel.BNPool
	wd, bias, coef []float32
	in, xp, z, out int
	// realW, when not 0, is the map's width, narrower than conv's: the
	// block runs on the wider map, its extra columns zero (xp's, never
	// written), and pools into wide, from which out takes realW/K columns.
	realW int
	wide  int
	// handed, when the block before pools straight into xp's interior
	// (handOver), says in holds nothing and xp is already written; next,
	// on that block before, is the following block's xp plus one (0: out
	// is its output).
	handed bool
	next   int
}

func (s blockStep) run(b [][]float32) {
	s.pad(b)
	s.conv.Forward(b[s.z], b[s.xp], s.wd, s.bias, 1)
	s.pool(b, 0, s.bn.OutH())
}

func (s blockStep) runSplit(b [][]float32) {
	s.pad(b)
	k := s.bn.K
	kernel.Parallel(s.bn.OutH(), func(_, lo, hi int) {
		s.conv.ForwardRows(b[s.z], b[s.xp], s.wd, s.bias, 1, lo*k, hi*k)
		s.pool(b, lo, hi)
	})
}

// pool writes pooled rows lo..hi-1: into out, or into the next block's
// padded input.
func (s blockStep) pool(b [][]float32, lo, hi int) {
	if s.next > 0 {
		s.bn.ForwardEvalPadded(b[s.next-1], b[s.z], s.coef, lo, hi)
		return
	}
	s.bn.ForwardEvalRows(b[s.pooled()], b[s.z], s.coef, lo, hi)
	s.crop(b, lo, hi)
}

// pad writes the input map into xp's interior, bordered by zeros.
func (s blockStep) pad(b [][]float32) {
	if s.handed {
		// The border is zero from the workspace's making on: nothing
		// else writes xp.
		return
	}
	if s.realW == 0 {
		s.conv.Pad(b[s.xp], b[s.in], 1, s.conv.In)
		return
	}
	// The border and the extra columns are zero from the workspace's
	// making on: only the map's own values are written.
	row, stride := s.realW*s.conv.In, (s.conv.W+2)*s.conv.In
	x, xp := b[s.in], b[s.xp]
	for y := 0; y < s.conv.H; y++ {
		copy(xp[(y+1)*stride+s.conv.In:][:row], x[y*row:(y+1)*row])
	}
}

func (s blockStep) pooled() int {
	if s.realW == 0 {
		return s.out
	}
	return s.wide
}

// crop copies pooled rows lo..hi-1 of the wide map to out.
func (s blockStep) crop(b [][]float32, lo, hi int) {
	if s.realW == 0 {
		return
	}
	c, k := s.bn.C, s.bn.K
	from, to := s.bn.OutW()*c, s.realW/k*c
	wide, out := b[s.wide], b[s.out]
	for r := lo; r < hi; r++ {
		copy(out[r*to:(r+1)*to], wide[r*from:r*from+to])
	}
}

// splitConvStep is a convolution that, for a single image, divides its
// output channels between the CPUs after one im2col pass.
type splitConvStep struct {
	convStep
	cols int // buffer of the im2col matrix, [InC*KH*KW][OutH*OutW]
}

func (s splitConvStep) runSplit(b [][]float32) {
	c := s.c
	k := c.InC * c.KH * c.KW
	hw := c.OutH() * c.OutW()
	col := b[s.cols]
	c.Im2col(col, b[s.in])
	y := b[s.out]
	kernel.Parallel(c.OutC, func(_, lo, hi int) {
		gemm.Sgemm(false, false, hi-lo, hw, k, 1, s.w[lo*k:hi*k], k, col, hw, 0, y[lo*hw:hi*hw], hw)
		if s.bias != nil {
			for o := lo; o < hi; o++ {
				row := y[o*hw : (o+1)*hw]
				for p := range row {
					row[p] += s.bias[o]
				}
			}
		}
	})
}

// padStep writes a map inside a border of a constant.
type padStep struct {
	c, h, w                  int
	top, left, bottom, right int
	value                    float32
	in, out                  int
}

func (s padStep) run(b [][]float32) {
	x, y := b[s.in], b[s.out]
	ow := s.w + s.left + s.right
	oh := s.h + s.top + s.bottom
	for c := 0; c < s.c; c++ {
		dst := y[c*oh*ow : (c+1)*oh*ow]
		for i := range dst {
			dst[i] = s.value
		}
		for r := 0; r < s.h; r++ {
			copy(dst[(r+s.top)*ow+s.left:], x[(c*s.h+r)*s.w:(c*s.h+r+1)*s.w])
		}
	}
}
