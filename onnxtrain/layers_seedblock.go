package onnxtrain

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/internal/nchw"
)

// seedBlockLayer is a seed block (fuse.go), maxpool(BatchNorm(relu(conv(x)))),
// on the NHWC kernels the seed's own training uses (kernel.Conv3x3 and
// kernel.BNPool): x and the output are transposed at the boundaries, the
// rest stays NHWC. Its inputs are x, w, b, gamma, beta and the running mean
// and variance, which move in place in training mode as batchNorm moves
// them; the ONNX momentum is the running statistics' weight, the kernel's
// the batch's.
type seedBlockLayer struct {
	conv     kernel.Conv3x3
	bn       kernel.BNPool
	n        int
	momentum float64 // the kernel's: the weight of the batch statistics
	train    *bool
	needX    bool // x's gradient: the flipped weights are kept for it
	st       *kernel.BNCache

	xh, xp, z, yh []float32 // x in NHWC, x padded, conv(x), the pooled map
	wd, wf        []float32 // w in Forward's and BackwardInput's layouts
	dyh, dz, dxh  []float32
	dgamma, dbeta []float32
	dbias         []float32
	scratch       [][]float32 // per worker, BackwardInput's
	partial       [][]float32 // per worker, dw in DirectWeights' layout
}

func newSeedBlockLayer(conv kernel.Conv3x3, bn kernel.BNPool, n int, momentum float64, train *bool) *seedBlockLayer {
	c := conv.Out
	l := &seedBlockLayer{conv: conv, bn: bn, n: n, momentum: momentum, train: train, st: bn.NewCache(n),
		xh: make([]float32, n*conv.H*conv.W*conv.In), xp: make([]float32, n*conv.PaddedSize(conv.In)),
		z: make([]float32, n*conv.H*conv.W*c), yh: make([]float32, n*bn.OutH()*bn.OutW()*c),
		wd: make([]float32, c*conv.K()), wf: make([]float32, c*conv.K()),
		dyh: make([]float32, n*bn.OutH()*bn.OutW()*c), dz: make([]float32, n*conv.H*conv.W*c),
		dxh:    make([]float32, n*conv.H*conv.W*conv.In),
		dgamma: make([]float32, c), dbeta: make([]float32, c), dbias: make([]float32, c)}
	for range kernel.MaxWorkers() {
		l.scratch = append(l.scratch, make([]float32, conv.ScratchSize(blockChunk)))
		l.partial = append(l.partial, make([]float32, c*conv.K()))
	}
	return l
}

// buildSeedBlock builds blk as one layer, or reports false, building
// nothing, when its shapes or attributes do not fit the kernels: a 3x3
// convolution with padding 1, stride 1, no dilation, one group; a KxK max
// pool of stride K, no padding, that tiles the map.
func (b *builder) buildSeedBlock(blk *seedBlock) (bool, error) {
	names := []string{blk.conv.Input(0), blk.conv.Input(1), blk.conv.Input(2)}
	names = append(names, blk.bn.Inputs[1:]...)
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
	if x.node == nil || len(x.shape) != 4 || len(w.shape) != 4 || w.shape[1] != x.shape[1] || w.shape[2] != 3 || w.shape[3] != 3 {
		return false, nil
	}
	if in[5].grad || in[6].grad {
		return false, nil // batchNorm says why not
	}
	m := w.shape[0]
	for _, v := range in[2:] {
		if size(v.shape) != m {
			return false, nil
		}
	}
	if g, err := blk.conv.Attrs.Int("group", 1); err != nil || g != 1 {
		return false, nil
	}
	cw, err := readWindow(blk.conv, x.shape, 3, 3, false)
	if err != nil || cw.kh != 3 || cw.kw != 3 || cw.sh != 1 || cw.sw != 1 || cw.dh != 1 || cw.dw != 1 ||
		cw.padT != 1 || cw.padL != 1 || cw.padB != 1 || cw.padR != 1 {
		return false, nil
	}
	pw, err := readWindow(blk.pool, []int{cw.n, m, cw.h, cw.w}, 0, 0, false)
	k := pw.kh
	if err != nil || k < 1 || k > 16 || pw.kw != k || pw.sh != k || pw.sw != k || pw.dh != 1 || pw.dw != 1 ||
		pw.padT != 0 || pw.padL != 0 || pw.padB != 0 || pw.padR != 0 || cw.h%k != 0 || cw.w%k != 0 {
		return false, nil // k > 16 overflows the pool's uint8 winners
	}
	eps, err := blk.bn.Attrs.Float("epsilon", 1e-5)
	if err != nil {
		return false, err
	}
	mom, err := blk.bn.Attrs.Float("momentum", 0.9)
	if err != nil {
		return false, err
	}
	for _, v := range in {
		if v.node == nil {
			b.materialize(v)
		}
	}
	conv := kernel.Conv3x3{H: cw.h, W: cw.w, In: cw.c, Out: m}
	bn := kernel.BNPool{H: cw.h, W: cw.w, C: m, K: k, Eps: float64(eps)}
	l := newSeedBlockLayer(conv, bn, cw.n, 1-float64(mom), &b.net.train)
	nodes := make(G.Nodes, len(in))
	shapes := make([][]int, len(in))
	need := make([]bool, len(in))
	grad := false
	for i, v := range in {
		nodes[i], shapes[i] = v.node, v.shape
		need[i] = v.grad && !b.net.opts.ForwardOnly
		grad = grad || v.grad
	}
	l.needX = need[0]
	shape := []int{cw.n, m, cw.h / k, cw.w / k}
	out, err := apply(newNodeOp(fmt.Sprintf("%s..%s", blk.conv.Label(), blk.pool.Label()), l, shapes, shape, need), nodes...)
	if err != nil {
		return false, err
	}
	b.vals[blk.pool.Outputs[0]] = &value{node: out, shape: shape, grad: grad}
	return true, nil
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

// toNHWC and toNCHW transpose n maps of c channels and hw pixels.
func toNHWC(y, x []float32, n, c, hw int) {
	kernel.Parallel(n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			nchw.Transpose(y[i*c*hw:(i+1)*c*hw], x[i*c*hw:(i+1)*c*hw], []int{c, hw}, []int{1, 0})
		}
	})
}

