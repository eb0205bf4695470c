//go:build amd64 && !purego

package dwconv

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// useAVX2 is set where the CPU runs the assembly kernels; tests clear it to
// compare them with the Go ones.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// Kernel names the kernels in use, for benchmarks and reports.
func Kernel() string {
	if useAVX2 {
		return "avx2"
	}
	return "go"
}

// taps runs the assembly over whole vectors of y and Go over the rest.
func taps(y, p, k []float32, off []int) {
	n := len(y) &^ 7
	if !useAVX2 || n == 0 {
		tapsGo(y, p, k, off)
		return
	}
	tapsAVX2(&y[0], n, &p[0], &k[0], &off[0], len(off))
	if n < len(y) {
		tapsGo(y[n:], p[n:], k, off)
	}
}

// dots runs the kernels three taps (one row of a 3-wide kernel) at a time
// over whole vectors of g, and Go over the rest.
func dots(dk, g, p []float32, off []int) {
	n := len(g) &^ 7
	if !useAVX2 || n == 0 {
		dotsGo(dk, g, p, off)
		return
	}
	for t := 0; t < len(off); t += 3 {
		switch len(off) - t {
		case 1:
			dots1AVX2(&dk[t], &g[0], n, &p[0], &off[t])
		case 2:
			dots2AVX2(&dk[t], &g[0], n, &p[0], &off[t])
		default:
			dots3AVX2(&dk[t], &g[0], n, &p[0], &off[t])
		}
	}
	if n < len(g) {
		dotsGo(dk, g[n:], p[n:], off)
	}
}

// The plane kernels run the assembly over whole vectors and Go over the
// rest; the partial sums of the two are added.
func stats(v []float32, k float32) (s, ss float32) {
	n := vectors(len(v))
	if n > 0 {
		s, ss = statsAVX2(&v[0], n, k)
	}
	ts, tss := statsGo(v[n:], k)
	return s + ts, ss + tss
}

func gradSums(g, x []float32) (s, sx float32) {
	n := vectors(len(g))
	if n > 0 {
		s, sx = gradSumsAVX2(&g[0], &x[0], n)
	}
	ts, tsx := gradSumsGo(g[n:], x[n:])
	return s + ts, sx + tsx
}

func affine(y, x []float32, a, b float32) {
	n := vectors(len(y))
	if n > 0 {
		affineAVX2(&y[0], &x[0], n, a, b)
	}
	affineGo(y[n:], x[n:], a, b)
}

func affine2(d, g, x []float32, a, b, k float32) {
	n := vectors(len(d))
	if n > 0 {
		affine2AVX2(&d[0], &g[0], &x[0], n, a, b, k)
	}
	affine2Go(d[n:], g[n:], x[n:], a, b, k)
}

func affineRelu(y, x []float32, a, b float32) {
	n := vectors(len(y))
	if n > 0 {
		affineReluAVX2(&y[0], &x[0], n, a, b)
	}
	affineReluGo(y[n:], x[n:], a, b)
}

func reluGradSums(g, x []float32, fa, fb float32) (s, sx float32) {
	n := vectors(len(g))
	if n > 0 {
		s, sx = reluGradSumsAVX2(&g[0], &x[0], n, fa, fb)
	}
	ts, tsx := reluGradSumsGo(g[n:], x[n:], fa, fb)
	return s + ts, sx + tsx
}

func reluAffine2(d, g, x []float32, a, b, k, fa, fb float32) {
	n := vectors(len(d))
	if n > 0 {
		reluAffine2AVX2(&d[0], &g[0], &x[0], n, a, b, k, fa, fb)
	}
	reluAffine2Go(d[n:], g[n:], x[n:], a, b, k, fa, fb)
}

// vectors is how many of n entries the assembly takes: whole vectors, or
// none where it does not run.
func vectors(n int) int {
	if !useAVX2 {
		return 0
	}
	return n &^ 7
}

// copyRows and addRows take whole rows in the assembly, the last vector of
// each masked, where the rows are at least a vector long.
func copyRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if !useAVX2 || cols < 8 {
		copyRowsGo(dst, ldd, src, lds, rows, cols)
		return
	}
	copyRowsAVX2(&dst[0], ldd, &src[0], lds, rows, cols)
}

func addRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if !useAVX2 || cols < 8 {
		addRowsGo(dst, ldd, src, lds, rows, cols)
		return
	}
	addRowsAVX2(&dst[0], ldd, &src[0], lds, rows, cols)
}
