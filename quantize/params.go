package quantize

import (
	"math"
)

// Range is a tensor's calibrated range of values.
type Range struct {
	Min float32 `json:"min"`
	Max float32 `json:"max"`
}

// smallestNormal is float32's smallest normal number, numpy's
// finfo(float32).tiny: a scale below it is replaced by 1.
const smallestNormal = 0x1p-126

// scaleZeroPoint is ONNX Runtime's compute_scale_zp for a range on the
// integers [qmin, qmax]: the range widened to include 0 (and made
// symmetric around it when symmetric), scale = (rmax - rmin) / (qmax -
// qmin) in float64 then stored as float32, the zero point rounded half to
// even. A range of width 0 gives scale 1 and zero point 0.
func scaleZeroPoint(r Range, qmin, qmax int, symmetric bool) (scale float32, zp int) {
	rmin, rmax := min(r.Min, 0), max(r.Max, 0)
	if symmetric {
		m := max(abs32(rmin), abs32(rmax))
		rmin, rmax = -m, m
	}
	s := float64(rmax-rmin) / (float64(qmax) - float64(qmin))
	if s < smallestNormal {
		return 1, 0
	}
	if symmetric {
		return float32(s), int(math.RoundToEven(float64(qmin+qmax) / 2))
	}
	z := int(math.RoundToEven(float64(qmin) - float64(rmin)/s))
	return float32(s), min(max(z, qmin), qmax)
}

func abs32(v float32) float32 { return float32(math.Abs(float64(v))) }

// quantizeValue is round(x / scale) + zp as ONNX Runtime's quantize_data
// computes it, in float32, rounded half to even, saturated to [qmin, qmax].
func quantizeValue(x, scale float32, zp, qmin, qmax int) int64 {
	q := math.RoundToEven(float64(x/scale)) + float64(zp)
	if q != q { // NaN: a weight lenetkit's readers would have refused
		return int64(min(max(zp, qmin), qmax))
	}
	return int64(min(max(q, float64(qmin)), float64(qmax)))
}

// weightQMax is int8 weights' symmetric range, [-weightQMax,
// weightQMax]: -128 is left out, so that -w quantizes as exactly as w.
// reducedQMax is Options.ReduceRange's: 7 bits, as ONNX Runtime's
// reduce_range, so that a sum of two products of a uint8 and a weight,
// 2·255·64 = 32640 at most, fits an int16.
const (
	weightQMax  = 127
	reducedQMax = 64
)

// quantizedWeight is a weight's int8 values and its scales: one (axis
// -1) or one per slice along axis.
type quantizedWeight struct {
	q      []int64
	scales []float32
	axis   int
	shape  []int
	qmax   int // the values' range, [-qmax, qmax]
}

// quantizeWeight quantizes w (of shape) symmetric in [-qmax, qmax], per
// tensor (axis -1) or per slice along axis.
func quantizeWeight(w []float32, shape []int, axis, qmax int) *quantizedWeight {
	qw := &quantizedWeight{axis: axis, shape: shape, qmax: qmax}
	n := 1
	if axis >= 0 {
		n = shape[axis]
	}
	qw.scales = make([]float32, n)
	for c := range n {
		lo, hi := float32(0), float32(0)
		first := true
		forSlice(shape, axis, c, func(i int) {
			if first {
				lo, hi, first = w[i], w[i], false
			}
			lo, hi = min(lo, w[i]), max(hi, w[i])
		})
		qw.scales[c], _ = scaleZeroPoint(Range{lo, hi}, -qmax, qmax, true)
	}
	qw.requantize(w)
	return qw
}

// requantize recomputes the int8 values of w with the current scales.
func (qw *quantizedWeight) requantize(w []float32) {
	qw.q = make([]int64, len(w))
	for c, s := range qw.scales {
		forSlice(qw.shape, qw.axis, c, func(i int) {
			qw.q[i] = quantizeValue(w[i], s, 0, -qw.qmax, qw.qmax)
		})
	}
}

// forSlice calls f with the flat index of every element of a tensor of
// shape whose index along axis is c; every element when axis is -1.
func forSlice(shape []int, axis, c int, f func(i int)) {
	total := 1
	for _, d := range shape {
		total *= d
	}
	if axis < 0 {
		for i := range total {
			f(i)
		}
		return
	}
	inner := 1
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	outer := total / (inner * shape[axis])
	for o := range outer {
		base := (o*shape[axis] + c) * inner
		for k := range inner {
			f(base + k)
		}
	}
}

// widenForBias is ONNX Runtime's _adjust_weight_scale_for_int32_bias: a
// weight scale so small that input_scale x weight_scale would put the
// bias outside int32 is widened until it fits. It reports whether any
// scale changed.
func widenForBias(inputScale float32, qw *quantizedWeight, bias []float32) bool {
	const eps = 1.0001
	qrange := float64(math.MaxInt32) - float64(math.MinInt32+1)
	widened := false
	widen := func(c int, absmax float64) {
		smallest := eps * 2 * absmax / qrange
		cand := float64(inputScale) * float64(qw.scales[c])
		if cand > 0 && cand < smallest {
			qw.scales[c] = float32(float64(qw.scales[c]) * (smallest / cand))
			widened = true
		}
	}
	if len(qw.scales) == 1 {
		lo, hi := 0.0, 0.0
		for _, b := range bias {
			lo, hi = min(lo, float64(b)), max(hi, float64(b))
		}
		widen(0, max(math.Abs(lo), math.Abs(hi)))
	} else {
		for c := range qw.scales {
			if c < len(bias) {
				widen(c, math.Abs(float64(bias[c])))
			}
		}
	}
	return widened
}

// quantizeBias is a bias as int32 with scale inputScale x weight scale:
// one scale for a per-tensor weight, one per element otherwise.
func quantizeBias(bias []float32, inputScale float32, weightScales []float32) (q []int64, scales []float32) {
	scales = make([]float32, len(weightScales))
	for i, ws := range weightScales {
		scales[i] = inputScale * ws
	}
	q = make([]int64, len(bias))
	for i, b := range bias {
		s := scales[0]
		if len(scales) > 1 {
			s = scales[i]
		}
		q[i] = quantizeValue(b, s, 0, math.MinInt32, math.MaxInt32)
	}
	return q, scales
}
