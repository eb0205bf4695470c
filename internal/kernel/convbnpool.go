package kernel

// ConvBNPool is a whole conv block: convolution, ReLU, BatchNorm and max
// pooling, for training, with the convolution's output never stored. Each
// pass computes the convolution anew for the K rows under a row of pooled
// outputs, into a buffer that stays in the CPU's first-level cache, and
// runs BNPool's kernels on it: the statistics, the pooling, and in the
// backward pass dz, which goes straight into the weight gradient.
//
// That trades three evaluations of the convolution (one with BatchNorm the
// identity, ReLUPool, which takes no statistics and whose backward pass
// needs no z) for four trips through memory of its output: a good trade
// for LeNet's first block, one input channel (nine multiply-adds per
// output) and the largest output of the network (32 maps of 32x32 per
// image), and a bad one for the others.
type ConvBNPool struct {
	Conv Conv3x3
	BN   BNPool // BN.H, BN.W, BN.C must be Conv.H, Conv.W, Conv.Out
}

// ConvBNCache is what ConvBNPool's forward pass keeps for the backward pass.
type ConvBNCache struct {
	BNCache
	tile [][]float32 // per worker: the convolution's output under a tile
	dz   [][]float32 // per worker: their gradient
	dw   [][]float32 // per worker: the weight gradient, DirectWeights' layout
}

// NewCache makes a cache for batches of n images.
func (b ConvBNPool) NewCache(n int) *ConvBNCache {
	st := &ConvBNCache{BNCache: *b.BN.NewCache(n)}
	win := b.BN.K * b.Conv.W * b.Conv.Out * b.tileRows()
	for range MaxWorkers() {
		st.tile = append(st.tile, make([]float32, win))
		st.dz = append(st.dz, make([]float32, win))
		st.dw = append(st.dw, make([]float32, b.Conv.Out*b.Conv.K()))
	}
	return st
}

// tileRows is how many pooled rows ReLUPool's passes take at a time (a
// tile): as many as keep the convolution's output under them within
// about 16 KB, in the first-level cache, so that the kernels' calls and
// their set-up are few.
func (b ConvBNPool) tileRows() int {
	return max(1, min(b.BN.OutH(), 4096/(b.BN.K*b.Conv.W*b.Conv.Out)))
}

// tiles runs fn over the tiles of images lo..hi-1: image img's pooled rows
// r0..r1-1, the convolution of the rows under them, and the padded input
// under those.
func (b ConvBNPool) tiles(xp []float32, lo, hi int, fn func(img, r0, r1 int, c Conv3x3, x []float32)) {
	oh, k, t, cv := b.BN.OutH(), b.BN.K, b.tileRows(), b.Conv
	ps, row := cv.PaddedSize(cv.In), (cv.W+2)*cv.In
	for img := lo; img < hi; img++ {
		for r0 := 0; r0 < oh; r0 += t {
			r1 := min(r0+t, oh)
			fn(img, r0, r1, Conv3x3{H: (r1 - r0) * k, W: cv.W, In: cv.In, Out: cv.Out}, xp[img*ps+r0*k*row:])
		}
	}
}

// under returns the convolution of K rows, and the padded input under the
// rows of pooled row r.
func (b ConvBNPool) under(r int, xp []float32) (Conv3x3, []float32) {
	oh, k := b.BN.OutH(), b.BN.K
	img, oy := r/oh, r%oh
	c := b.Conv
	return Conv3x3{H: k, W: c.W, In: c.In, Out: c.Out}, xp[img*c.PaddedSize(c.In)+oy*k*(c.W+2)*c.In:]
}

// rows computes, on worker w, the convolution's output under pooled row r.
func (b ConvBNPool) rows(w, r int, xp, wd, bias []float32, st *ConvBNCache) []float32 {
	c, x := b.under(r, xp)
	c.Forward(st.tile[w], x, wd, bias, 1)
	return st.tile[w]
}

// ForwardTrain writes y, the pooled maps, for n images given padded (Pad)
// in xp, with the weights wd in DirectWeights' layout; see BNPool's.
func (b ConvBNPool) ForwardTrain(y, xp, wd, bias, gamma, beta []float32, n int, st *ConvBNCache) {
	b.BN.forwardTrain(y, gamma, beta, n, &st.BNCache, func(w, r int) []float32 {
		return b.rows(w, r, xp, wd, bias, st)
	})
}

// ForwardFrozen is ForwardTrain in eval mode: see BNPool's.
func (b ConvBNPool) ForwardFrozen(y, xp, wd, bias, gamma, beta, runMean, runVar []float32, n int, st *ConvBNCache) {
	b.BN.forwardFrozen(y, gamma, beta, runMean, runVar, n, &st.BNCache, func(w, r int) []float32 {
		return b.rows(w, r, xp, wd, bias, st)
	})
}

// Backward takes dy, the gradient of the pooled maps, back to the weights:
// dwd (DirectWeights' layout), dbias, dgamma and dbeta.
func (b ConvBNPool) Backward(dwd, dbias, dgamma, dbeta, dy, xp, wd, bias, gamma []float32, n int, st *ConvBNCache) {
	b.weightGrad(dwd, xp, st, func(done func(w, r int, dzr []float32)) {
		b.BN.backward(dgamma, dbeta, dbias, dy, gamma, n, &st.BNCache,
			func(w, r int) (zr, dzr []float32) { return b.rows(w, r, xp, wd, bias, st), st.dz[w] }, done)
	})
}

// weightGrad writes dwd, the weight gradient of the dz rows that pass
// runs done on (K rows under a pooled row r, on worker w), summed over
// the workers.
func (b ConvBNPool) weightGrad(dwd, xp []float32, st *ConvBNCache, pass func(done func(w, r int, dzr []float32))) {
	for _, d := range st.dw {
		clear(d)
	}
	pass(func(w, r int, dzr []float32) {
		c, x := b.under(r, xp)
		c.BackwardWeights(st.dw[w], dzr, x, 1)
	})
	st.sumWeights(dwd)
}

// sumWeights writes dwd, the workers' weight gradients summed.
func (st *ConvBNCache) sumWeights(dwd []float32) {
	copy(dwd, st.dw[0])
	for _, d := range st.dw[1:] {
		for i, v := range d {
			dwd[i] += v
		}
	}
}
