package onnxtrain

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/lenetkit/lenetkit/internal/kernel"
)

// seedBlockLayer is a seed block (fuse.go), maxpool(BatchNorm(relu(conv(x)))),
// on the NHWC kernels the seed's own training uses (kernel.Conv3x3 and
// kernel.BNPool): x and the output are transposed at the boundaries, the
// rest stays NHWC; where the graph's neighbours allow (fuse_layout.go)
// x or the output is NHWC already, and copied in whole rows. Its inputs are x, w, b, gamma, beta and the running mean
// and variance, which move in place in training mode as batchNorm moves
// them; the ONNX momentum is the running statistics' weight, the kernel's
// the batch's. A block without BatchNorm (plain) has x, w and b alone, and
// runs BNPool's kernels with BatchNorm the identity (ForwardReLUPool).
type seedBlockLayer struct {
	conv     kernel.Conv3x3
	bn       kernel.BNPool
	plain    bool
	realW    int // the map's width: conv.W may be wider (widen)
	n        int
	momentum float64 // the kernel's: the weight of the batch statistics
	train    *bool
	needX    bool // x's gradient: the flipped weights are kept for it
	// x and dx are NHWC, and y and dy, rather than NCHW (fuse_layout.go).
	inNHWC, outNHWC bool
	st              *kernel.BNCache
	// whole, when set, runs the block (plain, one input channel, no
	// input gradient) with the convolution's output never stored.
	whole *kernel.ConvBNPool
	wst   *kernel.ConvBNCache
	dw    []float32 // whole's weight gradient, in DirectWeights' layout

	xp, z, yh    []float32 // x padded in NHWC, conv(x), the pooled map
	wd, wf       []float32 // w in Forward's and BackwardInput's layouts
	dyh, dz, dxh []float32
	// zc and dzc are per worker, a chunk's z and dz, where a block
	// without BatchNorm needs them for no longer: z and dz are nil, and
	// the chunk buffers stay in cache from step to step.
	zc, dzc       [][]float32
	dgamma, dbeta []float32
	dbias         []float32
	scratch       [][]float32 // per worker, BackwardInput's
	partial       [][]float32 // per worker, dw in DirectWeights' layout
}

func newSeedBlockLayer(conv kernel.Conv3x3, bn kernel.BNPool, realW, n int, momentum float64, train *bool, plain, needX bool) *seedBlockLayer {
	c := conv.Out
	// Buffers are zero from here on where the map does not reach (the
	// border of xp, the columns past realW of dyh), and never written
	// there.
	l := &seedBlockLayer{conv: conv, bn: bn, plain: plain, realW: realW, n: n, momentum: momentum, train: train, needX: needX,
		xp: make([]float32, n*conv.PaddedSize(conv.In)), yh: make([]float32, n*bn.OutH()*bn.OutW()*c),
		wd: make([]float32, c*conv.K()), wf: make([]float32, c*conv.K()),
		dyh:    make([]float32, n*bn.OutH()*bn.OutW()*c),
		dgamma: make([]float32, c), dbeta: make([]float32, c), dbias: make([]float32, c)}
	if plain && conv.In == 1 && !needX {
		// The first block's convolution is cheap, its output the largest
		// map: recomputed in each pass rather than stored, as the seed's
		// first block is (kernel.ConvBNPool). Its input gradient, which
		// needs the output's, is never wanted there.
		l.whole = &kernel.ConvBNPool{Conv: conv, BN: bn}
		l.wst = l.whole.NewCache(n)
		l.st = &l.wst.BNCache
		l.dw = make([]float32, c*conv.K())
		return l
	}
	l.st = bn.NewCache(n)
	if !plain {
		l.z, l.dz = make([]float32, n*conv.H*conv.W*c), make([]float32, n*conv.H*conv.W*c)
	}
	l.dxh = make([]float32, n*conv.H*conv.W*conv.In)
	for range kernel.MaxWorkers() {
		l.scratch = append(l.scratch, make([]float32, conv.ScratchSize(blockChunk)))
		l.partial = append(l.partial, make([]float32, c*conv.K()))
		if plain {
			l.zc = append(l.zc, make([]float32, blockChunk*conv.H*conv.W*c))
			l.dzc = append(l.dzc, make([]float32, blockChunk*conv.H*conv.W*c))
		}
	}
	return l
}

