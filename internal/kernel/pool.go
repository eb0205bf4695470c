package kernel

// MaxPool is a KxK max pooling with stride K on NHWC data.
type MaxPool struct {
	H, W, C, K int
}

// OutH and OutW are the pooled sizes (floor, as PyTorch's default).
func (m MaxPool) OutH() int { return m.H / m.K }
func (m MaxPool) OutW() int { return m.W / m.K }

// Forward pools n images; when arg is not nil it records, per output, the
// index into x of the winning input for the backward pass. Ties go to the
// first in row-major order, as PyTorch's CPU kernel does.
func (m MaxPool) Forward(y, x []float32, arg []int32, n int) {
	Parallel(n, func(_, lo, hi int) { m.ForwardSerial(y, x, arg, lo, hi) })
}

// ForwardSerial is Forward for images lo..hi-1 on the calling goroutine.
func (m MaxPool) ForwardSerial(y, x []float32, arg []int32, lo, hi int) {
	H, W, C, K := m.H, m.W, m.C, m.K
	oh, ow := m.OutH(), m.OutW()
	{
		for img := lo; img < hi; img++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					o := ((img*oh+oy)*ow + ox) * C
					yr := y[o : o+C]
					first := ((img*H+oy*K)*W + ox*K) * C
					copy(yr, x[first:first+C])
					if arg != nil {
						ar := arg[o : o+C]
						for c := range ar {
							ar[c] = int32(first + c)
						}
					}
					for ky := 0; ky < K; ky++ {
						for kx := 0; kx < K; kx++ {
							if ky == 0 && kx == 0 {
								continue
							}
							base := ((img*H+oy*K+ky)*W + ox*K + kx) * C
							xr := x[base : base+C]
							if arg == nil {
								for c, v := range xr {
									if v > yr[c] {
										yr[c] = v
									}
								}
								continue
							}
							ar := arg[o : o+C]
							for c, v := range xr {
								if v > yr[c] {
									yr[c] = v
									ar[c] = int32(base + c)
								}
							}
						}
					}
				}
			}
		}
	}
}

// Backward routes each output gradient to its winning input; dx is
// overwritten.
func (m MaxPool) Backward(dx, dy []float32, arg []int32, n int) {
	per := m.H * m.W * m.C
	outPer := m.OutH() * m.OutW() * m.C
	Parallel(n, func(_, lo, hi int) {
		clear(dx[lo*per : hi*per])
		for i := lo * outPer; i < hi*outPer; i++ {
			dx[arg[i]] += dy[i]
		}
	})
}
