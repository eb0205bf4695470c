package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// kernelSets returns every row kernel set this CPU runs, the pure-Go one
// first.
func kernelSets() []*kernelSet { return append([]*kernelSet{goKernels}, asmKernels...) }

// using makes ks the kernels the package uses until the test ends.
func using(t *testing.T, ks *kernelSet) {
	old := bestKernels
	bestKernels = ks
	t.Cleanup(func() { bestKernels = old })
}

// activations returns n values like a convolution's output: spread around
// mean, a fifth of them exactly zero or negative zero after ReLU's view,
// and some repeated, so that pooling sees ties.
func activations(rng *rand.Rand, n int, mean float64) []float32 {
	z := make([]float32, n)
	for i := range z {
		switch rng.IntN(10) {
		case 0:
			z[i] = 0
		case 1:
			if i > 0 {
				z[i] = z[i-1]
				continue
			}
			fallthrough
		default:
			z[i] = float32(mean + rng.NormFloat64())
		}
	}
	return z
}

func randn(rng *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * scale)
	}
	return s
}

// closeTo reports the worst of |got-want| / scale, where scale is the
// largest |want| (at least 1e-30): a normwise relative error.
func closeTo(got []float32, want []float64) (worst float64, at int) {
	scale := 1e-30
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	at = -1
	for i := range want {
		d := math.Abs(float64(got[i])-want[i]) / scale
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

func checkClose(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	if worst, at := closeTo(got, want); worst > tol || math.IsNaN(worst) {
		t.Errorf("%s: relative error %.3g at %d (got %g, want %g), tolerance %g", name, worst, at, got[at], want[at], tol)
	}
}

// checkSums compares reductions with the tolerance scaled by the sum of
// the magnitudes of their terms.
func checkSums(t *testing.T, name string, got []float32, want, abs []float64, tol float64) {
	t.Helper()
	for c := range want {
		if d := math.Abs(float64(got[c]) - want[c]); d > tol*(abs[c]+1e-30) || math.IsNaN(d) {
			t.Errorf("%s[%d] = %g, want %g (terms' magnitudes sum to %g)", name, c, got[c], want[c], abs[c])
		}
	}
}

// blockCases are conv-block shapes: LeNet's three, small ones, and channel
// counts that are not a multiple of any vector width.
var blockCases = []struct{ n, h, w, c, k int }{
	{3, 8, 8, 32, 2},
	{2, 16, 16, 64, 4},
	{5, 4, 4, 128, 2},
	{2, 6, 6, 48, 3},
	{3, 4, 4, 8, 1},
	{2, 4, 6, 5, 2},
	{1, 2, 2, 16, 2},
}

func TestBNPoolForwardTrainMatchesPlain(t *testing.T) {
	for _, ks := range kernelSets() {
		for _, tc := range blockCases {
			t.Run(fmt.Sprintf("%s/%v", ks.name, tc), func(t *testing.T) {
				using(t, ks)
				rng := rand.New(rand.NewPCG(uint64(tc.c), 1))
				b := BNPool{H: tc.h, W: tc.w, C: tc.c, K: tc.k, Eps: 1e-5}
				// A large mean against the spread: the statistics must not
				// lose it to cancellation.
				z := activations(rng, tc.n*tc.h*tc.w*tc.c, 30)
				for i := range z[:len(z)/3] {
					z[i] -= 30
				}
				gamma, beta := randn(rng, tc.c, 1), randn(rng, tc.c, 1)
				gamma[0] = -gamma[0] // a negative scale turns maxima into minima
				ref := refBlock{tc.n, tc.h, tc.w, tc.c, tc.k, 1e-5}
				want := ref.forward(to64(z), to64(gamma), to64(beta))

				st := b.NewCache(tc.n)
				y := make([]float32, len(want.y))
				b.ForwardTrain(y, z, gamma, beta, tc.n, st)
				checkClose(t, "mean", st.Mean, want.mean, 1e-6)
				checkClose(t, "var", to32(st.Var), want.vari, 1e-5)
				checkClose(t, "y", y, want.y, 1e-5)
				oh, ow := b.OutH(), b.OutW()
				for o, i := range want.arg {
					r, c := o/tc.c, o%tc.c
					img, oy, ox := r/(oh*ow), r/ow%oh, r%ow
					pos := int(st.arg[o])
					got := ((img*tc.h+oy*tc.k+pos/tc.k)*tc.w+ox*tc.k+pos%tc.k)*tc.c + c
					// Another position is right only when its value is
					// within rounding of the maximum.
					norm := want.xhat[got]*float64(gamma[c]) + float64(beta[c])
					if got != i && math.Abs(norm-want.y[o]) > 1e-6*(1+math.Abs(want.y[o])) {
						t.Fatalf("output %d: maximum at window position %d, value %g; want %g", o, pos, norm, want.y[o])
					}
					if d := float64(st.xhat[o]) - want.xhat[got]; math.Abs(d) > 1e-5*(1+math.Abs(want.xhat[got])) {
						t.Fatalf("output %d: normalised maximum %g, want %g", o, st.xhat[o], want.xhat[got])
					}
				}
			})
		}
	}
}

func TestBNPoolBackwardMatchesPlain(t *testing.T) {
	for _, ks := range kernelSets() {
		for _, tc := range blockCases {
			t.Run(fmt.Sprintf("%s/%v", ks.name, tc), func(t *testing.T) {
				using(t, ks)
				rng := rand.New(rand.NewPCG(uint64(tc.c), 2))
				b := BNPool{H: tc.h, W: tc.w, C: tc.c, K: tc.k, Eps: 1e-5}
				z := activations(rng, tc.n*tc.h*tc.w*tc.c, 0.3)
				gamma, beta := randn(rng, tc.c, 1), randn(rng, tc.c, 1)
				st := b.NewCache(tc.n)
				y := make([]float32, tc.n*b.OutH()*b.OutW()*tc.c)
				b.ForwardTrain(y, z, gamma, beta, tc.n, st)
				dy := randn(rng, len(y), 1)

				// The reference takes the pooling's choices from the fast
				// forward pass: near-ties may be broken either way, and the
				// gradient follows whichever was taken.
				ref := refBlock{tc.n, tc.h, tc.w, tc.c, tc.k, 1e-5}
				f := ref.forward(to64(z), to64(gamma), to64(beta))
				oh, ow := b.OutH(), b.OutW()
				for o := range f.arg {
					r, c := o/tc.c, o%tc.c
					img, oy, ox := r/(oh*ow), r/ow%oh, r%ow
					pos := int(st.arg[o])
					f.arg[o] = ((img*tc.h+oy*tc.k+pos/tc.k)*tc.w+ox*tc.k+pos%tc.k)*tc.c + c
				}
				want := ref.backward(to64(dy), to64(z), to64(gamma), f)

				dz := make([]float32, len(z))
				for i := range dz {
					dz[i] = float32(math.NaN()) // every element must be written
				}
				dgamma, dbeta, dbias := make([]float32, tc.c), make([]float32, tc.c), make([]float32, tc.c)
				b.Backward(dz, dgamma, dbeta, dbias, dy, z, gamma, tc.n, st)
				checkClose(t, "dz", dz, want.dz, 1e-5)
				checkSums(t, "dgamma", dgamma, want.dgamma, want.absGamma, 1e-5)
				checkSums(t, "dbeta", dbeta, want.dbeta, want.absBeta, 1e-5)
				checkSums(t, "dbias", dbias, want.dbias, want.absBias, 1e-5)
			})
		}
	}
}

// TestBNPoolGradient checks the backward pass against central differences
// of the plain float64 forward pass, on inputs kept away from ReLU's kink.
func TestBNPoolGradient(t *testing.T) {
	for _, ks := range kernelSets() {
		for _, tc := range []struct{ n, h, w, c, k int }{{2, 4, 4, 16, 2}, {2, 8, 8, 8, 4}, {3, 4, 4, 5, 2}} {
			t.Run(fmt.Sprintf("%s/%v", ks.name, tc), func(t *testing.T) {
				using(t, ks)
				rng := rand.New(rand.NewPCG(uint64(tc.c), 3))
				b := BNPool{H: tc.h, W: tc.w, C: tc.c, K: tc.k, Eps: 1e-5}
				z := randn(rng, tc.n*tc.h*tc.w*tc.c, 1)
				for i, v := range z {
					if math.Abs(float64(v)) < 0.05 {
						z[i] += 0.1
					}
				}
				gamma, beta := randn(rng, tc.c, 1), randn(rng, tc.c, 1)
				st := b.NewCache(tc.n)
				y := make([]float32, tc.n*b.OutH()*b.OutW()*tc.c)
				b.ForwardTrain(y, z, gamma, beta, tc.n, st)
				// loss = sum of y * w for fixed random weights w.
				w := randn(rng, len(y), 1)
				dz := make([]float32, len(z))
				dgamma, dbeta, dbias := make([]float32, tc.c), make([]float32, tc.c), make([]float32, tc.c)
				b.Backward(dz, dgamma, dbeta, dbias, w, z, gamma, tc.n, st)

				ref := refBlock{tc.n, tc.h, tc.w, tc.c, tc.k, 1e-5}
				z64, g64, b64 := to64(z), to64(gamma), to64(beta)
				loss := func() float64 {
					var s float64
					for i, v := range ref.forward(z64, g64, b64).y {
						s += v * float64(w[i])
					}
					return s
				}
				numeric := func(p *float64) float64 {
					const h = 1e-6
					old := *p
					*p = old + h
					up := loss()
					*p = old - h
					down := loss()
					*p = old
					return (up - down) / (2 * h)
				}
				check := func(name string, got float32, want float64) {
					t.Helper()
					if math.Abs(float64(got)-want) > 1e-3*(1+math.Abs(want)) {
						t.Errorf("%s: backward %g, numerical %g", name, got, want)
					}
				}
				for _, i := range rng.Perm(len(z))[:40] {
					check(fmt.Sprintf("dz[%d]", i), dz[i], numeric(&z64[i]))
				}
				for c := range tc.c {
					check(fmt.Sprintf("dgamma[%d]", c), dgamma[c], numeric(&g64[c]))
					check(fmt.Sprintf("dbeta[%d]", c), dbeta[c], numeric(&b64[c]))
				}
				for c := range tc.c {
					var s float64
					for p := c; p < len(dz); p += tc.c {
						s += float64(dz[p])
					}
					check(fmt.Sprintf("dbias[%d]", c), dbias[c], s)
				}
			})
		}
	}
}

func TestBNPoolForwardEvalMatchesPlain(t *testing.T) {
	for _, ks := range kernelSets() {
		for _, tc := range blockCases {
			t.Run(fmt.Sprintf("%s/%v", ks.name, tc), func(t *testing.T) {
				using(t, ks)
				rng := rand.New(rand.NewPCG(uint64(tc.c), 4))
				b := BNPool{H: tc.h, W: tc.w, C: tc.c, K: tc.k, Eps: 1e-5}
				z := activations(rng, tc.n*tc.h*tc.w*tc.c, 0.5)
				gamma, beta := randn(rng, tc.c, 1), randn(rng, tc.c, 1)
				runMean := randn(rng, tc.c, 1)
				runVar := randn(rng, tc.c, 1)
				for i, v := range runVar {
					runVar[i] = v*v + 0.1
				}
				coef := make([]float32, 2*tc.c)
				b.FoldEval(coef[:tc.c], coef[tc.c:], gamma, beta, runMean, runVar)
				y := make([]float32, tc.n*b.OutH()*b.OutW()*tc.c+7)
				b.ForwardEval(y, z, coef, tc.n)

				// The plain version: each layer in turn, in float64.
				oh, ow := b.OutH(), b.OutW()
				want := make([]float64, tc.n*oh*ow*tc.c)
				for o := range want {
					r, c := o/tc.c, o%tc.c
					img, oy, ox := r/(oh*ow), r/ow%oh, r%ow
					best := math.Inf(-1)
					for ky := range tc.k {
						for kx := range tc.k {
							v := math.Max(float64(z[((img*tc.h+oy*tc.k+ky)*tc.w+ox*tc.k+kx)*tc.c+c]), 0)
							v = (v-float64(runMean[c]))/math.Sqrt(float64(runVar[c])+1e-5)*float64(gamma[c]) + float64(beta[c])
							best = math.Max(best, v)
						}
					}
					want[o] = best
				}
				checkClose(t, "y", y, want, 1e-5)
				if slices.ContainsFunc(y[len(want):], func(v float32) bool { return v != 0 }) {
					t.Error("wrote past the pooled maps")
				}

				// The same into bordered maps, in two halves.
				yp := make([]float32, tc.n*(oh+2)*(ow+2)*tc.c)
				for i := range yp {
					yp[i] = guard
				}
				b.ForwardEvalPadded(yp, z, coef, 0, tc.n*oh/2)
				b.ForwardEvalPadded(yp, z, coef, tc.n*oh/2, tc.n*oh)
				for i, v := range yp {
					px, c := i/tc.c, i%tc.c
					img, py, pxx := px/((oh+2)*(ow+2)), px/(ow+2)%(oh+2), px%(ow+2)
					if py == 0 || py == oh+1 || pxx == 0 || pxx == ow+1 {
						if v != guard {
							t.Fatalf("bordered maps: border value %d overwritten", i)
						}
						continue
					}
					if o := ((img*oh+py-1)*ow+pxx-1)*tc.c + c; v != y[o] {
						t.Fatalf("bordered maps: value %d = %g, unbordered %g", i, v, y[o])
					}
				}
			})
		}
	}
}

// TestRowKernelsAgree runs each assembly kernel set against the pure-Go
// kernels on single rows, with guard values around every output to catch
// writes out of place.
func TestRowKernelsAgree(t *testing.T) {
	for _, ks := range asmKernels {
		for _, c := range []int{ks.lanes, 2 * ks.lanes, 3 * ks.lanes, 4 * ks.lanes, 5 * ks.lanes, 8 * ks.lanes} {
			for _, k := range []int{1, 2, 3, 4} {
				for _, ow := range []int{1, 3} {
					t.Run(fmt.Sprintf("%s/c=%d/k=%d/ow=%d", ks.name, c, k, ow), func(t *testing.T) {
						rowKernelsAgree(t, ks, c, k, ow)
					})
				}
			}
		}
	}
}

const guard = 12345

// guarded returns a slice of n values set by fill, within a larger array
// whose other values are guard.
func guarded(n int, fill func([]float32)) (s, all []float32) {
	all = make([]float32, n+64)
	for i := range all {
		all[i] = guard
	}
	s = all[32 : 32+n]
	fill(s)
	return s, all
}

func checkGuards(t *testing.T, name string, all []float32) {
	t.Helper()
	for _, i := range append(seq(0, 32), seq(len(all)-32, len(all))...) {
		if all[i] != guard {
			t.Fatalf("%s: value %d outside the output was overwritten", name, i-32)
		}
	}
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

func equalBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] == 0 && want[i] == 0) {
			t.Fatalf("%s[%d] = %g, Go kernel %g", name, i, got[i], want[i])
		}
	}
}