// buildSeedBlock builds blk as one layer, or reports false, building
// nothing, when its shapes or attributes do not fit the kernels: a 3x3
// convolution with padding 1, stride 1, no dilation, one group; a KxK max
// pool of stride K, no padding, that tiles the map.
func (b *builder) buildSeedBlock(blk *seedBlock) (bool, error) {
	xname := blk.conv.Input(0)
	if blk.inT != nil {
		xname = blk.inT.Input(0)
	}
	names := []string{xname, blk.conv.Input(1), blk.conv.Input(2)}
	if blk.bn != nil {
		names = append(names, blk.bn.Inputs[1:]...)
	}
	in := make([]*value, len(names))
	for i, name := range names {
		v, err := b.input(name)
		if err != nil {
			return false, err
		}
		if v == nil || (v.node == nil && (v.konst == nil || !v.konst.DType.IsFloat())) {
			return false, nil
		}
		in[i] = v
	}
	x, w := in[0], in[1]
	if x.node == nil || len(x.shape) != 4 {
		return false, nil
	}
	// xs is x's shape in NCHW, the ONNX Conv's view of it.
	xs, nhwcIn := x.shape, blk.inT != nil || (blk.prev != nil && blk.prev.nhwcOut)
	if nhwcIn {
		xs = []int{xs[0], xs[3], xs[1], xs[2]}
	}
	if len(w.shape) != 4 || w.shape[1] != xs[1] || w.shape[2] != 3 || w.shape[3] != 3 {
		return false, nil
	}
	if blk.bn != nil && (in[5].grad || in[6].grad) {
		return false, nil // batchNorm says why not
	}
	m := w.shape[0]
	for _, v := range in[2:] {
		if size(v.shape) != m {
			return false, nil
		}
	}
	conv, k, ok := blockGeometry(blk, xs, m)
	if !ok {
		return false, nil
	}
	bn := kernel.BNPool{H: conv.H, W: conv.W, C: m, K: k}
	realW, mom := conv.W, float32(0.9)
	if blk.bn == nil {
		// Without a BatchNorm to fuse, the block pays only where its
		// kernels are vectorised: the Go fallbacks lose to im2col.
		if conv, ok = widen(conv, k, in[0].grad && !b.net.opts.ForwardOnly); !ok {
			return false, nil
		}
		bn.W = conv.W
	} else {
		eps, err := blk.bn.Attrs.Float("epsilon", 1e-5)
		if err != nil {
			return false, err
		}
		if mom, err = blk.bn.Attrs.Float("momentum", 0.9); err != nil {
			return false, err
		}
		bn.Eps = float64(eps)
	}
	for _, v := range in {
		if v.node == nil {
			b.materialize(v)
		}
	}
	nodes := make(G.Nodes, len(in))
	shapes := make([][]int, len(in))
	need := make([]bool, len(in))
	grad := false
	for i, v := range in {
		nodes[i], shapes[i] = v.node, v.shape
		need[i] = v.grad && !b.net.opts.ForwardOnly
		grad = grad || v.grad
	}
	l := newSeedBlockLayer(conv, bn, realW, xs[0], 1-float64(mom), &b.net.train, blk.bn == nil, need[0])
	shape := []int{xs[0], m, conv.H / k, realW / k}
	name, last := blk.pool.Outputs[0], blk.pool
	// The Transpose's output, or the next block's input, which no other
	// layer reads (an NCHW one is made if that block declines).
	l.setLayout(nhwcIn, blk.outT != nil || blk.next != nil)
	if l.outNHWC {
		shape = []int{shape[0], shape[2], shape[3], shape[1]}
		if blk.outT != nil {
			name, last = blk.outT.Outputs[0], blk.outT
		}
	}
	label := fmt.Sprintf("%s..%s", blk.conv.Label(), last.Label())
	if blk.inT != nil {
		label = fmt.Sprintf("%s..%s", blk.inT.Label(), last.Label())
	}
	out, err := apply(newNodeOp(label, l, shapes, shape, need), nodes...)
	if err != nil {
		return false, err
	}
	blk.nhwcOut = blk.outT == nil && blk.next != nil
	b.vals[name] = &value{node: out, shape: shape, grad: grad}
	return true, nil
}

