package backend

// Quantized convolutions kept channels-last: a QLinearConv of stride 1
// (the QDQ Conv fuseQDQ rewrites as one among them) on one image, with
// the BatchNormalization table and the max pooling that follow it taken
// into its epilogue, writing its output NHWC (val.nhwc) for the next one.
//
// The input is copied once into a padded NHWC image, bordered by its zero
// point, which qgemm.GemmInPlace reads in place: no im2col matrix, no
// packing of A. A map of C channels, C a multiple of 4, is read as it is;
// another (the first layer's one channel) is folded: each pixel of the
// image holds its kernel row's pixels, KW*C bytes padded to a multiple of
// 4 by the zero point, so that the units the kernels read lie in one
// pixel. The product's rows come out a row per output pixel, NHWC, and
// the epilogue runs on a band of rows at a time while they are in the
// cache: pooled first, on the int32 accumulators (qgemm.MaxPool: the
// requantization, the Relu's clamp and the table do not decrease, or for
// a channel whose table decreases, the minimum), then requantized
// (qgemm.RequantizeFloor) and looked up in the table, a quarter of the
// values for 2x2 pooling. The result is exactly what the steps of the
// graph as written give.

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/internal/qgemm"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// qnhwcStep is a quantized convolution of stride 1 on one image, read in
// place from its padded NHWC image, with its epilogue.
type qnhwcStep struct {
	node            int // the graph node it computes, for rowBatch
	h, w, inC, outC int // the input map, the output's channels
	kh, kw, pt, pl  int
	oh, ow          int  // the convolution's output
	cw              int  // the output's columns computed: those the pooling reads, or ow
	hp, wp          int  // the padded input
	nchwIn          bool // the input is channels-first
	fold            bool // the image's pixels hold their kernel row (unit bytes)
	unit            int  // bytes a pixel of the image: inC, or folded
	za              byte // the input's zero point, the border
	at              qgemm.InPlace
	weights         *qweights
	signed          bool           // the input is int8
	wino            *qwinograd     // the product by Winograd's transforms, or nil
	grey            *qgemm.Grey3x3 // a grey image's convolution and pooling in one kernel, or nil

	// The epilogue.
	rq    requantizer
	floor int32  // the least output: the Relu's clamp, else the type's minimum
	table []byte // per channel, 256 bytes, or nil
	ydt   onnx.DType
	pool  qgemm.Window // KH 0: none
	ph    int          // the pooled rows, or oh
	pw    int          // the pooled columns, or ow
	order []int32      // per channel, 0 or -1 (qgemm.MaxPool), or nil
	ep    *qgemm.Epilogue

	in, img, row, acc, out int
	ws                     *workspaces
}

// qnhwcSlack is the bytes past a padded image that the direct kernels'
// last tile may read: up to 16 rows of one pixel's bytes.
const qnhwcSlack = 16

