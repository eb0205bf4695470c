package backend

// Quantized 3x3 convolutions of stride 1 and padding 1 by Winograd's
// F(4x4, 3x3) in integers (winograd.IntConv): the sums the direct kernels
// compute, exactly, in half their time where VPDPWSSD runs. The step is
// a qnhwcStep still: the same padded image (its rows and columns made
// whole tiles), the same accumulators and the same epilogue; only the
// product differs, and a max pooling of 2x2 or 4x4 windows moves into it
// (the tiles' sums pooled in registers, the epilogue left the pooled
// ones to requantize).

import (
	"errors"
	"sync"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/qgemm"
	"github.com/lenetkit/lenetkit/internal/winograd"
	"github.com/lenetkit/lenetkit/onnx"
)

// qwinograd is a qnhwcStep's product by winograd.IntConv.
type qwinograd struct {
	conv    winograd.IntConv
	u       []int16
	scratch *sync.Pool // of *winograd.IntScratch
	pool    int        // 2 or 4: the step's pooling, done by the product; else 0
	// alone says an image alone runs by Winograd: its map has
	// minWinogradTiles tiles or more. Else only a batch of images does
	// (rowBatch), and an image alone runs the direct kernels.
	alone bool
	batch *sync.Pool // of *winograd.IntScratch, for rowBatchMax images
}

// minWinogradTiles is the fewest tiles an image alone takes Winograd's
// path with: a map of one tile (the seed's third convolution, 4x4)
// streams its transformed weights, four times the direct kernels', per
// image. A batch of images reads them once for eight tiles.
const minWinogradTiles = 4

// useWinograd sets s.wino when s is a 3x3 convolution of stride 1 and
// padding 1 that winograd.IntConv computes faster than the direct
// kernels and its weights w (ONNX's [M][C][3][3], zero points wzp) fit
// its transforms. A convolution without padding (Keras's "valid") is
// the padded one of the map two pixels smaller, its input's border
// standing where the zeros were: the image is the input itself, from
// its first row and column, as the float path's winograd.Conv.PadValid.
func (s *qnhwcStep) useWinograd(c *compiler, w []int64, wzp []int32) error {
	same := s.pt == 1 && s.pl == 1 && s.oh == s.h && s.ow == s.w
	valid := s.pt == 0 && s.pl == 0 && s.oh == s.h-2 && s.ow == s.w-2
	conv := winograd.IntConv{H: s.oh, W: s.ow, In: s.inC, Out: s.outC}
	ty, tx := conv.Tiles()
	if packKernels != "" || s.kh != 3 || s.kw != 3 || !same && !valid || s.fold || !conv.Fits() || !conv.Fast() {
		return nil
	}
	g := make([]int32, len(w))
	for i, v := range w {
		z := int64(wzp[0])
		if len(wzp) > 1 {
			z = int64(wzp[i/(9*s.inC)])
		}
		g[i] = int32(v - z)
	}
	u := make([]int16, conv.WeightsSize())
	if err := conv.IntWeights(u, g); errors.Is(err, winograd.ErrRange) {
		return nil
	} else if err != nil {
		return err
	}
	if err := c.b.constBytes(2 * int64(len(u))); err != nil {
		return err
	}
	s.wino = &qwinograd{conv: conv, u: u, alone: ty*tx >= minWinogradTiles,
		scratch: &sync.Pool{New: func() any { return conv.NewScratch() }},
		batch:   &sync.Pool{New: func() any { return conv.NewBatchScratch(rowBatchMax) }}}
	s.hp, s.wp = conv.Padded()
	if s.wino.alone {
		c.noteKernelName("winograd-" + conv.Kernel())
	}
	return nil
}

// winogradPool moves the step's pooling into the product when its
// windows are 2x2 or 4x4 of their own stride, which the tiles hold
// whole. Called once the pooling is known.
func (s *qnhwcStep) winogradPool() {
	if w := s.pool; s.wino != nil && (w.KH == 2 || w.KH == 4) && w.KW == w.KH && w.SH == w.KH && w.SW == w.KH {
		s.wino.pool = w.KH
	}
}

// flip is the input's bytes' flip for winograd.IntConv.
func (s *qnhwcStep) flip() byte {
	if s.signed {
		return 0x80
	}
	return 0
}