// blockGeometry reads blk's convolution, of m output channels on x, and
// its pool's size k, and reports whether the kernels take them.
func blockGeometry(blk *seedBlock, x []int, m int) (kernel.Conv3x3, int, bool) {
	if g, err := blk.conv.Attrs.Int("group", 1); err != nil || g != 1 {
		return kernel.Conv3x3{}, 0, false
	}
	cw, err := readWindow(blk.conv, x, 3, 3, false)
	if err != nil || cw.kh != 3 || cw.kw != 3 || cw.sh != 1 || cw.sw != 1 || cw.dh != 1 || cw.dw != 1 ||
		cw.padT != 1 || cw.padL != 1 || cw.padB != 1 || cw.padR != 1 {
		return kernel.Conv3x3{}, 0, false
	}
	pw, err := readWindow(blk.pool, []int{cw.n, m, cw.h, cw.w}, 0, 0, false)
	k := pw.kh
	if err != nil || k < 1 || k > 16 || pw.kw != k || pw.sh != k || pw.sw != k || pw.dh != 1 || pw.dw != 1 ||
		pw.padT != 0 || pw.padL != 0 || pw.padB != 0 || pw.padR != 0 || cw.h%k != 0 || cw.w%k != 0 {
		return kernel.Conv3x3{}, 0, false // k > 16 overflows the pool's uint8 winners
	}
	return kernel.Conv3x3{H: cw.h, W: cw.w, In: cw.c, Out: m}, k, true
}

// widen returns conv, or conv on a wider map whose width a vectorised
// kernel tile divides (16 for 14) and the pool's k too, and reports false
// when neither is vectorised. The extra columns are zero in the input
// and in the pooled gradient, and cut off the output: with no batch
// statistics to see them, they change no value and no gradient. With
// needX, the input gradient's convolution runs on the same map, so a
// width where both are vectorised comes first: a 14-wide map whose
// forward pass has a tile and whose input gradient has none (Keras's,
// to 8 channels, on AVX2) would run that gradient in Go.
func widen(conv kernel.Conv3x3, k int, needX bool) (kernel.Conv3x3, bool) {
	both := func(c kernel.Conv3x3) bool { return c.Vectorized() && c.BackwardInputVectorized() }
	if needX {
		if c, ok := conv.Widened(k, both); ok {
			return c, true
		}
	}
	return conv.Widened(k, kernel.Conv3x3.Vectorized)
}

// blockChunk images go to a CPU at a time, as in the seed's training: few
// enough that every CPU gets work and one worker's scratch stays in cache.
const blockChunk = 8

// chunks runs fn over [0, n) in chunks of blockChunk images, spread over
// the CPUs.
func chunks(n int, fn func(worker, lo, hi int)) {
	k := (n + blockChunk - 1) / blockChunk
	kernel.Parallel(k, func(wk, lo, hi int) {
		for c := lo; c < hi; c++ {
			fn(wk, c*blockChunk, min((c+1)*blockChunk, n))
		}
	})
}

// nhwcView is where NHWC maps lie in a buffer: each image takes size
// pixels, its first pixel at pixel off, its rows stride pixels apart
// (a border, or columns past the map's width, in between).
type nhwcView struct{ size, off, stride int }

