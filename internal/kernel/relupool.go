package kernel

// ReLU then max pooling with no BatchNorm between (Keras's conv blocks) runs
// on BNPool's kernels with BatchNorm the identity: mean 0, inverse standard
// deviation 1, gamma 1 and beta 0. The kernels' arithmetic is then exact,
// (r-0)*1*1+0 = r, and with the statistics marked frozen the backward
// kernel's batch terms are multiplied by 0 (and dgamma, dbeta are 0 too),
// so dz is dy at each window's winner where z > 0, bit for bit: the
// gradient of maxpool(relu(z)).

// ForwardReLUPool writes y, the pooled maps [n][OutH][OutW][C] of relu(z),
// z being [n][H][W][C], and leaves the pooling's choices in st. Eps is
// not used.
func (b BNPool) ForwardReLUPool(y, z []float32, n int, st *BNCache) {
	b.identity(n, st)
	C := b.C
	b.pool(y, st.unit[:C], st.unit[C:2*C], n, st, func(_, r int) []float32 { return z[b.zOffset(r):] })
}

// BackwardReLUPool takes dy, the gradient of ForwardReLUPool's pooled maps,
// back to dz, the gradient of z, and dbias, the sum of dz over all pixels.
func (b BNPool) BackwardReLUPool(dz, dbias, dy, z []float32, n int, st *BNCache) {
	b.backward(nil, nil, dbias, dy, st.unit[:b.C], n, st,
		func(_, r int) (zr, dzr []float32) { o := b.zOffset(r); return z[o:], dz[o:] }, nil)
}

// ForwardReLUPool is ConvBNPool's ForwardTrain with BatchNorm the
// identity: maxpool(relu(conv(x))), the convolution's output never stored.
func (b ConvBNPool) ForwardReLUPool(y, xp, wd, bias []float32, n int, st *ConvBNCache) {
	b.BN.identity(n, &st.BNCache)
	C := b.BN.C
	b.BN.pool(y, st.unit[:C], st.unit[C:2*C], n, &st.BNCache, func(w, r int) []float32 {
		return b.rows(w, r, xp, wd, bias, st)
	})
}

// BackwardReLUPool takes dy, the gradient of ForwardReLUPool's pooled maps,
// back to the weights: dwd (DirectWeights' layout) and dbias.
func (b ConvBNPool) BackwardReLUPool(dwd, dbias, dy, xp, wd, bias []float32, n int, st *ConvBNCache) {
	b.backward(dwd, dbias, nil, nil, dy, xp, wd, bias, st.unit[:b.BN.C], n, st)
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
