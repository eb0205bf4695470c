package quantize

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"
)

// xorshift is reference/quant_calibrate.py's generator: a 32-bit
// xorshift (13, 17, 5).
func xorshift(seed uint32, n int) []uint32 {
	s := seed
	out := make([]uint32, n)
	for i := range out {
		s ^= s << 13
		s ^= s >> 17
		s ^= s << 5
		out[i] = s
	}
	return out
}

// calibrationData is reference/quant_calibrate.py's datasets(), value for
// value (each exact in float32).
func calibrationData() map[string][]float32 {
	const n = 20000
	r := xorshift(2463534242, 4*n)
	d := map[string][]float32{}
	relu := make([]float32, n)
	for i := range relu {
		k := -2 * 4095
		for j := range 4 {
			k += int(r[4*i+j] >> 20)
		}
		relu[i] = float32(max(k, 0)) / 1024
	}
	d["relu"] = relu
	heavy := make([]float32, n)
	for i := range heavy {
		k := float64((r[i] >> 24) & 0xFF)
		s := 1.0
		if r[i]&1 != 0 {
			s = -1
		}
		heavy[i] = float32(s * k * k * k / 4096)
	}
	d["heavy"] = heavy
	shifted := make([]float32, n)
	for i := range shifted {
		shifted[i] = float32(0.5 + 3*float64(r[i]>>20)/4096)
	}
	d["shifted"] = shifted
	out := make([]float32, n)
	for i := range out {
		k := float64(int(r[n+i]>>20) - 2048)
		if r[2*n+i]%500 == 0 {
			out[i] = float32(k / 8)
		} else {
			out[i] = float32(k / 4096)
		}
	}
	d["outliers"] = out
	d["zeros"] = make([]float32, 1000)
	return d
}

// collect runs a collector over x in batches of batch values, both passes,
// as Calibrate runs one over images.
func collect(c Calibration, x []float32, batch int) (Range, error) {
	c, err := c.withDefaults()
	if err != nil {
		return Range{}, err
	}
	k := &collector{c: c}
	for i := 0; i < len(x); i += batch {
		k.observe(x[i:min(i+batch, len(x))])
	}
	if k.needsHistogram() {
		k.startHistogram()
		for i := 0; i < len(x); i += batch {
			k.add(x[i:min(i+batch, len(x))])
		}
	}
	return k.result(), nil
}

// TestCalibratorsMatchNumpy compares every method with
// reference/quant_calibrate.py's numpy reimplementation of ONNX Runtime's
// calibrators on the same data (quantize/testdata/calibrate.json): the
// ranges must be equal, float32 for float32, the data fed in batches
// where numpy saw it whole.
func TestCalibratorsMatchNumpy(t *testing.T) {
	b, err := os.ReadFile("testdata/calibrate.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Data          string
			Method        string
			Bins          int
			Percentile    float64
			QuantizedBins int `json:"quantized_bins"`
			Range         [2]float64
		}
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	data := calibrationData()
	methods := map[string]bool{}
	for _, tc := range ref.Cases {
		name := fmt.Sprintf("%s/%s/%d/%g/%d", tc.Data, tc.Method, tc.Bins, tc.Percentile, tc.QuantizedBins)
		m, err := ParseMethod(tc.Method)
		if err != nil {
			t.Fatal(err)
		}
		methods[tc.Method] = true
		got, err := collect(Calibration{Method: m, Bins: tc.Bins, Percentile: tc.Percentile, QuantizedBins: tc.QuantizedBins}, data[tc.Data], 1000)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := (Range{float32(tc.Range[0]), float32(tc.Range[1])}); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	if len(methods) != 3 || len(ref.Cases) < 30 {
		t.Fatalf("the fixture has %d cases of %d methods", len(ref.Cases), len(methods))
	}
}

// TestMinMaxExact: MinMax is the extremes, whatever the batches.
func TestMinMaxExact(t *testing.T) {
	x := []float32{0.5, -3, 2, 7.25, -0.125, 1e-3}
	for _, batch := range []int{1, 2, 6} {
		got, err := collect(Calibration{}, x, batch)
		if err != nil {
			t.Fatal(err)
		}
		if got != (Range{-3, 7.25}) {
			t.Errorf("batches of %d: %v, want [-3, 7.25]", batch, got)
		}
	}
}

// TestPercentileByHand: |x| of 0..99 in 100 bins of width 0.99: the
// 50th percentile is reached at bin 49, whose left edge is 49 x 0.99; the
// range is symmetric, then cut to the data's [0, 99].
func TestPercentileByHand(t *testing.T) {
	x := make([]float32, 100)
	for i := range x {
		x[i] = float32(i)
	}
	got, err := collect(Calibration{Method: Percentile, Bins: 100, Percentile: 50}, x, 7)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Range{0, float32(49 * 0.99)}); got != want {
		t.Errorf("%v, want %v", got, want)
	}
	// -x: the range keeps the sign of the data, cut to [-99, 0].
	for i := range x {
		x[i] = -x[i]
	}
	got, _ = collect(Calibration{Method: Percentile, Bins: 100, Percentile: 50}, x, 7)
	if want := (Range{-float32(49 * 0.99), 0}); got != want {
		t.Errorf("negated: %v, want %v", got, want)
	}
}

// TestEntropyDefaultIsMinMax: at ONNX Runtime's defaults (128 bins, 128
// quantized bins) the only candidate is the whole histogram.
func TestEntropyDefaultIsMinMax(t *testing.T) {
	for name, x := range calibrationData() {
		e, _ := collect(Calibration{Method: Entropy}, x, 4096)
		m, _ := collect(Calibration{}, x, 4096)
		if e != m {
			t.Errorf("%s: entropy %v, minmax %v", name, e, m)
		}
	}
}

// TestEntropyCutsOutliers: with 2,048 bins, a few large outliers among
// small values are cut, far inside the range MinMax keeps.
func TestEntropyCutsOutliers(t *testing.T) {
	x := calibrationData()["outliers"]
	e, _ := collect(Calibration{Method: Entropy, Bins: 2048}, x, 1000)
	m, _ := collect(Calibration{}, x, 1000)
	if !(e.Max < m.Max/4 && e.Min > m.Min/4 && e.Max > 0.5) {
		t.Errorf("entropy %v against minmax %v: want a threshold well inside, above the small values' 0.5", e, m)
	}
}

func TestCalibrationOptions(t *testing.T) {
	for _, c := range []Calibration{
		{Method: Percentile, Percentile: 101},
		{Method: Percentile, Percentile: -1},
		{Method: Percentile, Percentile: math.NaN()},
		{Method: Entropy, Bins: 64, QuantizedBins: 128},
		{Method: Percentile, Bins: -1},
		{Method: Entropy, QuantizedBins: 1},
	} {
		if _, err := c.withDefaults(); !errors.Is(err, ErrCalibration) {
			t.Errorf("%+v: %v, want ErrCalibration", c, err)
		}
	}
	if _, err := (Calibration{Method: Method(7)}).withDefaults(); !errors.Is(err, ErrMethod) {
		t.Errorf("method 7: %v, want ErrMethod", err)
	}
	if _, err := ParseMethod("kl"); !errors.Is(err, ErrMethod) || err.Error() != `quantize: unknown calibration method "kl": want minmax, percentile, entropy` {
		t.Errorf("ParseMethod(kl): %v", err)
	}
	if m, err := ParseMethod("Entropy"); m != Entropy || err != nil {
		t.Errorf("ParseMethod(Entropy) = %v, %v", m, err)
	}
}