// qconvNHWC compiles QLinearConv o, whose geometry, requantization and
// weights' parameters qconv read (s, wq), as a qnhwcStep when it has
// stride 1, no dilation, one group and one image, taking in the
// BatchNormalization table and MaxPool after it when the graph has them.
// ok false leaves it to qconvStep.
func (c *compiler) qconvNHWC(o op, x, wv *val, s *qconvStep, wq qparam) (ok bool, err error) {
	if s.group != 1 || s.sh != 1 || s.sw != 1 || s.dh != 1 || s.dw != 1 || s.n != 1 || len(x.shape) != 4 || s.rq == nil ||
		x.flatC > 0 || s.kh > 1024 || s.kw > 1024 {
		return false, nil
	}
	st := &qnhwcStep{node: o.index, h: s.h, w: s.w, inC: s.inC, outC: s.outC, kh: s.kh, kw: s.kw, pt: s.pt, pl: s.pl, oh: s.oh, ow: s.ow,
		nchwIn: !x.nhwc && s.inC > 1, za: byte(s.xz.zero[0]), signed: x.dt == onnx.Int8, rq: *s.rq, in: x.buf}
	st.hp, st.wp = s.oh+s.kh-1, s.ow+s.kw-1
	st.unit = s.inC
	if s.inC%4 != 0 {
		st.fold, st.unit = true, (s.kw*s.inC+3)/4*4
	}
	if err := st.useWinograd(c, wv.c.ints(), wq.zero); err != nil {
		return false, err
	}
	k := s.kh * s.kw * s.inC // the product's depth, as written
	kp := s.kh * s.kw * s.inC
	if st.fold {
		kp = s.kh * st.unit
	}
	imgSize, err := elements([]int{st.hp, st.wp, st.unit})
	if err != nil {
		return false, err
	}
	if st.fold {
		imgSize = st.hp * st.ow * st.unit
	}
	if err := c.b.ops(s.oh, s.ow, s.outC, kp); err != nil {
		return false, err
	}
	st.at = qgemm.InPlace{Width: s.ow, Pitch: st.wp * st.unit, Step: st.unit, Offsets: st.offsets()}
	if st.fold {
		st.at.Pitch = s.ow * st.unit
	}
	if st.wino == nil || !st.wino.alone {
		if err := st.packWeights(c, wv.c.ints(), wq); err != nil {
			return false, err
		}
	}
	lo, _ := typeRange(st.rq.dt)
	st.floor = lo
	if st.rq.relu {
		st.floor = st.rq.zero
	}
	st.ydt, st.ph, st.pw, st.cw = st.rq.dt, s.oh, s.ow, s.ow
	out := o
	var bn qbnTables
	if i, ok := c.next(o.outputs[0]); ok && c.qfused[c.g.Nodes[i]].table && len(c.g.Nodes[i].Outputs) == 1 && c.constInputs(i) {
		bo := newOp(i, c.g.Nodes[i])
		if bn, err = c.qbnTable(bo, st.rq.dt, s.outC); err != nil {
			return false, err
		}
		st.table, st.ydt = bn.table, bn.dt
		c.done[i] = true
		out = bo
	}
	if p, ok := c.next(out.outputs[0]); ok {
		if po, ok := st.fusePool(c, p, k); ok {
			c.done[p] = true
			out = po
		}
	}
	// The product's rows are the columns the pooling reads: without the
	// seed's 13th, whose windows pooling drops, its 12 fill tiles of 8
	// rows, where 13 took two tiles a row, 3 rows in 16 wasted.
	st.at.Width, st.pool.Width = st.cw, st.cw
	// Buffers: the padded image with the direct kernels' slack, a padded
	// source row for folding, the accumulators of the whole map (a band
	// at a time, or each CPU's bands of one image), the pooled ones.
	if st.img, err = c.newBuf(slotsOf(onnx.Uint8, imgSize+qnhwcSlack*st.unit)); err != nil {
		return false, err
	}
	if st.fold {
		if st.row, err = c.newBuf(slotsOf(onnx.Uint8, st.wp*s.inC+8)); err != nil {
			return false, err
		}
	}
	if st.acc, err = c.newBuf(s.oh * s.ow * s.outC); err != nil {
		return false, err
	}
	if st.pool.KH == 0 {
		st.pool = qgemm.Window{KH: 1, KW: 1, SH: 1, SW: 1, Width: st.cw}
	}
	st.winogradPool()
	if st.ep, err = st.newEpilogue(st.rq.bias, bn); err != nil {
		return false, err
	}
	if err := st.useGrey(c, wv.c.ints(), wq, bn); err != nil {
		return false, err
	}
	if err := c.b.constBytes(st.ep.Bytes()); err != nil {
		return false, err
	}
	y, err := c.typedRuntime([]int{1, s.outC, st.ph, st.pw}, st.ydt)
	if err != nil {
		return false, err
	}
	y.nhwc = true
	st.out, st.ws = y.buf, newWorkspaces()
	c.steps = append(c.steps, st)
	return true, c.set(out, 0, y)
}

// newEpilogue is the step's epilogue with the given bias: its
// requantization, clamp, pooling order and table, the table computed by
// its affine map where that gives it (bn), as scalar look-ups took half
// the seed's first layer's epilogue.
func (s *qnhwcStep) newEpilogue(bias []int32, bn qbnTables) (*qgemm.Epilogue, error) {
	var ep *qgemm.Epilogue
	var err error
	if s.rq.dt == onnx.Int8 {
		ep, err = qgemm.NewEpilogue(s.outC, bias, s.rq.mult, int8(s.rq.zero), int8(s.floor), s.order, s.table)
	} else {
		ep, err = qgemm.NewEpilogue(s.outC, bias, s.rq.mult, uint8(s.rq.zero), uint8(s.floor), s.order, s.table)
	}
	if err == nil && s.table != nil {
		ep.Affine(bn.a, bn.b)
	}
	return ep, err
}