func rowKernelsAgree(t *testing.T, ks *kernelSet, c, k, ow int) {
	rng := rand.New(rand.NewPCG(uint64(c*k), uint64(ow)))
	stride := (ow*k+1)*c + 3 // an input row longer than the windows need
	z := activations(rng, (k-1)*stride+ow*k*c, 0.2)
	coef := randn(rng, 6*c, 1)
	for i := c; i < 2*c; i++ {
		coef[i] = float32(math.Abs(float64(coef[i]))) + 0.1 // invstd
	}

	// Pooling, training.
	y0, xh0, arg0 := make([]float32, ow*c), make([]float32, ow*c), make([]uint8, ow*c)
	poolTrainRowsGo(y0, xh0, arg0, z, stride, k, c, ow, coef)
	y, yAll := guarded(ow*c, func([]float32) {})
	xh, xhAll := guarded(ow*c, func([]float32) {})
	argAll := make([]uint8, ow*c+64)
	arg := argAll[32 : 32+ow*c]
	ks.train(y, xh, arg, z, stride, k, c, ow, coef)
	equalBits(t, "train y", y, y0)
	equalBits(t, "train xhat", xh, xh0)
	if !slices.Equal(arg, arg0) {
		t.Fatalf("train arg = %v, Go kernel %v", arg, arg0)
	}
	checkGuards(t, "train y", yAll)
	checkGuards(t, "train xhat", xhAll)
	if slices.ContainsFunc(argAll[:32], func(v uint8) bool { return v != 0 }) || slices.ContainsFunc(argAll[32+ow*c:], func(v uint8) bool { return v != 0 }) {
		t.Fatal("train arg: wrote outside the output")
	}

	// Pooling, backward.
	g := randn(rng, ow*c, 1)
	dz0 := make([]float32, len(z))
	db0 := randn(rng, c, 1)
	db := slices.Clone(db0)
	poolBackRowsGo(dz0, db0, z, stride, k, c, ow, g, arg0, coef)
	dz, dzAll := guarded(len(z), func(s []float32) {
		for i := range s {
			s[i] = guard // elements between the windows stay as they are
		}
	})
	ks.back(dz, db, z, stride, k, c, ow, g, arg0, coef)
	for i := range dz0 {
		if dz[i] == guard {
			dz[i] = 0
		}
	}
	equalBits(t, "back dz", dz, dz0)
	checkClose(t, "back db", db, to64(db0), 1e-6)
	checkGuards(t, "back dz", dzAll)

	// Pooling, backward with BatchNorm the identity (ReLUPool), from the
	// winners' values: the backward kernel's dz with identity statistics
	// (mean 0, invstd 1, gamma 1, beta 0, the batch terms 0), bit for bit.
	ident := make([]float32, 6*c)
	for i := c; i < 3*c; i++ {
		ident[i] = 1
	}
	yi, xhi, argi := make([]float32, ow*c), make([]float32, ow*c), make([]uint8, ow*c)
	ks.train(yi, xhi, argi, z, stride, k, c, ow, ident)
	if ks.reluTrain != nil {
		// The identity's own kernel: the same outputs, bit for bit.
		yr, yrAll := guarded(ow*c, func([]float32) {})
		xhr, xhrAll := guarded(ow*c, func([]float32) {})
		argr := make([]uint8, ow*c)
		ks.reluTrain(yr, xhr, argr, z, stride, k, c, ow)
		equalBits(t, "relu y", yr, yi)
		equalBits(t, "relu xhat", xhr, xhi)
		if !slices.Equal(argr, argi) {
			t.Fatalf("relu arg = %v, train kernel %v", argr, argi)
		}
		checkGuards(t, "relu y", yrAll)
		checkGuards(t, "relu xhat", xhrAll)
	}
	dzi, dbi := make([]float32, len(z)), randn(rng, c, 1)
	dbs, dbg := slices.Clone(dbi), slices.Clone(dbi)
	poolBackRowsGo(dzi, dbi, z, stride, k, c, ow, g, argi, ident)
	dzg := make([]float32, len(z))
	poolScatterRowsGo(dzg, dbg, stride, k, c, ow, g, argi, xhi)
	equalBits(t, "scatter dz (Go)", dzg, dzi)
	checkClose(t, "scatter db (Go)", dbg, to64(dbi), 1e-6)
	dzs, dzsAll := guarded(len(z), func(s []float32) {
		for i := range s {
			s[i] = guard
		}
	})
	ks.scatter(dzs, dbs, stride, k, c, ow, g, argi, xhi)
	for i := range dzs {
		if dzs[i] == guard {
			dzs[i] = 0
		}
	}
	equalBits(t, "scatter dz", dzs, dzi)
	equalBits(t, "scatter db", dbs, dbg)
	checkGuards(t, "scatter dz", dzsAll)

	// Pooling, inference.
	ye0 := make([]float32, ow*c)
	poolEvalRowsGo(ye0, z, stride, k, c, ow, coef)
	ye, yeAll := guarded(ow*c, func([]float32) {})
	ks.eval(ye, z, stride, k, c, ow, coef)
	checkClose(t, "eval y", ye, to64(ye0), 1e-6)
	checkGuards(t, "eval y", yeAll)

	// Reductions over rows.
	rows := 3*k + ow
	a, x := activations(rng, rows*c, 0.1), randn(rng, rows*c, 1)
	s0, sq0 := randn(rng, c, 1), randn(rng, c, 1)
	s, sqAll := guarded(c, func(v []float32) { copy(v, s0) })
	sq, sq2All := guarded(c, func(v []float32) { copy(v, sq0) })
	statsRowsGo(s0, sq0, a, coef[:c], rows, c)
	ks.stats(s, sq, a, coef[:c], rows, c)
	checkClose(t, "stats sum", s, to64(s0), 1e-6)
	checkClose(t, "stats squares", sq, to64(sq0), 1e-6)
	checkGuards(t, "stats sum", sqAll)
	checkGuards(t, "stats squares", sq2All)
	d0, dx0 := randn(rng, c, 1), randn(rng, c, 1)
	d, dx := slices.Clone(d0), slices.Clone(dx0)
	dotRowsGo(d0, dx0, a, x, rows, c)
	ks.dot(d, dx, a, x, rows, c)
	checkClose(t, "dot sum", d, to64(d0), 1e-6)
	checkClose(t, "dot products", dx, to64(dx0), 1e-6)
}

