package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchShapes are LeNet's products with the transposes training uses, and
// convolutions batched over several images.
var benchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
	beta           float32
}{
	{"conv1-fwd", false, false, 32, 1024, 9, 0},
	{"conv2-fwd", false, false, 64, 256, 288, 0},
	{"conv3-fwd", false, false, 128, 16, 576, 0},
	{"conv1-dw", false, true, 32, 9, 1024, 1},
	{"conv2-dw", false, true, 64, 288, 256, 1},
	{"conv3-dw", false, true, 128, 576, 16, 1},
	{"conv2-dx", true, false, 288, 256, 64, 0},
	{"conv3-dx", true, false, 576, 16, 128, 0},
	{"fc1-fwd", false, true, 128, 64, 512, 0},
	{"fc1-dw", true, false, 64, 512, 128, 0},
	{"fc1-dx", false, false, 128, 512, 64, 0},
	{"fc2-fwd", false, true, 128, 10, 64, 0},
	{"fc2-dw", true, false, 10, 64, 128, 0},
	{"fc2-dx", false, false, 128, 64, 10, 0},
	{"conv1-fwd-x16", false, false, 32, 16 * 1024, 9, 0},
	{"conv2-fwd-x32", false, false, 64, 32 * 256, 288, 0},
	{"conv2-dw-x32", false, true, 64, 288, 32 * 256, 1},
	{"conv3-fwd-x128", false, false, 128, 128 * 16, 576, 0},
	{"square-1024", false, false, 1024, 1024, 1024, 0},
}

type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func gonumSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func with(ks *kernelSet) sgemmFunc {
	return func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		gemm(ks, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// BenchmarkSgemm reports GFLOP/s of Sgemm, of its pure-Go path, of the
// assembly kernel sets it does not pick on this CPU and of gonum's Sgemm
// (which runs in parallel when GOMAXPROCS allows: compare with -cpu 1).
func BenchmarkSgemm(b *testing.B) {
	type fn struct {
		name string
		fn   sgemmFunc
	}
	fns := []fn{{"Sgemm", Sgemm}, {"purego", with(goKernels)}}
	for _, ks := range asmKernels {
		if ks != defaultKernels {
			fns = append(fns, fn{ks.name, with(ks)})
		}
	}
	fns = append(fns, fn{"gonum", gonumSgemm})
	for _, s := range benchShapes {
		for _, f := range fns {
			b.Run(s.name+"/"+f.name, func(b *testing.B) {
				benchmark(b, f.fn, s.transA, s.transB, s.m, s.n, s.k, s.beta)
			})
		}
	}
}

// BenchmarkKernel reports GFLOP/s of every kernel on LeNet's products.
func BenchmarkKernel(b *testing.B) {
	for _, s := range benchShapes {
		for _, ks := range append([]*kernelSet{goKernels}, asmKernels...) {
			for _, k := range ks.kernels {
				b.Run(fmt.Sprintf("%s/%s", s.name, k.name), func(b *testing.B) {
					benchmark(b, with(only(ks, k)), s.transA, s.transB, s.m, s.n, s.k, s.beta)
				})
			}
		}
	}
}

func benchmark(b *testing.B, fn sgemmFunc, transA, transB bool, m, n, k int, beta float32) {
	rng := rand.New(rand.NewPCG(1, 1))
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	x, y, z := random(rng, m*k), random(rng, k*n), random(rng, m*n)
	b.ReportAllocs()
	for b.Loop() {
		fn(transA, transB, m, n, k, 1, x, lda, y, ldb, beta, z, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