// constInputs reports whether node i's inputs but its first are
// constants, folding now the DequantizeLinears of initializers that
// compute them, which come later in the graph's order (ONNX Runtime's
// quantizer writes a BatchNormalization's scale and bias quantized).
func (c *compiler) constInputs(i int) bool {
	producer := c.g.Producers()
	for _, name := range c.g.Nodes[i].Inputs[1:] {
		if name == "" {
			continue
		}
		if v := c.vals[name]; v != nil {
			if v.c == nil {
				return false
			}
			continue
		}
		p := producer[name]
		j := slices.Index(c.g.Nodes, p)
		if p == nil || j < 0 || c.done[j] || c.early[j] || !isDQ(p) || slices.ContainsFunc(p.Inputs, func(in string) bool {
			return in != "" && (c.vals[in] == nil || c.vals[in].c == nil)
		}) {
			return false
		}
		h, err := c.handlerOf(p)
		if err != nil || h(c, newOp(j, p)) != nil || c.vals[name] == nil || c.vals[name].c == nil {
			return false
		}
		if c.early == nil {
			c.early = map[int]bool{}
		}
		c.early[j] = true
	}
	return true
}

// offsets are the units of an output pixel's row of A, from its first
// byte in the image.
func (s *qnhwcStep) offsets() []int32 {
	var offs []int32
	if s.fold {
		for ky := range s.kh {
			for u := 0; u < s.unit; u += 4 {
				offs = append(offs, int32(ky*s.ow*s.unit+u))
			}
		}
		return offs
	}
	for ky := range s.kh {
		for kx := range s.kw {
			for u := 0; u < s.inC; u += 4 {
				offs = append(offs, int32((ky*s.wp+kx)*s.inC+u))
			}
		}
	}
	return offs
}

// packWeights packs ONNX's weights [M][C][KH][KW] as B, in the order of
// the image's units: (ky, kx, c), folded (ky, kx*C+c) padded to the unit
// by values of the zero point, which multiply nothing.
func (s *qnhwcStep) packWeights(c *compiler, w []int64, wq qparam) error {
	k := s.kh * s.kw * s.inC
	kp := len(s.at.Offsets) * 4
	if !s.fold {
		kp = k
	}
	b := make([]int64, s.outC*kp)
	for m := range s.outC {
		zp := int64(wq.zero[0])
		if len(wq.zero) > 1 {
			zp = int64(wq.zero[m])
		}
		row := b[m*kp : (m+1)*kp]
		for i := range row {
			row[i] = zp
		}
		for ci := range s.inC {
			for ky := range s.kh {
				for kx := range s.kw {
					v := w[((m*s.inC+ci)*s.kh+ky)*s.kw+kx]
					if s.fold {
						row[ky*s.unit+kx*s.inC+ci] = v
					} else {
						row[(ky*s.kw+kx)*s.inC+ci] = v
					}
				}
			}
		}
	}
	q, err := packQWeights(true, kp, s.outC, b, wq.dt == onnx.Int8, wq.zero)
	if err != nil {
		return err
	}
	if err := c.b.constBytes(q.bytes()); err != nil {
		return err
	}
	s.weights = q
	c.noteKernel(q)
	return nil
}

// fusePool takes MaxPool node p, the only reader of the epilogue's
// output, into the step when its windows lie in the map (no padding, no
// dilation) and pooling the accumulators gives what pooling the outputs
// does: each channel's epilogue, requantization, clamp and table, does
// not decrease (or, taking the minimum, does not increase), and no sum of
// the product and the bias can wrap (k is the product's depth).
func (s *qnhwcStep) fusePool(c *compiler, p int, k int) (op, bool) {
	n := c.g.Nodes[p]
	o := newOp(p, n)
	if n.OpType != "MaxPool" || n.Domain != "" || len(n.Outputs) > 1 && n.Outputs[1] != "" || n.Outputs[0] == "" {
		return o, false
	}
	ks, err := o.attrs.Ints("kernel_shape")
	if err != nil || len(ks) != 2 {
		return o, false
	}
	g, err := spatialGeometry(o, []int{s.oh, s.ow}, ks, true)
	ceil, err2 := o.attrs.Int("ceil_mode", 0)
	if err != nil || err2 != nil || !g.plain() {
		return o, false
	}
	kh, kw, sh, sw, _, _, pt, pl, pb, pr := g.flat2D()
	if pt != 0 || pl != 0 || pb != 0 || pr != 0 {
		return o, false
	}
	ph, pw := nchw.PoolOut(s.oh, kh, sh, 0, 0, ceil != 0), nchw.PoolOut(s.ow, kw, sw, 0, 0, ceil != 0)
	if ph < 1 || pw < 1 || (ph-1)*sh+kh > s.oh || (pw-1)*sw+kw > s.ow {
		return o, false
	}
	bound := int64(k) * 255 * 255
	for _, b := range s.rq.bias {
		bound = max(bound, int64(k)*255*255+int64(math.Abs(float64(b))))
	}
	if bound >= math.MaxInt32 {
		return o, false
	}
	order, ok := s.tableOrder()
	if !ok {
		return o, false
	}
	if c.b.ops(ph, pw, s.outC, kh, kw) != nil {
		return o, false
	}
	s.pool = qgemm.Window{KH: kh, KW: kw, SH: sh, SW: sw, Width: s.ow}
	s.ph, s.pw, s.cw, s.order = ph, pw, (pw-1)*sw+kw, order
	return o, true
}