func toNCHW(y, x []float32, n, c, hw int) {
	kernel.Parallel(n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			nchw.Transpose(y[i*c*hw:(i+1)*c*hw], x[i*c*hw:(i+1)*c*hw], []int{hw, c}, []int{1, 0})
		}
	})
}

func (l *seedBlockLayer) forward(y []float32, in [][]float32) {
	x, w, bias, gamma, beta, runMean, runVar := in[0], in[1], in[2], in[3], in[4], in[5], in[6]
	k := l.conv
	hw, ohw := k.H*k.W, l.bn.OutH()*l.bn.OutW()
	xh := x // one channel: NCHW is NHWC
	if k.In > 1 {
		toNHWC(l.xh, x, l.n, k.In, hw)
		xh = l.xh
	}
	// The weights may have moved since the last step: laid out anew.
	k.DirectWeights(l.wd, w)
	if l.needX {
		k.FlippedWeights(l.wf, w)
	}
	ps := k.PaddedSize(k.In)
	chunks(l.n, func(_, lo, hi int) {
		xp := l.xp[lo*ps : hi*ps]
		k.Pad(xp, xh[lo*hw*k.In:hi*hw*k.In], hi-lo, k.In)
		k.Forward(l.z[lo*hw*k.Out:hi*hw*k.Out], xp, l.wd, bias, hi-lo)
	})
	if *l.train {
		l.bn.ForwardTrain(l.yh, l.z, gamma, beta, l.n, l.st)
		l.bn.UpdateRunning(runMean, runVar, l.st, l.momentum)
	} else {
		l.bn.ForwardFrozen(l.yh, l.z, gamma, beta, runMean, runVar, l.n, l.st)
	}
	toNCHW(y, l.yh, l.n, k.Out, ohw)
}

func (l *seedBlockLayer) backward(dx [][]float32, dy, _ []float32, in [][]float32) {
	k := l.conv
	hw, ohw := k.H*k.W, l.bn.OutH()*l.bn.OutW()
	toNHWC(l.dyh, dy, l.n, k.Out, ohw)
	l.bn.Backward(l.dz, l.dgamma, l.dbeta, l.dbias, l.dyh, l.z, in[3], l.n, l.st)
	for i, g := range [][]float32{2: l.dbias, 3: l.dgamma, 4: l.dbeta} {
		if g != nil && dx[i] != nil {
			copy(dx[i], g)
		}
	}
	if dx[1] != nil {
		ps := k.PaddedSize(k.In)
		for _, p := range l.partial {
			clear(p)
		}
		chunks(l.n, func(wk, lo, hi int) {
			k.BackwardWeights(l.partial[wk], l.dz[lo*hw*k.Out:hi*hw*k.Out], l.xp[lo*ps:hi*ps], hi-lo)
		})
		sum := l.partial[0]
		for _, p := range l.partial[1:] {
			for i, v := range p {
				sum[i] += v
			}
		}
		k.UndirectWeights(dx[1], sum)
	}
	if dx[0] != nil {
		dxh := l.dxh
		if k.In == 1 {
			dxh = dx[0]
		}
		chunks(l.n, func(wk, lo, hi int) {
			k.BackwardInput(dxh[lo*hw*k.In:hi*hw*k.In], l.dz[lo*hw*k.Out:hi*hw*k.Out], l.wf, l.scratch[wk], hi-lo)
		})
		if k.In > 1 {
			toNCHW(dx[0], dxh, l.n, k.In, hw)
		}
	}
}
