package kernel

import "math"

// ReluBatchNorm is ReLU followed by BatchNorm over the channels of NHWC data
// with rows = pixels of the batch, as the seed's conv blocks apply them.
type ReluBatchNorm struct {
	C   int
	Eps float64
}

// Stats holds one batch's per-channel statistics, kept from the forward pass
// for the backward pass.
type Stats struct {
	Mean, InvStd []float32
	Var          []float64 // biased, as used for normalising
	sum, sumSq   [][]float64
}

// NewStats makes statistics for c channels and the given number of workers.
func NewStats(c, workers int) *Stats {
	s := &Stats{Mean: make([]float32, c), InvStd: make([]float32, c), Var: make([]float64, c)}
	for i := 0; i < workers; i++ {
		s.sum = append(s.sum, make([]float64, c))
		s.sumSq = append(s.sumSq, make([]float64, c))
	}
	return s
}

// ForwardTrain writes r = relu(x) and y = BN(r) using the batch's mean and
// biased variance (rows is the number of pixels in the batch), and leaves
// those statistics in st.
func (b ReluBatchNorm) ForwardTrain(y, r, x, gamma, beta []float32, rows int, st *Stats) {
	C := b.C
	// Pass 1: ReLU and the per-channel mean.
	Parallel(rows, func(w, lo, hi int) {
		sum := st.sum[w]
		clear(sum)
		for p := lo; p < hi; p++ {
			xr, rr := x[p*C:(p+1)*C], r[p*C:(p+1)*C]
			for c, v := range xr {
				if v < 0 {
					v = 0
				}
				rr[c] = v
				sum[c] += float64(v)
			}
		}
	})
	mean := st.totalSum()
	for c := 0; c < C; c++ {
		mean[c] /= float64(rows)
		st.Mean[c] = float32(mean[c])
	}
	// Pass 2: the variance around that mean (two passes: no cancellation).
	Parallel(rows, func(w, lo, hi int) {
		sq := st.sumSq[w]
		clear(sq)
		for p := lo; p < hi; p++ {
			rr := r[p*C : (p+1)*C]
			for c, v := range rr {
				d := float64(v) - mean[c]
				sq[c] += d * d
			}
		}
	})
	for c := 0; c < C; c++ {
		v := 0.0
		for w := range st.sumSq {
			v += st.sumSq[w][c]
		}
		v /= float64(rows)
		st.Var[c] = v
		st.InvStd[c] = float32(1 / math.Sqrt(v+b.Eps))
	}
	b.normalize(y, r, gamma, beta, st.Mean, st.InvStd, rows)
}

// totalSum adds the workers' partial sums into the first worker's slice.
func (st *Stats) totalSum() []float64 {
	total := st.sum[0]
	for w := 1; w < len(st.sum); w++ {
		for c, v := range st.sum[w] {
			total[c] += v
		}
	}
	return total
}

// UpdateRunning folds the batch statistics into the running ones as PyTorch
// does: momentum-weighted, with the unbiased variance.
func (b ReluBatchNorm) UpdateRunning(runMean, runVar []float32, st *Stats, rows int, momentum float64) {
	unbias := float64(rows) / float64(rows-1)
	for c := range runMean {
		runMean[c] = float32((1-momentum)*float64(runMean[c]) + momentum*float64(st.Mean[c]))
		runVar[c] = float32((1-momentum)*float64(runVar[c]) + momentum*st.Var[c]*unbias)
	}
}

// FoldEval turns BatchNorm's inference-mode arithmetic into one multiply-add
// per element: y = relu(x)*scale + shift.
func (b ReluBatchNorm) FoldEval(scale, shift, gamma, beta, runMean, runVar []float32) {
	for c := 0; c < b.C; c++ {
		inv := 1 / math.Sqrt(float64(runVar[c])+b.Eps)
		scale[c] = float32(float64(gamma[c]) * inv)
		shift[c] = float32(float64(beta[c]) - float64(runMean[c])*float64(gamma[c])*inv)
	}
}

// ForwardEval applies ReLU and the folded BatchNorm to rows pixels on the
// calling goroutine; y may be x.
func (b ReluBatchNorm) ForwardEval(y, x, scale, shift []float32, rows int) {
	C := b.C
	for p := 0; p < rows; p++ {
		xr, yr := x[p*C:(p+1)*C], y[p*C:(p+1)*C]
		for c, v := range xr {
			if v < 0 {
				v = 0
			}
			yr[c] = v*scale[c] + shift[c]
		}
	}
}

func (b ReluBatchNorm) normalize(y, r, gamma, beta, mean, invStd []float32, rows int) {
	C := b.C
	Parallel(rows, func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			rr, yr := r[p*C:(p+1)*C], y[p*C:(p+1)*C]
			for c, v := range rr {
				yr[c] = (v-mean[c])*invStd[c]*gamma[c] + beta[c]
			}
		}
	})
}

// Backward computes dx (through BatchNorm and ReLU), dgamma and dbeta from
// dy, the ReLU output r and the forward statistics.
func (b ReluBatchNorm) Backward(dx, dgamma, dbeta, dy, r, gamma []float32, rows int, st *Stats) {
	C := b.C
	// Per-channel sums of dy and dy*xhat.
	Parallel(rows, func(w, lo, hi int) {
		sdy, sdyx := st.sum[w], st.sumSq[w]
		clear(sdy)
		clear(sdyx)
		for p := lo; p < hi; p++ {
			rr, dr := r[p*C:(p+1)*C], dy[p*C:(p+1)*C]
			for c, g := range dr {
				xhat := (rr[c] - st.Mean[c]) * st.InvStd[c]
				sdy[c] += float64(g)
				sdyx[c] += float64(g * xhat)
			}
		}
	})
	for c := 0; c < C; c++ {
		var a, bb float64
		for w := range st.sum {
			a += st.sum[w][c]
			bb += st.sumSq[w][c]
		}
		dbeta[c] = float32(a)
		dgamma[c] = float32(bb)
	}
	m := float32(rows)
	Parallel(rows, func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			rr, dr, xr := r[p*C:(p+1)*C], dy[p*C:(p+1)*C], dx[p*C:(p+1)*C]
			for c, g := range dr {
				if rr[c] <= 0 {
					xr[c] = 0 // ReLU blocked this element
					continue
				}
				xhat := (rr[c] - st.Mean[c]) * st.InvStd[c]
				xr[c] = gamma[c] * st.InvStd[c] / m * (m*g - dbeta[c] - xhat*dgamma[c])
			}
		}
	})
}
