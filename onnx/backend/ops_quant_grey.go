package backend

// A quantized 3x3 convolution of a grey image (one input channel, the
// seed's first layer) with its 2x2 max pooling, in one kernel
// (qgemm.Epilogue.Grey3x3Pool2): read from the padded image as it is,
// not folded, and pooled in registers, no accumulators written. The
// step is a qnhwcStep still; its epilogue's bias takes the zero point's
// share of the sums, which the kernel computes over the raw bytes.

import (
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/qgemm"
	"github.com/lenetkit/lenetkit/onnx"
)

// useGrey sets s.grey, and remakes s.ep with the bias it needs, when s
// is a 3x3 convolution of stride 1 and padding 1 of one channel of
// uint8 with int8 weights w of zero point 0 (wq), pooled 2x2 at stride
// 2, whose epilogue the kernel runs; bn holds its table's affine map.
func (s *qnhwcStep) useGrey(c *compiler, w []int64, wq qparam, bn qbnTables) error {
	p := s.pool
	if packKernels != "" || s.inC != 1 || s.kh != 3 || s.kw != 3 || s.pt != 1 || s.pl != 1 || s.oh != s.h || s.ow != s.w ||
		s.signed || s.nchwIn || wq.dt != onnx.Int8 || p.KH != 2 || p.KW != 2 || p.SH != 2 || p.SW != 2 || !s.ep.GreyFast() {
		return nil
	}
	for _, z := range wq.zero {
		if z != 0 {
			return nil
		}
	}
	k := make([]int8, len(w))
	bias := make([]int32, s.outC)
	for o := range s.outC {
		var sum int32
		for i := range 9 {
			k[o*9+i] = int8(w[o*9+i])
			sum += int32(w[o*9+i])
		}
		if s.rq.bias != nil {
			bias[o] = s.rq.bias[o]
		}
		bias[o] -= int32(s.za) * sum
	}
	g, err := qgemm.NewGrey3x3(s.outC, k)
	if err != nil {
		return err
	}
	ep, err := s.newEpilogue(bias, bn)
	if err != nil {
		return err
	}
	if !ep.GreyFast() { // its table not computed by the affine map
		return nil
	}
	s.ep, s.grey, s.fold = ep, g, false
	c.noteKernelName(ep.GreyKernel())
	return nil
}

// runGrey is run and runSplit (split: the pooled rows divided between
// the CPUs) for a grey image.
func (s *qnhwcStep) runGrey(b [][]float32, split bool) {
	img, out := bytesOf(b[s.img]), bytesOf(b[s.out])
	s.prepareImage(bytesOf(b[s.in]), img)
	rows := func(lo, hi int) {
		n := s.outC
		_ = s.ep.Grey3x3Pool2(s.grey, img[2*lo*s.wp:], s.wp, hi-lo, s.pw, out[lo*s.pw*n:], n)
	}
	if !split {
		rows(0, s.ph)
		return
	}
	kernel.Parallel(s.ph, func(_, lo, hi int) { rows(lo, hi) })
}
