package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refReLUPool is maxpool(relu(z)) in plain Go: the pooled maps, and the
// index in z of each window's first maximum in row-major order.
func refReLUPool(b BNPool, z []float32, n int) (y []float32, arg []int) {
	oh, ow, C := b.OutH(), b.OutW(), b.C
	for img := range n {
		for oy := range oh {
			for ox := range ow {
				for c := range C {
					best, at := float32(math.Inf(-1)), -1
					for ky := range b.K {
						for kx := range b.K {
							i := ((img*b.H+oy*b.K+ky)*b.W+ox*b.K+kx)*C + c
							if v := max(z[i], 0); v > best {
								best, at = v, i
							}
						}
					}
					y, arg = append(y, best), append(arg, at)
				}
			}
		}
	}
	return y, arg
}

// TestReLUPoolExact: with BatchNorm the identity, the BNPool kernels must
// give maxpool(relu(z)) and its gradient bit for bit, on every kernel
// set, after a BatchNorm pass has left other statistics in the cache.
func TestReLUPoolExact(t *testing.T) {
	for _, ks := range kernelSets() {
		for _, tc := range blockCases {
			t.Run(fmt.Sprintf("%s/%v", ks.name, tc), func(t *testing.T) {
				using(t, ks)
				rng := rand.New(rand.NewPCG(uint64(tc.c), 7))
				b := BNPool{H: tc.h, W: tc.w, C: tc.c, K: tc.k, Eps: 1e-5}
				z := activations(rng, tc.n*tc.h*tc.w*tc.c, 0.3)
				st := b.NewCache(tc.n)
				y := make([]float32, tc.n*b.OutH()*b.OutW()*tc.c)
				b.ForwardTrain(y, z, randn(rng, tc.c, 1), randn(rng, tc.c, 1), tc.n, st)

				b.ForwardReLUPool(y, z, tc.n, st)
				wantY, arg := refReLUPool(b, z, tc.n)
				equalBits(t, "y", y, wantY)

				dy := randn(rng, len(y), 1)
				wantDz := make([]float32, len(z))
				for o, i := range arg {
					if z[i] > 0 {
						wantDz[i] = dy[o]
					}
				}
				wantBias := make([]float64, tc.c)
				for i, v := range wantDz {
					wantBias[i%tc.c] += float64(v)
				}
				dz, dbias := make([]float32, len(z)), make([]float32, tc.c)
				for i := range dz {
					dz[i] = float32(math.NaN()) // every element must be written
				}
				b.BackwardReLUPool(dz, dbias, dy, z, tc.n, st)
				equalBits(t, "dz", dz, wantDz)
				for c, v := range dbias {
					if d := math.Abs(float64(v) - wantBias[c]); d > 1e-5*(1+math.Abs(wantBias[c])) {
						t.Fatalf("dbias[%d] = %g, want %g", c, v, wantBias[c])
					}
				}

				// The same by images, in shares of a batch as a caller
				// splitting it between workers runs them.
				st2 := b.NewCache(tc.n)
				y2, dz2, dbias2 := make([]float32, len(y)), make([]float32, len(z)), make([]float32, tc.c)
				for i := range dz2 {
					dz2[i] = float32(math.NaN())
				}
				size := tc.h * tc.w * tc.c
				for img := range tc.n {
					b.ReLUPoolImages(y2, z[img*size:(img+1)*size], img, img+1, st2)
				}
				equalBits(t, "y by images", y2, wantY)
				for img := range tc.n {
					b.BackwardReLUPoolImages(dz2[img*size:(img+1)*size], dy, img%MaxWorkers(), img, img+1, st2)
				}
				b.ReLUPoolBias(dbias2, st2)
				equalBits(t, "dz by images", dz2, wantDz)
				checkClose(t, "dbias by images", dbias2, to64(dbias), 1e-6)
			})
		}
	}
}

// TestConvReLUPoolMatchesSeparate: ConvBNPool's ReLUPool, which never
// stores the convolution's output, must give what Conv3x3 and BNPool's
// ReLUPool give one after the other: the pooled maps bit for bit (the
// same kernels on the same inputs), the weight and bias gradients within
// rounding of their different order of summation.
func TestConvReLUPoolMatchesSeparate(t *testing.T) {
	cases := []struct{ n, h, w, in, out, k int }{
		{3, 28, 28, 1, 16, 2}, // cnn28's first block
		{3, 28, 28, 1, 8, 2},  // Keras's
		{2, 8, 12, 4, 32, 4},
		{2, 6, 6, 2, 5, 3},
	}
	for _, ks := range kernelSets() {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%v", ks.name, tc), func(t *testing.T) {
				using(t, ks)
				rng := rand.New(rand.NewPCG(uint64(tc.out), 9))
				conv := Conv3x3{H: tc.h, W: tc.w, In: tc.in, Out: tc.out}
				bn := BNPool{H: tc.h, W: tc.w, C: tc.out, K: tc.k}
				b := ConvBNPool{Conv: conv, BN: bn}
				x := randn(rng, tc.n*tc.h*tc.w*tc.in, 1)
				w, bias := randn(rng, tc.out*tc.in*9, 0.5), randn(rng, tc.out, 0.5)
				xp := make([]float32, tc.n*conv.PaddedSize(tc.in))
				conv.Pad(xp, x, tc.n, tc.in)
				wd := make([]float32, len(w))
				conv.DirectWeights(wd, w)
				out := tc.n * bn.OutH() * bn.OutW() * tc.out
				dy := randn(rng, out, 1)

				z := make([]float32, tc.n*tc.h*tc.w*tc.out)
				conv.Forward(z, xp, wd, bias, tc.n)
				sst := bn.NewCache(tc.n)
				want := make([]float32, out)
				bn.ForwardReLUPool(want, z, tc.n, sst)
				dz, wantBias := make([]float32, len(z)), make([]float32, tc.out)
				bn.BackwardReLUPool(dz, wantBias, dy, z, tc.n, sst)
				wantDW := make([]float32, len(w))
				conv.BackwardWeights(wantDW, dz, xp, tc.n)

				st := b.NewCache(tc.n)
				y := make([]float32, out)
				b.ForwardReLUPool(y, xp, wd, bias, tc.n, st)
				equalBits(t, "y", y, want)
				dwd, dbias := make([]float32, len(w)), make([]float32, tc.out)
				b.BackwardReLUPool(dwd, dbias, dy, xp, wd, bias, tc.n, st)
				checkClose(t, "dw", dwd, to64(wantDW), 1e-5)
				checkClose(t, "dbias", dbias, to64(wantBias), 1e-5)
			})
		}
	}
}
