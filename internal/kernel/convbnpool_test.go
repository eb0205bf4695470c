package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestConvBNPoolMatchesPlain runs the fused block against the plain
// convolution followed by the plain ReLU, BatchNorm and pooling, forward
// and backward down to the weights.
func TestConvBNPoolMatchesPlain(t *testing.T) {
	cases := []struct{ n, h, w, in, out, k int }{
		{2, 32, 32, 1, 32, 2}, // LeNet's first block
		{3, 8, 8, 1, 16, 2},
		{2, 8, 12, 4, 32, 4},
		{2, 6, 6, 2, 5, 3},
	}
	for _, ks := range kernelSets() {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%v", ks.name, tc), func(t *testing.T) {
				using(t, ks)
				rng := rand.New(rand.NewPCG(uint64(tc.out), 5))
				conv := Conv3x3{H: tc.h, W: tc.w, In: tc.in, Out: tc.out}
				b := ConvBNPool{Conv: conv, BN: BNPool{H: tc.h, W: tc.w, C: tc.out, K: tc.k, Eps: 1e-5}}
				x := randn(rng, tc.n*tc.h*tc.w*tc.in, 1)
				w, bias := randn(rng, tc.out*tc.in*9, 0.5), randn(rng, tc.out, 0.5)
				gamma, beta := randn(rng, tc.out, 1), randn(rng, tc.out, 1)
				xp := make([]float32, tc.n*conv.PaddedSize(tc.in))
				conv.Pad(xp, x, tc.n, tc.in)
				wd := make([]float32, len(w))
				conv.DirectWeights(wd, w)

				st := b.NewCache(tc.n)
				y := make([]float32, tc.n*b.BN.OutH()*b.BN.OutW()*tc.out)
				b.ForwardTrain(y, xp, wd, bias, gamma, beta, tc.n, st)

				x64 := to64(x)
				z := refConv(x64, to64(w), to64(bias), tc.n, tc.h, tc.w, tc.in, tc.out)
				ref := refBlock{tc.n, tc.h, tc.w, tc.out, tc.k, 1e-5}
				f := ref.forward(z, to64(gamma), to64(beta))
				checkClose(t, "mean", st.Mean, f.mean, 1e-5)
				checkClose(t, "y", y, f.y, 1e-5)

				// Backward, with the pooling's choices the fast pass made.
				oh, ow := b.BN.OutH(), b.BN.OutW()
				for o := range f.arg {
					r, c := o/tc.out, o%tc.out
					img, oy, ox := r/(oh*ow), r/ow%oh, r%ow
					pos := int(st.arg[o])
					f.arg[o] = ((img*tc.h+oy*tc.k+pos/tc.k)*tc.w+ox*tc.k+pos%tc.k)*tc.out + c
				}
				dy := randn(rng, len(y), 1)
				g := ref.backward(to64(dy), z, to64(gamma), f)
				wantDW := refConvWeightGrad(x64, g.dz, tc.n, tc.h, tc.w, tc.in, tc.out)

				dwd := make([]float32, len(w))
				dbias, dgamma, dbeta := make([]float32, tc.out), make([]float32, tc.out), make([]float32, tc.out)
				b.Backward(dwd, dbias, dgamma, dbeta, dy, xp, wd, bias, gamma, tc.n, st)
				dw := make([]float32, len(w))
				conv.UndirectWeights(dw, dwd)
				checkClose(t, "dw", dw, wantDW, 1e-5)
				checkSums(t, "dbias", dbias, g.dbias, g.absBias, 1e-5)
				checkSums(t, "dgamma", dgamma, g.dgamma, g.absGamma, 1e-5)
				checkSums(t, "dbeta", dbeta, g.dbeta, g.absBeta, 1e-5)
			})
		}
	}
}
