package gemm

import "fmt"

// GemvT sets y[j] = a · bt[j*k:(j+1)*k] + bias[j] for j < len(y), where
// k = len(a): the row a times a k x len(y) matrix B kept transposed, bt
// being [len(y)][k] row-major (output j's k weights contiguous). A nil
// bias adds nothing. The outputs are computed several at a time, each
// pass over a shared by their rows; each is summed as Dot sums, in an
// order of the kernel's choosing, several running sums at once, its bias
// added last, so it may differ in its last bits from a sequential sum and
// from the same output computed beside others; on amd64 the assembly
// kernels read subnormal floats as zero, as Sgemm's do. bt and bias may be longer than they need be; y must not overlap
// a, bt or bias. GemvT runs on the calling goroutine only, allocates
// nothing, and panics when bt holds fewer than len(y)*k values or a
// non-nil bias fewer than len(y).
func GemvT(y, a, bt, bias []float32) {
	n, k := len(y), len(a)
	if k > 0 && len(bt)/k < n || bias != nil && len(bias) < n {
		panic(fmt.Errorf("gemm: GemvT of %d outputs of %d values with %d weights and %d biases", n, k, len(bt), len(bias)))
	}
	gemvT(defaultGemv, y, a, bt, bias)
}

// gemvSet is GemvT's kernel for one instruction set.
type gemvSet struct {
	name string
	// run sets y[j] to the sum of a[p]*bt[j*ldb+p] over p < k, for j < n,
	// where n and k are > 0.
	run func(n, k int, a, bt []float32, ldb int, y []float32)
}

// gemvT is GemvT on checked arguments with the kernel of set.
func gemvT(set *gemvSet, y, a, bt, bias []float32) {
	n, k := len(y), len(a)
	switch {
	case n == 0:
		return
	case k == 0:
		clear(y)
	default:
		set.run(n, k, a, bt, k, y)
	}
	if bias != nil {
		for j, b := range bias[:n] {
			y[j] += b
		}
	}
}

// goGemv is the pure-Go fallback.
var goGemv = &gemvSet{name: "go", run: gemvGo}

// gemvGo is the pure-Go kernel: four rows a pass, each value of a loaded
// once for the four, then the rows left one at a time.
func gemvGo(n, k int, a, bt []float32, ldb int, y []float32) {
	a = a[:k]
	j := 0
	for ; j+4 <= n; j += 4 {
		b0, b1 := bt[j*ldb:][:len(a)], bt[(j+1)*ldb:][:len(a)]
		b2, b3 := bt[(j+2)*ldb:][:len(a)], bt[(j+3)*ldb:][:len(a)]
		var s0, s1, s2, s3 float32
		for i, v := range a {
			s0 += v * b0[i]
			s1 += v * b1[i]
			s2 += v * b2[i]
			s3 += v * b3[i]
		}
		y[j], y[j+1], y[j+2], y[j+3] = s0, s1, s2, s3
	}
	for ; j < n; j++ {
		y[j] = dotGo(a, bt[j*ldb:][:k])
	}
}

// dotGo is the sum of a[i]*b[i], in four running sums.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
