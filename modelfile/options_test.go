package modelfile

import (
	"math"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/lenet"
)

func TestCheckFinite(t *testing.T) {
	sd := lenet.StateDict{
		{Name: "ok", Shape: []int{2}, DType: lenet.Float32, F32: []float32{1, 2}},
		{Name: "n", Shape: []int{}, DType: lenet.Int64, I64: []int64{math.MaxInt64}},
		{Name: "bad", Shape: []int{4}, DType: lenet.Float32, F32: []float32{0, float32(math.Inf(1)), float32(math.NaN()), 3}},
	}
	err := CheckFinite(sd, ReadOptions{})
	want := `tensor "bad" holds 2 non-finite value(s) of 4, the first +Inf at element 1; refused (--allow-nonfinite accepts them)`
	if err == nil || err.Error() != want {
		t.Errorf("%v, want %s", err, want)
	}
	if err := CheckFinite(sd, ReadOptions{AllowNonFinite: true}); err != nil {
		t.Errorf("allowed: %v", err)
	}
	if err := CheckFinite(sd[:2], ReadOptions{}); err != nil {
		t.Errorf("finite: %v", err)
	}
}

func TestLimitsAndMessages(t *testing.T) {
	if MaxInflated(1<<20) != 16<<20+4<<20 || !strings.Contains(NonFiniteError("x", math.NaN(), 0, 1, 1).Error(), "NaN") {
		t.Error("MaxInflated or NonFiniteError")
	}
}
