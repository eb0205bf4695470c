package serve

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAnswerJSON checks the answers' writers against json.Marshal, on
// floats at encoding/json's cutoffs between its two notations, random
// ones, and strings it escapes.
func TestAnswerJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e-6, 9.999999e-7, 1e-7, 1.2e-9, 1e20, 1e21, 9.99e20, 123456789, 0.1, 1.0 / 3, math.SmallestNonzeroFloat64, math.MaxFloat64, math.SmallestNonzeroFloat32, math.MaxFloat32}
	for range 2000 {
		floats = append(floats, math.Exp(r.NormFloat64()*15)*float64(1-2*r.IntN(2)))
	}
	var f32 []float32
	for _, f := range floats {
		if v := float32(f); !math.IsInf(float64(v), 0) {
			f32 = append(f32, v)
		}
	}
	id := "req <1> & \"2\"\n é \u2028"
	plain := "a-1"
	for _, resp := range []inferResponse{
		{ModelName: "lenet", ModelVersion: "1", Outputs: []responseTensor{{Name: "output", Datatype: "FP32", Shape: []int64{int64(len(f32)), 1}, Data: f32}}},
		{ModelName: "m.v2_x", ModelVersion: "1", ID: &id, Outputs: []responseTensor{{Name: "output", Datatype: "FP32", Shape: []int64{0, 10}, Data: []float32{}}}},
		{ModelName: "m", ModelVersion: "1", ID: &plain},
	} {
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendInferAnswer(nil, &resp)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("infer answer:\n got %s (%v)\nwant %s", got, err, want)
		}
	}
	res := []classified{
		{File: "body", Class: 7, Label: "7", Probability: floats[5], Top: []ranked{{7, "7", 0.9}, {1, "one <1>", 1e-9}}, Probabilities: floats, Flags: []string{"low_confidence", "x&y"}},
		{File: "é.png", Class: 0, Label: "zero", Probability: 1, Top: []ranked{{0, "zero", 1}}, Probabilities: []float64{1}, Image: "data:image/png;base64,iVBOR+/="},
		{},
	}
	for _, rs := range [][]classified{res, nil, {}} {
		want, err := json.Marshal(struct {
			Model   string       `json:"model"`
			Results []classified `json:"results"`
		}{"lenet", rs})
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendClassifyAnswer(nil, "lenet", rs)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("classify answer:\n got %s (%v)\nwant %s", got, err, want)
		}
	}
	failed := []classified{res[0], {File: `a "b".png`, failed: fail(415, `image "a \"b\".png": not a PNG`)}}
	got, err := appendClassifyAnswer(nil, "lenet", failed)
	var back struct {
		Results []map[string]any `json:"results"`
	}
	if err != nil || json.Unmarshal(got, &back) != nil || len(back.Results) != 2 || len(back.Results[1]) != 3 ||
		back.Results[1]["file"] != `a "b".png` || back.Results[1]["error"] != `image "a \"b\".png": not a PNG` || back.Results[1]["status"] != 415.0 ||
		back.Results[0]["class"] != 7.0 {
		t.Errorf("a failed file's entry: %s (%v); want the file, its error and status alone", got, err)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := appendClassifyAnswer(nil, "m", []classified{{Probabilities: []float64{bad}}}); err == nil {
			t.Errorf("classify answer of %v: no error", bad)
		}
		if _, err := appendInferAnswer(nil, &inferResponse{Outputs: []responseTensor{{Data: []float32{float32(bad)}}}}); err == nil {
			t.Errorf("infer answer of %v: no error", bad)
		}
	}
}
