package infer

import (
	"image"
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

// TestPolarityGuess checks when the choice of paper is said to be a guess:
// not for ink on a sheet that fills the picture, however little ink, but
// when the border is half paper, half something else.
func TestPolarityGuess(t *testing.T) {
	const side = 60
	// img is a side x side picture of grey bg with a bar of grey ink
	// and, when desk > 0, its right desk columns of grey 40.
	img := func(bg, ink byte, bar image.Rectangle, desk int) []byte {
		g := make([]byte, side*side)
		for y := range side {
			for x := range side {
				v := bg
				switch {
				case x >= side-desk:
					v = 40
				case image.Pt(x, y).In(bar):
					v = ink
				}
				g[y*side+x] = v
			}
		}
		return g
	}
	stroke, thin, long := image.Rect(25, 10, 35, 50), image.Rect(29, 25, 31, 35), image.Rect(25, 0, 35, 60)
	for _, tc := range []struct {
		name         string
		grey         []byte
		dark, unsure bool // dark only when sure
	}{
		{"dark on light", img(230, 20, stroke, 0), true, false},
		{"light on dark", img(10, 240, stroke, 0), false, false},
		{"a speck of ink on a large sheet", img(230, 20, thin, 0), true, false},
		{"a stroke across the sheet", img(230, 20, long, 0), true, false},
		{"the right third a desk", img(230, 20, stroke, 20), false, true},
		{"the right half a desk", img(230, 20, stroke, 30), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dark, unsure := polarity(tc.grey, side, side)
			if unsure != tc.unsure || !unsure && dark != tc.dark {
				t.Errorf("dark %v, unsure %v; want unsure %v, dark %v", dark, unsure, tc.unsure, tc.dark)
			}
		})
	}
}

// TestMNISTUnflagged: MNIST's own test digits, the model's home ground, are
// almost never taken for several marks (8 of 10,000 do: fives whose top
// bar stands apart to the right) and their polarity is never a guess.
func TestMNISTUnflagged(t *testing.T) {
	testtool.SkipShort(t)
	set := realTest(t)
	var d [digitSide * digitSide]byte
	several, guessed := 0, 0
	for i := range set.N {
		pr, err := prepare(digit(set, i), InvertAuto, &d)
		if err != nil {
			t.Fatalf("test digit %d: %v", i, err)
		}
		if pr.marks > 1 {
			several++
		}
		if pr.guessed {
			guessed++
		}
	}
	t.Logf("%d of %d with several marks, %d guessed", several, set.N, guessed)
	if several > 10 || guessed > 0 {
		t.Errorf("%d of %d test digits with several marks, %d with a guessed polarity; want at most 10 and none", several, set.N, guessed)
	}
}