// tableOrder says, per channel, whether the table does not decrease (0)
// or does not increase (-1) over the requantized values in their order,
// its outputs compared as values of their type; nil when there is no
// table or every channel's increases. ok false: a channel's does neither.
func (s *qnhwcStep) tableOrder() (order []int32, ok bool) {
	if s.table == nil {
		return nil, true
	}
	key := func(dt onnx.DType, b byte) int {
		if dt == onnx.Int8 {
			return int(int8(b))
		}
		return int(b)
	}
	// The input bytes in increasing order of their values.
	var in [256]byte
	for i := range in {
		in[i] = byte(i)
		if s.rq.dt == onnx.Int8 {
			in[i] = byte(i - 128)
		}
	}
	order = make([]int32, s.outC)
	decreasing := false
	for j := range s.outC {
		t := s.table[j*256 : (j+1)*256]
		up, down := true, true
		for i := 1; i < 256; i++ {
			a, b := key(s.ydt, t[in[i-1]]), key(s.ydt, t[in[i]])
			up = up && b >= a
			down = down && b <= a
		}
		switch {
		case up:
		case down:
			order[j], decreasing = -1, true
		default:
			return nil, false
		}
	}
	if !decreasing {
		return nil, true
	}
	return order, true
}

// bands is how many bands the step's rows run in: pooled rows, or the
// output's rows.
func (s *qnhwcStep) bands() int { return s.ph }

func (s *qnhwcStep) run(b [][]float32) {
	if s.runOwnKernel(b, false) {
		return
	}
	s.prepare(b)
	ws := s.ws.get()
	if s.pool.SH >= s.pool.KH {
		// One band at a time, each in the accumulators' first rows: they
		// stay in the cache (8 KB for the seed's first layer, not 128).
		for band := range s.ph {
			s.product(b, band*s.pool.SH, band*s.pool.SH+s.pool.KH, 0, ws)
			s.epilogueAt(b, band, 0)
		}
	} else {
		s.convRows(b, 0, s.ph, ws)
	}
	s.ws.put(ws)
}

// rows is how many rows of the product the epilogue reads.
func (s *qnhwcStep) rows() int {
	if s.pool.KH == 0 {
		return s.oh
	}
	return (s.ph-1)*s.pool.SH + s.pool.KH
}

// runSplit divides the bands between the CPUs: each computes the rows of
// its bands and their epilogue, in one pass where the pooling windows do
// not overlap, else all the rows first.
func (s *qnhwcStep) runSplit(b [][]float32) {
	if s.runOwnKernel(b, true) {
		return
	}
	s.prepare(b)
	if s.pool.SH >= s.pool.KH {
		kernel.Parallel(s.ph, func(_, lo, hi int) {
			ws := s.ws.get()
			s.convRows(b, lo, hi, ws)
			s.ws.put(ws)
		})
		return
	}
	kernel.Parallel(s.rows(), func(_, lo, hi int) {
		ws := s.ws.get()
		s.product(b, lo, hi, lo, ws)
		s.ws.put(ws)
	})
	kernel.Parallel(s.ph, func(_, lo, hi int) { s.epilogue(b, lo, hi) })
}

