package quantize

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Method is how calibration turns a tensor's values into its range.
type Method int

// The calibration methods, as ONNX Runtime's calibrators define them.
const (
	// MinMax is the range of all the values.
	MinMax Method = iota
	// Percentile cuts the range at a percentile of |x| (99.999 unless
	// Calibration.Percentile says), symmetric around 0, then to [min, max].
	Percentile
	// Entropy picks the symmetric threshold whose quantized histogram is
	// nearest the data's in KL divergence, then cuts it to [min, max].
	Entropy
)

// Methods are the methods' names, in Method order.
var Methods = []string{"minmax", "percentile", "entropy"}

func (m Method) String() string {
	if m >= 0 && int(m) < len(Methods) {
		return Methods[m]
	}
	return fmt.Sprintf("method %d", int(m))
}

// ErrMethod is ParseMethod's error for a name it does not know.
var ErrMethod = errors.New("quantize: unknown calibration method")

// ParseMethod reads a method's name, case aside.
func ParseMethod(s string) (Method, error) {
	for i, name := range Methods {
		if strings.EqualFold(s, name) {
			return Method(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q: want %s", ErrMethod, s, strings.Join(Methods, ", "))
}

// ONNX Runtime's defaults for its histogram calibrators.
const (
	DefaultPercentile       = 99.999
	DefaultPercentileBins   = 2048
	DefaultEntropyBins      = 128
	DefaultEntropyQuantized = 128
	entropySmoothingEpsilon = 0.0001
	maxBins                 = 1 << 20
)

// Calibration says how ranges are computed from the values seen.
type Calibration struct {
	Method Method
	// Percentile is Percentile's cut, in (0, 100]; 0 means
	// DefaultPercentile.
	Percentile float64
	// Bins is the histogram's bins for Percentile and Entropy; 0 means
	// ONNX Runtime's default for the method (2,048 and 128).
	Bins int
	// QuantizedBins is Entropy's quantized bins; 0 means 128. Entropy
	// tries thresholds from QuantizedBins/2 bins either side of 0 to all
	// of them.
	QuantizedBins int
}

// ErrCalibration is the error of a Calibration whose numbers are out of
// range.
var ErrCalibration = errors.New("quantize: bad calibration options")

// withDefaults fills in the defaults and checks the numbers.
func (c Calibration) withDefaults() (Calibration, error) {
	if c.Method < MinMax || c.Method > Entropy {
		return c, fmt.Errorf("%w: %v", ErrMethod, c.Method)
	}
	if c.Percentile == 0 {
		c.Percentile = DefaultPercentile
	}
	if c.Bins == 0 {
		c.Bins = DefaultPercentileBins
		if c.Method == Entropy {
			c.Bins = DefaultEntropyBins
		}
	}
	if c.QuantizedBins == 0 {
		c.QuantizedBins = DefaultEntropyQuantized
	}
	switch {
	case !(c.Percentile > 0 && c.Percentile <= 100):
		return c, fmt.Errorf("%w: percentile %g: want a number in (0, 100]", ErrCalibration, c.Percentile)
	case c.Bins < 1 || c.Bins > maxBins:
		return c, fmt.Errorf("%w: %d bins: want 1 to %d", ErrCalibration, c.Bins, maxBins)
	case c.QuantizedBins < 2 || c.QuantizedBins > maxBins:
		return c, fmt.Errorf("%w: %d quantized bins: want 2 to %d", ErrCalibration, c.QuantizedBins, maxBins)
	case c.Method == Entropy && c.Bins/2 < c.QuantizedBins/2:
		return c, fmt.Errorf("%w: %d bins are fewer than the %d quantized bins entropy compares them with", ErrCalibration, c.Bins, c.QuantizedBins)
	}
	return c, nil
}

// collector gathers one tensor's values in two passes: the first finds
// its extremes, the second (Percentile and Entropy only) fills a
// histogram over a range the extremes fix. That is the histogram ONNX
// Runtime makes of all the calibration data at once, built without
// holding all of it.
type collector struct {
	c        Calibration
	lo, hi   float32 // min and max of x
	alo, ahi float32 // min and max of |x|
	seen     bool
	hist     []int64
	edges    []float32
	first    float64 // edges[0] and the last edge, as numpy's histogram takes them
	last     float64
}

// observe is the first pass.
func (k *collector) observe(x []float32) {
	for _, v := range x {
		a := abs32(v)
		if !k.seen {
			k.lo, k.hi, k.alo, k.ahi, k.seen = v, v, a, a, true
		}
		k.lo, k.hi = min(k.lo, v), max(k.hi, v)
		k.alo, k.ahi = min(k.alo, a), max(k.ahi, a)
	}
}

// needsHistogram says whether a second pass is needed.
func (k *collector) needsHistogram() bool { return k.c.Method != MinMax }

// startHistogram fixes the histogram's range after the first pass: |x|
// over [min |x|, max |x|] for Percentile (numpy's histogram of the
// absolute values), x over [-m, m], m = max |x|, for Entropy.
func (k *collector) startHistogram() {
	lo, hi := float64(k.alo), float64(k.ahi)
	if k.c.Method == Entropy {
		t := max(abs32(k.lo), abs32(k.hi))
		lo, hi = -float64(t), float64(t)
	}
	if lo == hi { // numpy widens an empty range by 0.5 either side
		lo, hi = lo-0.5, hi+0.5
	}
	k.first, k.last = lo, hi
	k.hist = make([]int64, k.c.Bins)
	k.edges = linspaceEdges(lo, hi, k.c.Bins)
}

// linspaceEdges are numpy's histogram edges for n equal bins over [lo,
// hi] in float32: linspace computes lo + i * (hi - lo) / n in float64, the
// last edge hi exactly.
func linspaceEdges(lo, hi float64, n int) []float32 {
	e := make([]float32, n+1)
	step := (hi - lo) / float64(n)
	for i := range n {
		e[i] = float32(float64(i)*step + lo)
	}
	e[n] = float32(hi)
	return e
}

// add is the second pass: values into the histogram, as numpy bins them
// (bin i holds edges[i] <= v < edges[i+1], the last bin both its edges;
// values outside the range are left out).
func (k *collector) add(x []float32) {
	n := len(k.hist)
	denom := k.last - k.first
	for _, v := range x {
		if k.c.Method == Percentile {
			v = abs32(v)
		}
		f := float64(v)
		if !(f >= k.first && f <= k.last) {
			continue
		}
		i := int((f - k.first) / denom * float64(n))
		i = min(max(i, 0), n-1)
		if v < k.edges[i] {
			i--
		} else if i != n-1 && v >= k.edges[i+1] {
			i++
		}
		if i >= 0 && i < n {
			k.hist[i]++
		}
	}
}

// result is the tensor's range.
func (k *collector) result() Range {
	switch k.c.Method {
	case Percentile:
		return k.percentile()
	case Entropy:
		return k.entropy()
	}
	return Range{k.lo, k.hi}
}

// clip cuts a threshold range to the values seen, as both histogram
// calibrators of ONNX Runtime end.
func (k *collector) clip(r Range) Range {
	if r.Min < k.lo {
		r.Min = k.lo
	}
	if r.Max > k.hi {
		r.Max = k.hi
	}
	return r
}

// percentile is compute_percentile, symmetric: the first edge at which
// the cumulative share of |x| reaches the percentile.
func (k *collector) percentile() Range {
	var total int64
	for _, h := range k.hist {
		total += h
	}
	if total == 0 {
		return Range{k.lo, k.hi}
	}
	want := k.c.Percentile / 100
	idx, cdf := len(k.hist), 0.0
	for i, h := range k.hist {
		cdf += float64(h) / float64(total)
		if cdf >= want {
			idx = i
			break
		}
	}
	t := k.edges[idx]
	return k.clip(Range{-t, t})
}

// entropy is get_entropy_threshold: for each candidate threshold, from
// QuantizedBins/2 bins either side of the middle to the whole histogram,
// the data within it (outliers added to its end bins) is compared with
// the same merged into QuantizedBins bins and spread back; the threshold
// of least KL divergence wins, the first of equals.
func (k *collector) entropy() Range {
	hist := k.hist
	nb := len(hist)
	zero := nb / 2
	nq := k.c.QuantizedBins
	half := nq / 2
	best, bestKL := Range{k.lo, k.hi}, math.Inf(1)
	prefix := make([]int64, nb+1)
	for i, h := range hist {
		prefix[i+1] = prefix[i] + h
	}
	for i := half; i <= zero; i++ {
		start := zero - i
		end := min(zero+i+1, nb)
		cand := Range{k.edges[start], k.edges[end]}
		kl := klDivergence(hist[start:end], prefix[start], prefix[nb]-prefix[end], nq)
		if kl < bestKL {
			best, bestKL = cand, kl
		}
	}
	return k.clip(best)
}

// klDivergence is one candidate of get_entropy_threshold: p is the sliced
// histogram with the outliers on its ends, q the slice merged into nq bins
// and spread back evenly over each bin's nonzero places of p (as ONNX
// Runtime writes them into an int64 array: truncated), both smoothed, then
// scipy's entropy(p, q), each normalised to sum 1, in float64.
func klDivergence(sliced []int64, left, right int64, nq int) float64 {
	n := len(sliced)
	p := make([]float64, n)
	for j, v := range sliced {
		p[j] = float64(v)
	}
	p[0] += float64(left)
	p[n-1] += float64(right)
	merged := n / nq
	quant := make([]int64, nq)
	for b := range nq {
		for j := b * merged; j < (b+1)*merged; j++ {
			quant[b] += sliced[j]
		}
	}
	for j := nq * merged; j < n; j++ {
		quant[nq-1] += sliced[j]
	}
	q := make([]float64, n)
	for b := range nq {
		start, end := b*merged, (b+1)*merged
		norm := 0
		for j := start; j < end; j++ {
			if p[j] != 0 {
				norm++
			}
		}
		if norm != 0 {
			v := float64(int64(float64(quant[b]) / float64(norm)))
			for j := start; j < end; j++ {
				q[j] = v
			}
		}
	}
	if !smooth(p) || !smooth(q) {
		return math.Inf(1)
	}
	var sp, sq float64
	for j := range p {
		sp += p[j]
		sq += q[j]
	}
	kl := 0.0
	for j := range p {
		pj, qj := p[j]/sp, q[j]/sq
		if pj > 0 {
			kl += pj * math.Log(pj/qj)
		}
	}
	return kl
}

// smooth is smooth_distribution: zeros become eps, the nonzero values
// give up eps x zeros / nonzeros each (in float32, as numpy computes it).
// It reports false for a distribution of zeros only.
func smooth(p []float64) bool {
	zeros := 0
	for _, v := range p {
		if v == 0 {
			zeros++
		}
	}
	nonzeros := len(p) - zeros
	if nonzeros == 0 {
		return false
	}
	eps1 := float32(entropySmoothingEpsilon * float64(zeros) / float64(nonzeros))
	for j, v := range p {
		if v == 0 {
			p[j] = float64(float32(entropySmoothingEpsilon))
		} else {
			p[j] = float64(float32(v) - eps1)
		}
	}
	return true
}