// winogradOut is where the product writes an image's accumulators, acc:
// pooled if the product pools.
func (s *qnhwcStep) winogradOut(acc []int32) winograd.IntOut {
	if s.wino.pool > 0 {
		return winograd.IntOut{Y: acc, Ld: s.pw * s.outC, Cols: s.pw, Pool: s.wino.pool, Order: s.order}
	}
	return winograd.IntOut{Y: acc, Ld: s.cw * s.outC, Cols: s.cw}
}

// winogradRows computes the accumulators of the tile rows lo..hi-1.
func (s *qnhwcStep) winogradRows(b [][]float32, lo, hi int) {
	sc := s.wino.scratch.Get().(*winograd.IntScratch)
	s.wino.conv.ForwardTileRows(s.winogradOut(int32sOf(b[s.acc])), bytesOf(b[s.img]), s.za, s.flip(), s.wino.u, sc, lo, hi)
	s.wino.scratch.Put(sc)
}

// winogradEpilogue writes output rows lo..hi-1 (pooled rows when
// pooling).
func (s *qnhwcStep) winogradEpilogue(b [][]float32, lo, hi int) {
	s.winogradEpilogueInto(int32sOf(b[s.acc]), bytesOf(b[s.out]), lo, hi)
}

// winogradEpilogueInto writes output rows lo..hi-1 into out from the
// accumulators acc, pooled ones where the product pooled.
func (s *qnhwcStep) winogradEpilogueInto(acc []int32, out []byte, lo, hi int) {
	if s.wino.pool == 0 {
		s.epilogueRows(acc, out, lo, hi)
		return
	}
	n := s.outC
	one := qgemm.Window{KH: 1, KW: 1, SH: 1, SW: 1, Width: s.pw}
	for r := lo; r < hi; r++ {
		_ = s.ep.Run(one, s.pw, acc[r*s.pw*n:], n, out[r*s.pw*n:(r+1)*s.pw*n], n)
	}
}

// The step as a rowStep: a batch of images' maps of one tile or a few,
// their products together (winograd.IntConv.ForwardImages).

// batches: maps of fewer tiles than a products kernel takes at a time,
// whose weights a batch reads fewer times.
func (s *qnhwcStep) batches() bool {
	if s.wino == nil {
		return false
	}
	ty, tx := s.wino.conv.Tiles()
	return ty*tx < 8
}

func (s *qnhwcStep) graphNode() int { return s.node }

func (s *qnhwcStep) rowIO() (in, out, inSlots, outSlots int) {
	return s.in, s.out, slotsOf(onnx.Uint8, s.h*s.w*s.inC), slotsOf(onnx.Uint8, s.ph*s.pw*s.outC)
}

// accSize: an image's sums, pooled where the product pools, else every
// row of the map (the product writes them all, the pooling's windows
// may read fewer).
func (s *qnhwcStep) accSize() int {
	if s.wino.pool > 0 {
		return s.ph * s.pw * s.outC
	}
	return s.oh * s.cw * s.outC
}

func (s *qnhwcStep) runRows(b [][]float32, a, y []float32, acc []int32, rows int) {
	_, _, inSlots, outSlots := s.rowIO()
	img, x, out, n := bytesOf(b[s.img]), bytesOf(a), bytesOf(y), s.accSize()
	sc := s.wino.batch.Get().(*winograd.IntScratch)
	s.wino.conv.ForwardImages(rows, func(i int) []byte {
		s.prepareImage(x[4*i*inSlots:], img)
		return img
	}, func(i int) winograd.IntOut { return s.winogradOut(acc[i*n : (i+1)*n]) }, s.za, s.flip(), s.wino.u, sc)
	s.wino.batch.Put(sc)
	for i := range rows {
		s.winogradEpilogueInto(acc[i*n:(i+1)*n], out[4*i*outSlots:], 0, s.ph)
	}
}

// runWinograd is run and runSplit (split: the tile rows, then the
// epilogue's rows, divided between the CPUs) by Winograd's product.
func (s *qnhwcStep) runWinograd(b [][]float32, split bool) {
	s.prepare(b)
	tiles := (s.rows() + 3) / 4
	if !split {
		s.winogradRows(b, 0, tiles)
		s.winogradEpilogue(b, 0, s.ph)
		return
	}
	kernel.Parallel(tiles, func(_, lo, hi int) { s.winogradRows(b, lo, hi) })
	kernel.Parallel(s.ph, func(_, lo, hi int) { s.winogradEpilogue(b, lo, hi) })
}
