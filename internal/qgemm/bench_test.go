package qgemm

import (
	"math/rand/v2"
	"testing"

	"github.com/lenetkit/lenetkit/internal/gemm"
)

// BenchmarkInt8 times the int8 product on LeNet's shapes (lenetShapes: A
// m x k activations times packed k x n weights) with every kernel set this
// CPU runs, alone ("gemm") and followed by Requantize to uint8 as
// QLinearConv does ("requant"), beside internal/gemm's float32 product
// with its B packed likewise ("float32"). It reports GOPS (2mnk per call)
// and x-float32, the float32 product's time over this one's. The "tA"
// shapes take A transposed (an NCHW im2col matrix, k x m).
func BenchmarkInt8(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	type shape struct {
		name    string
		m, n, k int
		transA  bool
	}
	var shapes []shape
	for _, s := range lenetShapes {
		shapes = append(shapes, shape{s.name, s.m, s.n, s.k, false})
		if s.name[:4] == "conv" {
			shapes = append(shapes, shape{s.name + "-tA", s.m, s.n, s.k, true})
		}
	}
	for _, s := range shapes {
		m, n, k := s.m, s.n, s.k
		ops := 2 * float64(m) * float64(n) * float64(k)
		af, bf, cf := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range af {
			af[i] = rng.Float32()
		}
		for i := range bf {
			bf[i] = rng.Float32()*2 - 1
		}
		a, bq := drawSlice[uint8](rng, m*k, false), drawSlice[int8](rng, k*n, false)
		c, y := make([]int32, m*n), make([]uint8, m*n)
		bias, scale := make([]int32, n), make([]float32, n)
		for j := range scale {
			scale[j] = 0.001 * (1 + rng.Float32())
		}
		lda := k
		if s.transA {
			lda = m
		}
		var floatNs float64
		b.Run(s.name+"/float32", func(b *testing.B) {
			pb := gemm.PackB(false, m, n, k, bf, n)
			for b.Loop() {
				pb.Sgemm(s.transA, m, 1, af, lda, 0, cf, n)
			}
			floatNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
		})
		for _, ks := range allKernelSets() {
			pb, err := packB(ks, nil, false, k, n, bytesOf(bq), n, []byte{0}, 0)
			if err != nil {
				b.Fatal(err)
			}
			ws := new(Workspace)
			for _, requant := range []bool{false, true} {
				name := s.name + "/" + pb.Kernel() + "/gemm"
				if requant {
					name = s.name + "/" + pb.Kernel() + "/requant"
				}
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						if err := Gemm(pb, s.transA, m, a, lda, 128, c, n, ws); err != nil {
							b.Fatal(err)
						}
						if requant {
							if err := Requantize(m, n, y, n, c, n, bias, scale, uint8(3)); err != nil {
								b.Fatal(err)
							}
						}
					}
					ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
					b.ReportMetric(ops/ns, "GOPS")
					if floatNs > 0 {
						b.ReportMetric(floatNs/ns, "x-float32")
					}
				})
			}
		}
	}
}

// BenchmarkRequantize times the epilogue alone on conv1's output.
func BenchmarkRequantize(b *testing.B) {
	const m, n = 1024, 32
	acc, y, f := make([]int32, m*n), make([]uint8, m*n), make([]float32, m*n)
	bias, scale := make([]int32, n), make([]float32, n)
	for j := range scale {
		scale[j] = 0.01
	}
	for _, vec := range epilogues() {
		b.Run("uint8/"+epilogueName(vec), func(b *testing.B) {
			for b.Loop() {
				requantize(vec, m, n, y, n, acc, n, bias, scale, 3, false)
			}
			b.ReportMetric(float64(m*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
		})
		b.Run("float32/"+epilogueName(vec), func(b *testing.B) {
			for b.Loop() {
				dequantize(vec, m, n, f, n, acc, n, bias, scale)
			}
			b.ReportMetric(float64(m*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
		})
	}
}

// BenchmarkInPlace times the seed's 3x3 convolutions read in place from
// their padded channels-last images (GemmInPlace) with each kernel set.
func BenchmarkInPlace(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range []struct {
		name       string
		h, w, c, n int
	}{{"conv2", 16, 16, 32, 64}, {"conv3", 4, 4, 64, 128}} {
		p := convProblem(s.h, s.w, s.w+2, s.c, s.n)
		img := drawSlice[uint8](rng, (s.h+2)*(s.w+2)*s.c+64, false)
		bq := drawSlice[int8](rng, p.k*s.n, false)
		c := make([]int32, s.h*s.w*s.n)
		ops := 2 * float64(s.h*s.w) * float64(s.n) * float64(p.k)
		for _, ks := range allKernelSets() {
			pb, err := packB(ks, nil, false, p.k, s.n, bytesOf(bq), s.n, nil, 0)
			if err != nil {
				b.Fatal(err)
			}
			ws := new(Workspace)
			b.Run(s.name+"/"+pb.Kernel(), func(b *testing.B) {
				for b.Loop() {
					if err := GemmInPlace(pb, s.h*s.w, img, p.at, 3, c, s.n, ws); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(ops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
			})
		}
	}
}

// BenchmarkEpilogue times Epilogue.Run on the seed's first layer, one
// image (32x32 pixels of 32 channels, pooled 2x2): requantized, and
// looked up in per-channel tables.
func BenchmarkEpilogue(b *testing.B) {
	const w, n = 32, 32
	acc := make([]int32, w*w*n)
	for i := range acc {
		acc[i] = int32(i*7919) % 100000
	}
	dst := make([]byte, w*w*n/4)
	scale := []float32{0.001}
	for _, table := range [][]byte{nil, make([]byte, 256*n)} {
		e, err := NewEpilogue[uint8](n, nil, scale, 3, 3, nil, table)
		if err != nil {
			b.Fatal(err)
		}
		name := "requant"
		if table != nil {
			name = "table"
		}
		for _, vec := range epilogues() {
			b.Run(name+"/"+epilogueName(vec), func(b *testing.B) {
				win := Window{KH: 2, KW: 2, SH: 2, SW: 2, Width: w}
				for b.Loop() {
					for r := range w / 2 {
						e.run(vec, win, w/2, acc[2*r*w*n:], n, dst[r*w/2*n:], n)
					}
				}
			})
		}
	}
}