// convRows computes bands lo..hi-1: their rows of the product, then their
// epilogue.
func (s *qnhwcStep) convRows(b [][]float32, lo, hi int, ws *qgemm.Workspace) {
	next := 0 // the first row of the product not computed
	for band := lo; band < hi; band++ {
		first, end := band, band+1
		if s.pool.KH > 0 {
			first, end = band*s.pool.SH, band*s.pool.SH+s.pool.KH
		}
		first = max(first, next)
		if first < end {
			s.product(b, first, end, first, ws)
			next = end
		}
		s.epilogue(b, band, band+1)
	}
}

// product computes rows lo..hi-1 of the convolution's output into the
// accumulators, from their row at.
func (s *qnhwcStep) product(b [][]float32, lo, hi, at int, ws *qgemm.Workspace) {
	img, acc := bytesOf(b[s.img]), int32sOf(b[s.acc])
	n := s.outC
	_ = s.weights.inPlace(s.signed, (hi-lo)*s.cw, img[lo*s.at.Pitch:], s.at, s.za, acc[at*s.cw*n:], n, ws)
}

// epilogue writes output rows lo..hi-1 (pooled rows when pooling) from
// the accumulators, each row's where product put it.
func (s *qnhwcStep) epilogue(b [][]float32, lo, hi int) {
	s.epilogueRows(int32sOf(b[s.acc]), bytesOf(b[s.out]), lo, hi)
}

// epilogueRows is epilogue from the accumulators acc into out.
func (s *qnhwcStep) epilogueRows(acc []int32, out []byte, lo, hi int) {
	for r := lo; r < hi; r++ {
		s.epilogueRow(acc, out, r, r*s.pool.SH)
	}
}

// runOwnKernel runs the step by the grey kernel or by Winograd's
// transforms (split: between the CPUs) where it has them, reporting
// whether it did.
func (s *qnhwcStep) runOwnKernel(b [][]float32, split bool) bool {
	switch {
	case s.grey != nil:
		s.runGrey(b, split)
	case s.wino != nil && s.wino.alone:
		s.runWinograd(b, split)
	default:
		return false
	}
	return true
}

// epilogueAt writes output row r (a pooled row when pooling) from the
// accumulators, its windows' top row at row at.
func (s *qnhwcStep) epilogueAt(b [][]float32, r, at int) {
	s.epilogueRow(int32sOf(b[s.acc]), bytesOf(b[s.out]), r, at)
}

// epilogueRow writes output row r (a pooled row when pooling) into out
// from the accumulators acc, its windows' top row at row at.
func (s *qnhwcStep) epilogueRow(acc []int32, out []byte, r, at int) {
	n := s.outC
	_ = s.ep.Run(s.pool, s.pw, acc[at*s.cw*n:], n, out[r*s.pw*n:(r+1)*s.pw*n], n)
}

// prepare writes the input into the padded image. Its border, the zero
// point, is written at the first run: nothing else writes the image, and
// its last byte, past what the kernels read, says the border is there.
func (s *qnhwcStep) prepare(b [][]float32) {
	x, img := bytesOf(b[s.in]), bytesOf(b[s.img])
	if s.fold {
		s.prepareFolded(x, img, bytesOf(b[s.row]))
		return
	}
	s.prepareImage(x, img)
}

// prepareImage is prepare for an image that is not folded, from x.
func (s *qnhwcStep) prepareImage(x, img []byte) {
	c := s.inC
	rowBytes := s.wp * c
	if mark := &img[len(img)-1]; *mark == 0 {
		fill(img[:s.hp*rowBytes], s.za)
		*mark = 1
	}
	for y := range s.h {
		row := img[(s.pt+y)*rowBytes : (s.pt+y+1)*rowBytes]
		inner := row[s.pl*c : (s.pl+s.w)*c]
		if !s.nchwIn {
			copy(inner, x[y*s.w*c:(y+1)*s.w*c])
			continue
		}
		for xx := range s.w {
			for ci := range c {
				inner[xx*c+ci] = x[(ci*s.h+y)*s.w+xx]
			}
		}
	}
}

