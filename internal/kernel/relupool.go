package kernel

// ReLU then max pooling with no BatchNorm between (Keras's conv blocks) runs
// on BNPool's kernels with BatchNorm the identity: mean 0, inverse standard
// deviation 1, gamma 1 and beta 0. The forward kernel's arithmetic is then
// exact, (r-0)*1*1+0 = r+0, and each window's winner keeps relu(z) there
// as its normalised value; poolReLURows gives the same without the
// arithmetic. The gradient of maxpool(relu(z)) is dy at each
// winner whose z > 0, that is whose kept value > 0, and 0 elsewhere: the
// backward pass writes it from the winners alone (poolScatterRows), z
// unread, bit for bit what BNPool's backward kernel gives with frozen
// identity statistics for finite z.

// ForwardReLUPool writes y, the pooled maps [n][OutH][OutW][C] of relu(z),
// z being [n][H][W][C], and leaves the pooling's choices in st. Eps is
// not used.
func (b BNPool) ForwardReLUPool(y, z []float32, n int, st *BNCache) {
	b.identity(n, st)
	C := b.C
	b.pool(y, st.unit[:C], st.unit[C:2*C], n, st, func(_, r int) []float32 { return z[b.zOffset(r):] }, poolReLURows)
}

// BackwardReLUPool takes dy, the gradient of ForwardReLUPool's pooled maps,
// back to dz, the gradient of z, and dbias, the sum of dz over all pixels.
// z is not read: the winners' values in st tell where ReLU passed dy.
func (b BNPool) BackwardReLUPool(dz, dbias, dy, z []float32, n int, st *BNCache) {
	st.clearSums()
	size := b.H * b.W * b.C
	Parallel(n, func(w, lo, hi int) { b.BackwardReLUPoolImages(dz[lo*size:hi*size], dy, w, lo, hi, st) })
	b.ReLUPoolBias(dbias, st)
}

// ReLUPoolImages is ForwardReLUPool for images lo..hi-1 of the batch, on
// the calling goroutine, so that a caller splitting the batch between
// CPUs itself pools each share as soon as its convolution is written,
// while it is in cache. z holds those images alone; y is the batch's.
// Calls on different images may run at once.
func (b BNPool) ReLUPoolImages(y, z []float32, lo, hi int, st *BNCache) {
	C, oh, ow := b.C, b.OutH(), b.OutW()
	for r := lo * oh; r < hi*oh; r++ {
		o := r * ow * C
		poolReLURows(y[o:], st.xhat[o:], st.arg[o:], z[b.zOffset(r-lo*oh):], b.W*C, b.K, C, ow, st.ident)
	}
}

// BackwardReLUPoolImages is BackwardReLUPool for images lo..hi-1, on the
// calling goroutine as worker w (below MaxWorkers, one call at a time
// each): it writes their dz (those images alone; dy is the batch's)
// and adds its per-channel sum to the worker's
// sums in st, which NewCache, ReLUPoolBias and BackwardReLUPool leave at
// zero. Once every image is done, ReLUPoolBias takes dbias from them.
func (b BNPool) BackwardReLUPoolImages(dz, dy []float32, w, lo, hi int, st *BNCache) {
	C, oh, ow := b.C, b.OutH(), b.OutW()
	s, part := st.sum[w], st.part[w][:C]
	for r := lo * oh; r < hi*oh; r++ {
		o := r * ow * C
		clear(part)
		poolScatterRows(dz[b.zOffset(r-lo*oh):], part, b.W*C, b.K, C, ow, dy[o:], st.arg[o:], st.xhat[o:])
		for c, v := range part {
			s[c] += float64(v)
		}
	}
}

// ReLUPoolBias writes dbias, the sum of dz over the batch, from the sums
// BackwardReLUPoolImages left, and sets them back to zero.
func (b BNPool) ReLUPoolBias(dbias []float32, st *BNCache) {
	for c := range b.C {
		var s float64
		for w := range st.sum {
			s += st.sum[w][c]
		}
		dbias[c] = float32(s)
	}
	st.clearSums()
}

// ForwardReLUPool is ConvBNPool's ForwardTrain with BatchNorm the
// identity: maxpool(relu(conv(x))), the convolution's output never stored.
// With no statistics to take, each CPU convolves the rows under several
// pooled rows of its images at a time (tiles) and pools them.
func (b ConvBNPool) ForwardReLUPool(y, xp, wd, bias []float32, n int, st *ConvBNCache) {
	b.BN.identity(n, &st.BNCache)
	bn := b.BN
	C, oh, ow, win := bn.C, bn.OutH(), bn.OutW(), bn.K*bn.W*bn.C
	Parallel(n, func(w, lo, hi int) {
		b.tiles(xp, lo, hi, func(img, r0, r1 int, c Conv3x3, x []float32) {
			z := st.tile[w]
			c.Forward(z, x, wd, bias, 1)
			for r := r0; r < r1; r++ {
				o := (img*oh + r) * ow * C
				poolReLURows(y[o:], st.xhat[o:], st.arg[o:], z[(r-r0)*win:], bn.W*C, bn.K, C, ow, st.ident)
			}
		})
	})
}

// BackwardReLUPool takes dy, the gradient of ForwardReLUPool's pooled maps,
// back to the weights: dwd (DirectWeights' layout) and dbias. Unlike
// Backward it computes no convolution: dz comes from the pooling's
// winners alone (BNPool.BackwardReLUPool), a tile at a time, and goes
// straight into the weight gradient. wd and bias are not read.
func (b ConvBNPool) BackwardReLUPool(dwd, dbias, dy, xp, wd, bias []float32, n int, st *ConvBNCache) {
	bn := b.BN
	C, oh, ow, win := bn.C, bn.OutH(), bn.OutW(), bn.K*bn.W*bn.C
	for _, d := range st.dw {
		clear(d)
	}
	st.clearSums()
	Parallel(n, func(w, lo, hi int) {
		s, part, dz := st.sum[w], st.part[w][:C], st.dz[w]
		b.tiles(xp, lo, hi, func(img, r0, r1 int, c Conv3x3, x []float32) {
			for r := r0; r < r1; r++ {
				o := (img*oh + r) * ow * C
				clear(part)
				poolScatterRows(dz[(r-r0)*win:], part, bn.W*C, bn.K, C, ow, dy[o:], st.arg[o:], st.xhat[o:])
				for c, v := range part {
					s[c] += float64(v)
				}
			}
			c.BackwardWeights(st.dw[w], dz[:(r1-r0)*win], x, 1)
		})
	})
	bn.ReLUPoolBias(dbias, &st.BNCache)
	st.sumWeights(dwd)
}

// identity sets st's statistics to the identity's, frozen.
func (b BNPool) identity(n int, st *BNCache) {
	st.rows, st.frozen = n*b.H*b.W, true
	clear(st.Mean)
	clear(st.Var)
	for c := range st.InvStd {
		st.InvStd[c] = 1
	}
}
