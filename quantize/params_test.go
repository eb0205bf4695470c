package quantize

import (
	"math"
	"slices"
	"testing"
)

// TestScaleZeroPoint checks compute_scale_zp's arithmetic on ranges
// worked by hand.
func TestScaleZeroPoint(t *testing.T) {
	for _, tc := range []struct {
		r          Range
		qmin, qmax int
		sym        bool
		scale      float32
		zp         int
	}{
		{Range{0, 1}, 0, 255, false, float32(1.0 / 255), 0},
		{Range{-1, 3}, 0, 255, false, float32(4.0 / 255), 64},     // 1 / (4/255) = 63.75
		{Range{0.5, 2}, 0, 255, false, float32(2.0 / 255), 0},     // widened to include 0
		{Range{-2, -1}, 0, 255, false, float32(2.0 / 255), 255},   // [-2, 0]
		{Range{-1, 3}, -128, 127, false, float32(4.0 / 255), -64}, // -128 + 63.75
		{Range{-0.5, 0.25}, -127, 127, true, float32(1.0 / 254), 0},
		{Range{0, 0}, 0, 255, false, 1, 0},
		{Range{-1e-39, 1e-39}, 0, 255, false, 1, 0}, // a scale below float32's smallest normal
	} {
		s, z := scaleZeroPoint(tc.r, tc.qmin, tc.qmax, tc.sym)
		if s != tc.scale || z != tc.zp {
			t.Errorf("%v on [%d, %d] symmetric %v: scale %g zero point %d, want %g and %d", tc.r, tc.qmin, tc.qmax, tc.sym, s, z, tc.scale, tc.zp)
		}
	}
}

func TestQuantizeValue(t *testing.T) {
	for _, tc := range []struct {
		x, scale float32
		zp       int
		want     int64
	}{
		{2.5, 1, 0, 2}, {3.5, 1, 0, 4}, {-2.5, 1, 10, 8}, // half to even
		{300, 1, 0, 255}, {-1, 1, 0, 0}, // saturated
		{1, 0.5, 10, 12},
		{float32(math.Inf(1)), 1, 0, 255},
		{float32(math.NaN()), 1, 0, 0},
	} {
		if got := quantizeValue(tc.x, tc.scale, tc.zp, 0, 255); got != tc.want {
			t.Errorf("quantize(%g, scale %g, zp %d) = %d, want %d", tc.x, tc.scale, tc.zp, got, tc.want)
		}
	}
}

// TestQuantizeWeightPerChannel: [2, 3] along axis 0 and axis 1, and per
// tensor, each slice's scale its own max |w| / 127 (/ 64 in the reduced
// range).
func TestQuantizeWeightPerChannel(t *testing.T) {
	w := []float32{1, -2, 0.5, 0.25, 0.125, -0.0625}
	qw := quantizeWeight(w, []int{2, 3}, 0, weightQMax)
	if !slices.Equal(qw.scales, []float32{2.0 / 127, 0.25 / 127}) {
		t.Errorf("axis 0 scales %v", qw.scales)
	}
	if want := []int64{64, -127, 32, 127, 64, -32}; !slices.Equal(qw.q, want) { // 63.5 -> 64, 31.75 -> 32
		t.Errorf("axis 0: %v, want %v", qw.q, want)
	}
	qw = quantizeWeight(w, []int{2, 3}, 1, weightQMax)
	if !slices.Equal(qw.scales, []float32{1.0 / 127, 2.0 / 127, 0.5 / 127}) {
		t.Errorf("axis 1 scales %v", qw.scales)
	}
	qw = quantizeWeight(w, []int{2, 3}, -1, weightQMax)
	if len(qw.scales) != 1 || qw.scales[0] != 2.0/127 || qw.q[1] != -127 || qw.q[5] != -4 {
		t.Errorf("per tensor: scales %v, values %v", qw.scales, qw.q)
	}
	qw = quantizeWeight(w, []int{2, 3}, 0, reducedQMax)
	if want := []int64{32, -64, 16, 64, 32, -16}; !slices.Equal(qw.scales, []float32{2.0 / 64, 0.25 / 64}) || !slices.Equal(qw.q, want) {
		t.Errorf("axis 0, reduced range: scales %v, values %v, want %v", qw.scales, qw.q, want)
	}
	var got []int
	forSlice([]int{2, 3, 2}, 1, 1, func(i int) { got = append(got, i) })
	if !slices.Equal(got, []int{2, 3, 8, 9}) {
		t.Errorf("forSlice axis 1 index 1 of [2 3 2]: %v", got)
	}
}

func TestQuantizeBias(t *testing.T) {
	q, s := quantizeBias([]float32{1, -0.3, 2e9}, 0.5, []float32{0.25, 0.5, 1e-3})
	if !slices.Equal(s, []float32{0.125, 0.25, 5e-4}) || q[0] != 8 || q[1] != -1 || q[2] != math.MaxInt32 {
		t.Errorf("biases %v scales %v", q, s)
	}
}

// TestWidenForBias: a weight scale of 1e-9 with input scale 1e-3 would
// put a bias of 1000 at 1e12 steps, past int32; the scale is widened to
// 1.0001 x 2 x 1000 / (2^32 - 2) / 1e-3, and a scale that fits is kept.
func TestWidenForBias(t *testing.T) {
	qw := &quantizedWeight{scales: []float32{1e-9, 0.1}, axis: 0}
	if !widenForBias(1e-3, qw, []float32{1000, 1000}) {
		t.Fatal("not widened")
	}
	want := 1.0001 * 2 * 1000 / (math.MaxUint32 - 1) / 1e-3
	if math.Abs(float64(qw.scales[0])-want) > 1e-6*want || qw.scales[1] != 0.1 {
		t.Errorf("scales %v, want [%g 0.1]", qw.scales, want)
	}
	qw = &quantizedWeight{scales: []float32{0.01}, axis: -1}
	if widenForBias(0.01, qw, []float32{1, -5}) || qw.scales[0] != 0.01 {
		t.Errorf("a bias that fits: scale %v", qw.scales)
	}
}