// prepareFolded writes the folded image: pixel (y, x) holds the padded
// input's pixels x..x+KW-1 of row y, then the zero point to the unit.
// row holds one padded row of the input, and 8 bytes more.
func (s *qnhwcStep) prepareFolded(x, img, row []byte) {
	c, span := s.inC, s.kw*s.inC
	if mark := &img[len(img)-1]; *mark == 0 {
		// The border rows, and the padding of the source row.
		fill(img[:s.hp*s.ow*s.unit], s.za)
		fill(row, s.za)
		*mark = 1
	}
	keep := uint64(1)<<(8*span) - 1
	pad := uint64(s.za) * 0x0101010101010101 &^ keep
	for y := s.pt; y < s.pt+s.h; y++ {
		dst := img[y*s.ow*s.unit : (y+1)*s.ow*s.unit]
		iy := y - s.pt
		if s.unit <= 8 && !s.nchwIn {
			foldRow(dst[:s.unit*s.ow], x[iy*s.w*c:], row, s.unit, c, s.pl, s.kw, s.w, keep, pad)
			continue
		}
		inner := row[s.pl*c : (s.pl+s.w)*c]
		if s.nchwIn {
			for xx := range s.w {
				for ci := range c {
					inner[xx*c+ci] = x[(ci*s.h+iy)*s.w+xx]
				}
			}
		} else {
			copy(inner, x[iy*s.w*c:(iy+1)*s.w*c])
		}
		if s.unit <= 8 {
			foldRow(dst[:s.unit*s.ow], row, row, s.unit, c, 0, 0, 0, keep, pad)
			continue
		}
		for ox := range s.ow {
			d := dst[ox*s.unit : (ox+1)*s.unit]
			copy(d, row[ox*c:ox*c+span])
			fill(d[span:], s.za)
		}
	}
}

// inPlace is mul for an A read in place (qgemm.GemmInPlace).
func (q *qweights) inPlace(signed bool, m int, a []byte, at qgemm.InPlace, za byte, c []int32, ldc int, ws *qgemm.Workspace) error {
	if signed {
		return qgemm.GemmInPlace(q.p, m, int8sOf(a), at, int8(za), c, ldc, ws)
	}
	return qgemm.GemmInPlace(q.p, m, a, at, za, c, ldc, ws)
}

// qlayoutStep moves an 8-bit [HW][C] map to [C][HW].
type qlayoutStep struct {
	c, hw   int
	in, out int
}

func (s qlayoutStep) run(b [][]float32) {
	transpose(bytesOf(b[s.out]), bytesOf(b[s.in]), s.hw, s.c, s.hw)
}

// qchw returns an 8-bit value stored channels-last (a map, or one
// flattened from one) channels-first, converting it once.
func (c *compiler) qchw(v *val) (*val, error) {
	if w := c.nchwOf[v]; w != nil {
		return w, nil
	}
	ch, hw := v.flatC, v.flatHW
	if ch == 0 {
		ch, hw = v.shape[1], numel(v.shape[2:])
	}
	w, err := c.typedRuntime(v.shape, v.dt)
	if err != nil {
		return nil, err
	}
	if err := c.b.ops(ch, hw); err != nil {
		return nil, err
	}
	c.steps = append(c.steps, qlayoutStep{c: ch, hw: hw, in: v.buf, out: w.buf})
	c.nchwOf[v] = w
	return w, nil
}

// channelsLast reports whether v is an 8-bit value the steps that read
// ONNX's layout must have converted first (qchw).
func channelsLast(v *val) bool {
	return v != nil && v.c == nil && isQuant8(v.dt) && (v.nhwc || v.flatC > 0)
}

// layoutAware are the operators whose handlers read 8-bit channels-last
// values themselves: every other one is given them channels-first
// (compiler.plainInputs).
var layoutAware = map[string]bool{
	"QLinearConv": true, "QLinearMatMul": true, "Flatten": true, "Reshape": true,
	"Identity": true, "Dropout": true, "Shape": true,
}

// plainInputs converts, before node n is compiled, each 8-bit
// channels-last value it reads, unless its handler reads that layout.
func (c *compiler) plainInputs(n *onnx.Node) error {
	if n.Domain == "" && layoutAware[n.OpType] {
		return nil
	}
	for _, name := range n.Inputs {
		if v := c.vals[name]; channelsLast(v) {
			w, err := c.qchw(v)
			if err != nil {
				return err
			}
			c.vals[name] = w
		}
	}
	return nil
}

