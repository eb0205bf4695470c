package infer

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestClassifyStatusAndFlags classifies the images of
// reference/nondigits.py (testdata/images/nondigits) beside a clean MNIST
// digit with the seed-like weights: every input gets a Prediction, in
// order, the blank ones with an error; the letters, "42" and the 7 whose
// border is half desk are flagged, each for its reason, the digit not; and
// MinConfidence makes the weak answers unsure, keeping their digit.
func TestClassifyStatusAndFlags(t *testing.T) {
	m, err := Open(testtool.Testdata("lenet_trained.pth"), "")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		name   string
		status Status // without MinConfidence
		flags  []Flag
		unsure bool // with MinConfidence 0.9
	}
	low, several, guessed := FlagLowConfidence, FlagSeveralComponents, FlagGuessedPreparation
	wants := []want{
		{"clean/00000.png", StatusOK, nil, false},
		{"nondigits/letter_g.png", StatusOK, []Flag{low}, true},
		{"nondigits/blank.png", StatusError, nil, false},
		{"nondigits/letter_A.png", StatusOK, []Flag{low}, true},
		{"nondigits/42.png", StatusOK, []Flag{several, low}, true},
		{"nondigits/blank_grey.png", StatusError, nil, false},
		{"nondigits/7_on_desk.png", StatusOK, []Flag{guessed, low}, true},
		{"clean/00001.png", StatusOK, nil, false},
	}
	var paths []string
	for _, w := range wants {
		paths = append(paths, testtool.Testdata(filepath.Join("images", w.name)))
	}
	for _, minConf := range []float64{0, 0.9} {
		var got []Prediction
		sum, err := Classify(t.Context(), m, paths, Options{MinConfidence: minConf, Batch: 3}, Handlers{
			Prediction: func(p Prediction) error { got = append(got, p); return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(wants) {
			t.Fatalf("MinConfidence %g: %d predictions, want one for each of the %d inputs", minConf, len(got), len(wants))
		}
		unsure := 0
		for i, w := range wants {
			p := got[i]
			status := w.status
			if minConf > 0 && w.unsure {
				status = StatusUnsure
				unsure++
			}
			if p.Path != paths[i] {
				t.Errorf("prediction %d is for %s, want %s: out of order", i, p.Path, paths[i])
			}
			if p.Status != status || !slices.Equal(p.Flags, w.flags) {
				t.Errorf("MinConfidence %g: %s: status %s, flags %v (confidence %.4f); want %s, %v", minConf, w.name, p.Status, p.Flags, p.Confidence, status, w.flags)
			}
			if failed := p.Status == StatusError; failed != (p.Err != nil) || failed && (p.Digit != -1 || !strings.Contains(p.Err.Error(), "blank image")) {
				t.Errorf("%s: status %s, digit %d, error %v", w.name, p.Status, p.Digit, p.Err)
			}
			if !w.unsure && p.Status != StatusError && p.Confidence < LowConfidence {
				t.Errorf("%s: confidence %.4f, want it at least %g", w.name, p.Confidence, LowConfidence)
			}
		}
		if sum.Images != 6 || sum.Failed != 2 || sum.Unsure != unsure || sum.Flagged != 4 {
			t.Errorf("MinConfidence %g: summary %+v; want 6 images, 2 failed, %d unsure, 4 flagged", minConf, sum, unsure)
		}
	}
}