// toView copies NCHW maps x of c channels, h rows and w columns, images
// lo..hi-1, into y's view v; fromView copies them back out. Each walks
// one side in order and strides through the other, whose image stays in
// cache: x's plane rows where they are long against c, y's pixels where
// they are short (the faster ways for Keras's and cnn28's blocks,
// measured on Zen 5).
func toView(y, x []float32, v nhwcView, lo, hi, c, h, w int) {
	for i := lo; i < hi; i++ {
		xi, yi := x[i*c*h*w:(i+1)*c*h*w], y[i*v.size*c:(i+1)*v.size*c]
		for r := range h {
			switch {
			case c == 1:
				copy(yi[v.off+r*v.stride:][:w], xi[r*w:(r+1)*w])
			case 2*w <= c:
				for col := range w {
					px, o := yi[(v.off+r*v.stride+col)*c:][:c], r*w+col
					for ch := range px {
						px[ch] = xi[ch*h*w+o]
					}
				}
			default:
				for ch := range c {
					row, o := xi[(ch*h+r)*w:][:w], (v.off+r*v.stride)*c+ch
					for col, p := range row {
						yi[o+col*c] = p
					}
				}
			}
		}
	}
}

func fromView(x, y []float32, v nhwcView, lo, hi, c, h, w int) {
	for i := lo; i < hi; i++ {
		xi, yi := x[i*c*h*w:(i+1)*c*h*w], y[i*v.size*c:(i+1)*v.size*c]
		for r := range h {
			switch {
			case c == 1:
				copy(xi[r*w:(r+1)*w], yi[v.off+r*v.stride:][:w])
			case c >= 16:
				for col := range w {
					o := r*w + col
					for ch, p := range yi[(v.off+r*v.stride+col)*c:][:c] {
						xi[ch*h*w+o] = p
					}
				}
			default:
				for ch := range c {
					row, o := xi[(ch*h+r)*w:][:w], (v.off+r*v.stride)*c+ch
					for col := range row {
						row[col] = yi[o+col*c]
					}
				}
			}
		}
	}
}

// views of x padded, of the pooled maps, and of x's gradient.
func (l *seedBlockLayer) padded() nhwcView {
	k := l.conv
	return nhwcView{k.PaddedSize(k.In) / k.In, k.W + 3, k.W + 2}
}

func (l *seedBlockLayer) pooled() nhwcView {
	return nhwcView{l.bn.OutH() * l.bn.OutW(), 0, l.bn.OutW()}
}

func (l *seedBlockLayer) unpadded() nhwcView {
	return nhwcView{l.conv.H * l.conv.W, 0, l.conv.W}
}

func (l *seedBlockLayer) forward(y []float32, in [][]float32) {
	x, w, bias := in[0], in[1], in[2]
	k := l.conv
	hw := k.H * k.W
	// The weights may have moved since the last step: laid out anew.
	k.DirectWeights(l.wd, w)
	if l.needX {
		k.FlippedWeights(l.wf, w)
	}
	ps := k.PaddedSize(k.In)
	// An NHWC output the kernels' own layout is written in place.
	yh, ow := l.yh, l.realW/l.bn.K
	direct := l.outNHWC && l.pooled().exact(ow)
	if direct {
		yh = y
	}
	// Each chunk's input is laid out just before its convolution reads it,
	// while it is in cache, and without BatchNorm, whose statistics need
	// the whole batch, the chunk's output is pooled as soon as written.
	chunks(l.n, func(wk, lo, hi int) {
		if l.inNHWC {
			nhwcToView(l.xp, x, l.padded(), lo, hi, k.In, k.H, l.realW)
		} else {
			toView(l.xp, x, l.padded(), lo, hi, k.In, k.H, l.realW)
		}
		if l.whole != nil {
			return
		}
		if !l.plain {
			k.Forward(l.z[lo*hw*k.Out:hi*hw*k.Out], l.xp[lo*ps:hi*ps], l.wd, bias, hi-lo)
			return
		}
		z := l.zc[wk][:(hi-lo)*hw*k.Out]
		k.Forward(z, l.xp[lo*ps:hi*ps], l.wd, bias, hi-lo)
		l.bn.ReLUPoolImages(yh, z, lo, hi, l.st)
	})
	switch {
	case l.whole != nil:
		l.whole.ForwardReLUPool(yh, l.xp, l.wd, bias, l.n, l.wst)
	case l.plain: // pooled chunk by chunk above
	case *l.train:
		gamma, beta, runMean, runVar := in[3], in[4], in[5], in[6]
		l.bn.ForwardTrain(yh, l.z, gamma, beta, l.n, l.st)
		l.bn.UpdateRunning(runMean, runVar, l.st, l.momentum)
	default:
		l.bn.ForwardFrozen(yh, l.z, in[3], in[4], in[5], in[6], l.n, l.st)
	}
	if direct {
		return
	}
	kernel.Parallel(l.n, func(_, lo, hi int) {
		if l.outNHWC {
			nhwcFromView(y, l.yh, l.pooled(), lo, hi, k.Out, l.bn.OutH(), ow)
		} else {
			fromView(y, l.yh, l.pooled(), lo, hi, k.Out, l.bn.OutH(), ow)
		}
	})
}

