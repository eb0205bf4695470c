package kernel

import "math"

// BNPool is ReLU, then BatchNorm over the channels, then KxK max pooling
// with stride K, on NHWC maps of HxWxC: the tail of each of LeNet's conv
// blocks. The three run as one kernel, so the normalised map is never
// stored: the forward pass reads the convolution's output z and writes the
// pooled map, and the backward pass reads z again and writes dz.
//
// H and W must be multiples of K, as they are in LeNet.
type BNPool struct {
	H, W, C, K int
	Eps        float64
}

// OutH and OutW are the pooled sizes.
func (b BNPool) OutH() int { return b.H / b.K }
func (b BNPool) OutW() int { return b.W / b.K }

// statsBlock is how many rows (pixels) a statistics kernel sums in float32
// before the sums are added into float64: short enough that float32
// rounding stays near one part in 10^7 relative to the sums, long enough
// that the float64 additions cost little.
const statsBlock = 64

// BNCache is what the training forward pass keeps for the backward pass:
// the batch statistics and, for each pooled output, which input won and its
// normalised value.
type BNCache struct {
	Mean, InvStd []float32
	Var          []float64 // biased: what normalised the batch
	rows         int       // pixels in the batch
	// frozen is set by the eval-mode forward pass: the statistics were the
	// running ones, constants, so the backward pass has no batch terms.
	frozen bool

	xhat []float32 // normalised value of each pooled maximum
	arg  []uint8   // its position in the pooling window, ky*K+kx

	unit       []float32   // C ones, then C zeros: ReLUPool's gamma and beta
	ident      []float32   // the row kernels' coef for ReLUPool: 0, 1, 1, 0
	shift      []float32   // a rough mean that the sums are taken around
	coef       []float32   // per-channel constants of the row kernels
	sum, sumSq [][]float64 // per worker
	part       [][]float32 // per worker: float32 sums of a block
}

// NewCache makes a cache for batches of n maps.
func (b BNPool) NewCache(n int) *BNCache {
	c := b.C
	out := n * b.OutH() * b.OutW() * c
	st := &BNCache{
		Mean: make([]float32, c), InvStd: make([]float32, c), Var: make([]float64, c),
		xhat: make([]float32, out), arg: make([]uint8, out),
		shift: make([]float32, c), coef: make([]float32, 6*c), unit: make([]float32, 2*c),
	}
	st.ident = make([]float32, 4*c)
	for i := range c {
		st.unit[i] = 1
		st.ident[c+i], st.ident[2*c+i] = 1, 1
	}
	for range MaxWorkers() {
		st.sum = append(st.sum, make([]float64, c))
		st.sumSq = append(st.sumSq, make([]float64, c))
		st.part = append(st.part, make([]float32, 2*c))
	}
	return st
}

// ForwardTrain writes y, the pooled maps [n][OutH][OutW][C], normalising
// with the batch's mean and biased variance of relu(z), z being [n][H][W][C];
// it leaves the statistics and the pooling's choices in st.
func (b BNPool) ForwardTrain(y, z, gamma, beta []float32, n int, st *BNCache) {
	b.forwardTrain(y, gamma, beta, n, st, func(_, r int) []float32 { return z[b.zOffset(r):] })
}

// zOffset is the offset in z of the first input under pooled row r
// (image*OutH + oy).
func (b BNPool) zOffset(r int) int {
	img, oy := r/b.OutH(), r%b.OutH()
	return ((img*b.H + oy*b.K) * b.W) * b.C
}

// ForwardFrozen is ForwardTrain in PyTorch's eval mode, as the seed's
// notebook trained after its first validation: BatchNorm normalises with
// runMean and runVar, which it leaves as they are. Backward then takes the
// gradient of that function, in which the statistics are constants.
func (b BNPool) ForwardFrozen(y, z, gamma, beta, runMean, runVar []float32, n int, st *BNCache) {
	b.forwardFrozen(y, gamma, beta, runMean, runVar, n, st, func(_, r int) []float32 { return z[b.zOffset(r):] })
}

func (b BNPool) forwardFrozen(y, gamma, beta, runMean, runVar []float32, n int, st *BNCache, src func(w, r int) []float32) {
	st.rows, st.frozen = n*b.H*b.W, true
	for c := range b.C {
		st.Mean[c] = runMean[c]
		st.Var[c] = float64(runVar[c])
		st.InvStd[c] = float32(1 / math.Sqrt(float64(runVar[c])+b.Eps))
	}
	b.pool(y, gamma, beta, n, st, src, poolTrainRows)
}