// flattenNHWC is alias for an 8-bit channels-last map: flattened to [N,
// C*H*W], it keeps its bytes, in (H, W, C) order, which val.flatC says;
// any other shape reads it channels-first. ok false: not a channels-last
// value.
func (c *compiler) flattenNHWC(o op, v *val, shape []int) (bool, error) {
	if !channelsLast(v) {
		return false, nil
	}
	switch {
	case v.flatC > 0 && slices.Equal(shape, v.shape):
		return true, c.set(o, 0, &val{shape: shape, buf: v.buf, dt: v.dt, flatC: v.flatC, flatHW: v.flatHW})
	case v.nhwc && len(v.shape) == 4 && len(shape) == 2 && shape[0] == v.shape[0] && shape[1] == numel(v.shape[1:]):
		return true, c.set(o, 0, &val{shape: shape, buf: v.buf, dt: v.dt, flatC: v.shape[1], flatHW: v.shape[2] * v.shape[3]})
	}
	w, err := c.qchw(v)
	if err != nil {
		return false, err
	}
	return true, c.set(o, 0, &val{shape: shape, buf: w.buf, dt: w.dt})
}

// permuteNHWC reorders the rows (along k) of constant weights w of a
// product whose A is flattened from a channels-last map of ch channels
// and hw pixels: row k' = p*ch + c of the result is row k = c*hw + p of
// w. w is k x n, or n x k when transB. The int8 products permute their
// integer weights, the float ones (ops_gemm.go) their floats.
func permuteNHWC[T any](w []T, k, n, ch, hw int, transB bool) ([]T, error) {
	if ch*hw != k || len(w) != k*n {
		return nil, modelfile.FormatErrorf("weights of %d values for a product of depth %d from %d channels of %d pixels", len(w), k, ch, hw)
	}
	out := make([]T, len(w))
	for p := range hw {
		for c := range ch {
			to, from := p*ch+c, c*hw+p
			if transB {
				for j := range n {
					out[j*k+to] = w[j*k+from]
				}
			} else {
				copy(out[to*n:(to+1)*n], w[from*n:(from+1)*n])
			}
		}
	}
	return out, nil
}

// foldRow writes a folded row of pixels of unit bytes, 4 or 8, each its
// kernel row's bytes (keep masks them) then the zero point (pad): read
// from src, the input's row of w pixels of c bytes, where the kernel row
// lies in it (the word's bytes past it masked off), else from row, the
// padded row (row must have 8 bytes past it). With w 0 every pixel is
// read from row, which holds the padded row already.
func foldRow(dst, src, row []byte, unit, c, pl, kw, w int, keep, pad uint64) {
	ow := len(dst) / unit
	// The pixels read from src: x0..x1-1.
	x0, x1 := ow, ow
	if w > 0 {
		x0 = min(pl, ow)
		x1 = max(x0, min(ow, pl+w-kw+1))
		for x1 > x0 && (x1-1-pl)*c+8 > len(src) {
			x1--
		}
	}
	put := func(d []byte, v uint64) {
		if unit == 4 {
			binary.LittleEndian.PutUint32(d, uint32(v))
		} else {
			binary.LittleEndian.PutUint64(d, v)
		}
	}
	if x0 > 0 || x1 < ow {
		if w > 0 {
			copy(row[pl*c:(pl+w)*c], src[:w*c])
		}
		for ox := range x0 {
			put(dst[unit*ox:], binary.LittleEndian.Uint64(row[ox*c:])&keep|pad)
		}
		for ox := x1; ox < ow; ox++ {
			put(dst[unit*ox:], binary.LittleEndian.Uint64(row[ox*c:])&keep|pad)
		}
	}
	d := dst[unit*x0 : unit*x1]
	s := src[max(x0-pl, 0)*c:]
	if unit == 4 && c == 1 {
		// A grey image's row: one load a unit, the bounds checked once.
		n := len(d) / 4
		if n > 0 {
			s := s[:n+7]
			for i := range n {
				v := binary.LittleEndian.Uint64(s[i : i+8 : i+8])
				binary.LittleEndian.PutUint32(d[4*i:4*i+4:4*i+4], uint32(v&keep|pad))
			}
		}
		return
	}
	if unit == 4 {
		for i := 0; 4*i+4 <= len(d); i++ {
			binary.LittleEndian.PutUint32(d[4*i:], uint32(binary.LittleEndian.Uint64(s[i*c:])&keep|pad))
		}
		return
	}
	for i := 0; 8*i+8 <= len(d); i++ {
		binary.LittleEndian.PutUint64(d[8*i:], binary.LittleEndian.Uint64(s[i*c:])&keep|pad)
	}
}