func TestConv1KernelsAgree(t *testing.T) {
	for _, ks := range asmKernels {
		for _, c := range []int{ks.lanes, 2 * ks.lanes, 3 * ks.lanes, 4 * ks.lanes} {
			for _, hw := range [][2]int{{1, 4}, {3, 8}, {32, 32}, {5, 12}} {
				t.Run(fmt.Sprintf("%s/c=%d/%dx%d", ks.name, c, hw[0], hw[1]), func(t *testing.T) {
					h, w := hw[0], hw[1]
					rng := rand.New(rand.NewPCG(uint64(c), uint64(h*w)))
					xp := randn(rng, (h+2)*(w+2), 1)
					wt, bias := randn(rng, 9*c, 1), randn(rng, c, 1)
					out0 := make([]float32, h*w*c)
					conv1Go(out0, xp, wt, bias, h, w, c)
					out, all := guarded(h*w*c, func([]float32) {})
					ks.conv1(out, xp, wt, bias, h, w, c)
					checkClose(t, "conv1", out, to64(out0), 1e-6)
					checkGuards(t, "conv1", all)

					dz := randn(rng, h*w*c, 1)
					dw0 := randn(rng, 9*c, 1)
					dw, dwAll := guarded(9*c, func(s []float32) { copy(s, dw0) })
					conv1GradGo(dw0, xp, dz, h, w, c)
					ks.conv1Grad(dw, xp, dz, h, w, c)
					checkClose(t, "conv1 dw", dw, to64(dw0), 1e-5)
					checkGuards(t, "conv1 dw", dwAll)
				})
			}
		}
	}
}