// forwardTrain is ForwardTrain with z given by src: src(w, r) returns, on
// worker w, the K rows of z under pooled row r.
func (b BNPool) forwardTrain(y, gamma, beta []float32, n int, st *BNCache, src func(w, r int) []float32) {
	C, oh, win := b.C, b.OutH(), b.K*b.W
	st.rows, st.frozen = n*b.H*b.W, false
	// Sums around a rough mean lose no precision to cancellation when the
	// mean is large against the spread: take the first map's mean.
	clear(st.shift)
	st.clearSums()
	for r := range oh {
		b.addStats(st.sum[0], st.sumSq[0], st.part[0], src(0, r), st.shift, win)
	}
	for c := range C {
		st.shift[c] = float32(st.sum[0][c] / float64(oh*win))
	}
	st.clearSums()
	Parallel(n*oh, func(w, lo, hi int) {
		for r := lo; r < hi; r++ {
			b.addStats(st.sum[w], st.sumSq[w], st.part[w], src(w, r), st.shift, win)
		}
	})
	for c := range C {
		var s, sq float64
		for w := range st.sum {
			s += st.sum[w][c]
			sq += st.sumSq[w][c]
		}
		d := s / float64(st.rows)
		v := max(sq/float64(st.rows)-d*d, 0)
		st.Mean[c] = Flush(float32(float64(st.shift[c]) + d))
		st.Var[c] = v
		st.InvStd[c] = float32(1 / math.Sqrt(v+b.Eps))
	}
	b.pool(y, gamma, beta, n, st, src, poolTrainRows)
}

// rowKernel is poolTrainRows, or poolReLURows where BatchNorm is the
// identity.
type rowKernel = func(y, xh []float32, arg []uint8, z []float32, stride, k, c, ow int, coef []float32)

// pool writes y, normalising with st's statistics, and keeps each window's
// winner and its normalised value for the backward pass; kern pools a row.
func (b BNPool) pool(y, gamma, beta []float32, n int, st *BNCache, src func(w, r int) []float32, kern rowKernel) {
	C, oh := b.C, b.OutH()
	coef := st.coef[:4*C]
	copy(coef, st.Mean)
	copy(coef[C:], st.InvStd)
	copy(coef[2*C:], gamma[:C])
	copy(coef[3*C:], beta[:C])
	Parallel(n*oh, func(w, lo, hi int) {
		for r := lo; r < hi; r++ {
			o := r * b.OutW() * C
			kern(y[o:], st.xhat[o:], st.arg[o:], src(w, r), b.W*C, b.K, C, b.OutW(), coef)
		}
	})
}

// clearSums zeroes every worker's sums: the workers that get no rows
// must add nothing.
func (st *BNCache) clearSums() {
	for w := range st.sum {
		clear(st.sum[w])
		clear(st.sumSq[w])
	}
}

// addStats adds to s and sq, per channel, the sums of relu(z)-shift and of
// its squares over rows rows of z.
func (b BNPool) addStats(s, sq []float64, part, z, shift []float32, rows int) {
	C := b.C
	ps, psq := part[:C], part[C:2*C]
	for r := 0; r < rows; r += statsBlock {
		k := min(statsBlock, rows-r)
		clear(part)
		statsRows(ps, psq, z[r*C:(r+k)*C], shift, k, C)
		for c := range C {
			s[c] += float64(ps[c])
			sq[c] += float64(psq[c])
		}
	}
}

// UpdateRunning folds the batch statistics into the running ones as PyTorch
// does: momentum-weighted, with the unbiased variance.
func (b BNPool) UpdateRunning(runMean, runVar []float32, st *BNCache, momentum float64) {
	unbias := float64(st.rows) / float64(st.rows-1)
	for c := range runMean {
		// A dead channel's statistics decay by 1-momentum a step, into
		// the subnormals within a few hundred steps: flushed (subnormal.go).
		runMean[c] = Flush(float32((1-momentum)*float64(runMean[c]) + momentum*float64(st.Mean[c])))
		runVar[c] = Flush(float32((1-momentum)*float64(runVar[c]) + momentum*st.Var[c]*unbias))
	}
}

// Backward takes dy, the gradient of the pooled maps, back through pooling,
// BatchNorm and ReLU: it writes dz, the gradient of the convolution's output
// z, dgamma and dbeta, and dbias, the sum of dz over all pixels (the
// gradient of a bias added to z).
//
// Pooling passes gradient only to each window's maximum, so BatchNorm's two
// reductions (sum dy, sum dy*xhat) run over the pooled maps alone, and dz
// needs no dense gradient of the normalised map.
func (b BNPool) Backward(dz, dgamma, dbeta, dbias, dy, z, gamma []float32, n int, st *BNCache) {
	b.backward(dgamma, dbeta, dbias, dy, gamma, n, st,
		func(_, r int) (zr, dzr []float32) { o := b.zOffset(r); return z[o:], dz[o:] }, nil)
}