func (l *seedBlockLayer) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	k := l.conv
	dyh, ow := l.dyh, l.realW/l.bn.K
	if l.outNHWC && l.pooled().exact(ow) {
		dyh = dy
	} else {
		kernel.Parallel(l.n, func(_, lo, hi int) {
			if l.outNHWC {
				nhwcToView(l.dyh, dy, l.pooled(), lo, hi, k.Out, l.bn.OutH(), ow)
			} else {
				toView(l.dyh, dy, l.pooled(), lo, hi, k.Out, l.bn.OutH(), ow)
			}
		})
	}
	if l.whole != nil {
		l.whole.BackwardReLUPool(l.dw, l.dbias, dyh, l.xp, l.wd, in[2], l.n, l.wst)
		if dx[1] != nil {
			k.UndirectWeights(dx[1], l.dw)
		}
		if dx[2] != nil {
			copy(dx[2], l.dbias)
		}
		return
	}
	if !l.plain {
		l.bn.Backward(l.dz, l.dgamma, l.dbeta, l.dbias, dyh, l.z, in[3], l.n, l.st)
	}
	l.backConv(dx[0], dx[1], dyh)
	if l.plain {
		l.bn.ReLUPoolBias(l.dbias, l.st)
	}
	for i, g := range [][]float32{2: l.dbias, 3: l.dgamma, 4: l.dbeta} {
		if i < len(dx) && g != nil && dx[i] != nil {
			copy(dx[i], g)
		}
	}
}

// backConv takes dz back through the convolution to dw and dx (each nil
// when not wanted), a chunk of images at a time, so that the chunk's dz
// stays in cache between the two; without BatchNorm, whose gradient needs
// the whole batch, the chunk's dz is first written from dyh, the pooled
// gradient, and its sum left for ReLUPoolBias.
func (l *seedBlockLayer) backConv(dx, dw, dyh []float32) {
	k := l.conv
	hw, ps := k.H*k.W, k.PaddedSize(k.In)
	for _, p := range l.partial {
		clear(p)
	}
	// An NHWC gradient the kernel's own layout is written in place.
	dxh, direct := l.dxh, l.inNHWC && l.unpadded().exact(l.realW)
	if direct {
		dxh = dx
	}
	chunks(l.n, func(wk, lo, hi int) {
		var dz []float32
		if l.plain {
			dz = l.dzc[wk][:(hi-lo)*hw*k.Out]
			l.bn.BackwardReLUPoolImages(dz, dyh, wk, lo, hi, l.st)
		} else {
			dz = l.dz[lo*hw*k.Out : hi*hw*k.Out]
		}
		if dw != nil {
			k.BackwardWeights(l.partial[wk], dz, l.xp[lo*ps:hi*ps], hi-lo)
		}
		if dx == nil {
			return
		}
		k.BackwardInput(dxh[lo*hw*k.In:hi*hw*k.In], dz, l.wf, l.scratch[wk], hi-lo)
		switch {
		case direct:
		case l.inNHWC:
			nhwcFromView(dx, l.dxh, l.unpadded(), lo, hi, k.In, k.H, l.realW)
		default:
			fromView(dx, l.dxh, l.unpadded(), lo, hi, k.In, k.H, l.realW)
		}
	})
	if dw != nil {
		sum := l.partial[0]
		for _, p := range l.partial[1:] {
			for i, v := range p {
				sum[i] += v
			}
		}
		k.UndirectWeights(dw, sum)
	}
}