// TestPairKernelsAgree: the eight-channel kernels that pool two windows a
// vector give the Go kernels' outputs bit for bit, alone on even rows and
// through poolReLURows and poolScatterRows on odd ones (a last window
// alone).
func TestPairKernelsAgree(t *testing.T) {
	const c = 8
	for _, ks := range asmKernels {
		if ks.reluPair == nil {
			continue
		}
		for _, k := range []int{1, 2, 3, 4} {
			for _, ow := range []int{2, 6, 7, 14} {
				t.Run(fmt.Sprintf("%s/k=%d/ow=%d", ks.name, k, ow), func(t *testing.T) {
					using(t, ks)
					rng := rand.New(rand.NewPCG(uint64(k), uint64(ow)))
					stride := (ow*k+1)*c + 3
					z := activations(rng, (k-1)*stride+ow*k*c, 0.2)
					ident := make([]float32, 4*c)
					for i := c; i < 3*c; i++ {
						ident[i] = 1
					}
					y0, xh0, arg0 := make([]float32, ow*c), make([]float32, ow*c), make([]uint8, ow*c)
					poolTrainRowsGo(y0, xh0, arg0, z, stride, k, c, ow, ident)
					y, yAll := guarded(ow*c, func([]float32) {})
					xh, xhAll := guarded(ow*c, func([]float32) {})
					arg := make([]uint8, ow*c)
					poolReLURows(y, xh, arg, z, stride, k, c, ow, ident)
					equalBits(t, "y", y, y0)
					equalBits(t, "xhat", xh, xh0)
					if !slices.Equal(arg, arg0) {
						t.Fatalf("arg = %v, Go kernel %v", arg, arg0)
					}
					checkGuards(t, "y", yAll)
					checkGuards(t, "xhat", xhAll)

					g := randn(rng, ow*c, 1)
					db0 := randn(rng, c, 1)
					db := slices.Clone(db0)
					dz0 := make([]float32, len(z))
					poolScatterRowsGo(dz0, db0, stride, k, c, ow, g, arg0, xh0)
					dz, dzAll := guarded(len(z), func(s []float32) {
						for i := range s {
							s[i] = guard
						}
					})
					poolScatterRows(dz, db, stride, k, c, ow, g, arg0, xh0)
					for i := range dz {
						if dz[i] == guard {
							dz[i] = 0
						}
					}
					equalBits(t, "dz", dz, dz0)
					equalBits(t, "db", db, db0)
					checkGuards(t, "dz", dzAll)
				})
			}
		}
	}
}