// backward is Backward with z given, and dz taken, by rows: rows(w, r)
// returns, on worker w, the K rows of z under pooled row r and where to
// write their gradient; then, when done is not nil, done(w, r, dzr) is
// called with them written.
func (b BNPool) backward(dgamma, dbeta, dbias, dy, gamma []float32, n int, st *BNCache,
	rows func(w, r int) (zr, dzr []float32), done func(w, r int, dzr []float32)) {
	C := b.C
	coef := st.coef[:6*C]
	b.affineGrads(dgamma, dbeta, dy, n, st)
	copy(coef[4*C:], dgamma[:C])
	copy(coef[5*C:], dbeta[:C])
	// dz = gamma*invstd * (dy - (dbeta + dgamma*xhat)/m) where z > 0; with
	// frozen statistics the batch terms vanish: dz = gamma*invstd * dy.
	m := float32(st.rows)
	for c := range C {
		a := gamma[c] * st.InvStd[c]
		am := a / m
		if st.frozen {
			am = 0
		}
		coef[c], coef[C+c], coef[2*C+c], coef[3*C+c] = st.Mean[c], st.InvStd[c], a, am
	}
	b.backRows(dbias, n, st, func(w, r int, part []float32) []float32 {
		o := r * b.OutW() * C
		zr, dzr := rows(w, r)
		poolBackRows(dzr, part, zr, b.W*C, b.K, C, b.OutW(), dy[o:], st.arg[o:], coef)
		return dzr
	}, done)
}

// backRows runs back on every pooled row r on the CPUs, back(w, r, part)
// writing the row's dz on worker w, returning it, and adding it up per
// channel into part, which is cleared; it then calls done, when not nil,
// and writes dbias, the sum of dz.
func (b BNPool) backRows(dbias []float32, n int, st *BNCache, back func(w, r int, part []float32) []float32, done func(w, r int, dzr []float32)) {
	C := b.C
	st.clearSums()
	Parallel(n*b.OutH(), func(w, lo, hi int) {
		s, part := st.sum[w], st.part[w][:C]
		for r := lo; r < hi; r++ {
			clear(part)
			dzr := back(w, r, part)
			for c, v := range part {
				s[c] += float64(v)
			}
			if done != nil {
				done(w, r, dzr)
			}
		}
	})
	for c := range C {
		var s float64
		for w := range st.sum {
			s += st.sum[w][c]
		}
		dbias[c] = float32(s)
	}
}

// affineGrads writes dbeta and dgamma, the sums over the pooled maps of dy
// and of dy*xhat.
func (b BNPool) affineGrads(dgamma, dbeta, dy []float32, n int, st *BNCache) {
	C := b.C
	pooled := n * b.OutH() * b.OutW()
	blocks := (pooled + statsBlock - 1) / statsBlock
	st.clearSums()
	Parallel(blocks, func(w, lo, hi int) {
		s, sx := st.sum[w], st.sumSq[w]
		part := st.part[w]
		for blk := lo; blk < hi; blk++ {
			r0, r1 := blk*statsBlock, min((blk+1)*statsBlock, pooled)
			clear(part)
			dotRows(part[:C], part[C:2*C], dy[r0*C:r1*C], st.xhat[r0*C:r1*C], r1-r0, C)
			for c := range C {
				s[c] += float64(part[c])
				sx[c] += float64(part[C+c])
			}
		}
	})
	for c := range C {
		var s, sx float64
		for w := range st.sum {
			s += st.sum[w][c]
			sx += st.sumSq[w][c]
		}
		dbeta[c], dgamma[c] = float32(s), float32(sx)
	}
}

// FoldEval turns inference-mode BatchNorm into one multiply-add per
// element: BN(r) = r*scale + shift.
func (b BNPool) FoldEval(scale, shift, gamma, beta, runMean, runVar []float32) {
	for c := 0; c < b.C; c++ {
		inv := 1 / math.Sqrt(float64(runVar[c])+b.Eps)
		scale[c] = float32(float64(gamma[c]) * inv)
		shift[c] = float32(float64(beta[c]) - float64(runMean[c])*float64(gamma[c])*inv)
	}
}

// ForwardEval writes the pooled maps y of n maps z on the calling goroutine,
// with BatchNorm folded into scale and shift (FoldEval); coef is scale
// followed by shift.
func (b BNPool) ForwardEval(y, z, coef []float32, n int) {
	b.ForwardEvalRows(y, z, coef, 0, n*b.OutH())
}

// ForwardEvalRows is ForwardEval for the rows of pooled outputs lo..hi-1
// (image*OutH + oy), so that one map can be split between CPUs.
func (b BNPool) ForwardEvalRows(y, z, coef []float32, lo, hi int) {
	C := b.C
	for r := lo; r < hi; r++ {
		poolEvalRows(y[r*b.OutW()*C:], z[b.zOffset(r):], b.W*C, b.K, C, b.OutW(), coef)
	}
}

// ForwardEvalPadded is ForwardEvalRows writing each pooled map inside a
// border of one pixel, [image][OutH+2][OutW+2][C]: the input the next
// convolution's Forward reads. The border is left as it is.
func (b BNPool) ForwardEvalPadded(yp, z, coef []float32, lo, hi int) {
	oh, ow, C := b.OutH(), b.OutW(), b.C
	for r := lo; r < hi; r++ {
		img, oy := r/oh, r%oh
		o := ((img*(oh+2)+oy+1)*(ow+2) + 1) * C
		poolEvalRows(yp[o:], z[((img*b.H+oy*b.K)*b.W)*C:], b.W*C, b.K, C, ow, coef)
	}
}
