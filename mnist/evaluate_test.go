package mnist

import (
	"math"
	"reflect"
	"slices"
	"testing"
)

// firstPixel classifies an image by its top-left pixel: class v%10 for a
// pixel value v, with logit 4 against 0 for the others.
type firstPixel struct{}

func (firstPixel) Logits(logits, x []float32, n int) error {
	for i := range n {
		v := int(math.Round(float64(x[i*PixelCount+Pad*Side+Pad]) * 255))
		row := logits[i*Classes : (i+1)*Classes]
		clear(row)
		row[v%Classes] = 4
	}
	return nil
}

// TestEvaluateMistakes: EvaluateMistakes lists what Evaluate counts, by
// index in the set, with the prediction's softmax probability.
func TestEvaluateMistakes(t *testing.T) {
	const n = 10
	s := &Set{Images: make([]byte, n*28*28), Labels: make([]byte, n), N: n, Rows: 28, Cols: 28}
	for i := range n {
		s.Labels[i] = byte(i)
		s.Images[i*28*28] = byte(i) // right
		if i == 0 || i == 2 || i == 5 || i == 9 {
			s.Images[i*28*28] = byte(i + 1) // wrong: predicts i+1 mod 10
		}
	}
	idx := []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}
	conf := math.Exp(4) / (math.Exp(4) + 9)

	for _, c := range []struct {
		name  string
		seed  bool
		wants []Mistake
	}{
		// Batches of 4: the seed protocol drops the last two images (1, 0).
		{"full", false, []Mistake{{9, 9, 0, conf}, {5, 5, 6, conf}, {2, 2, 3, conf}, {0, 0, 1, conf}}},
		{"seed", true, []Mistake{{9, 9, 0, conf}, {5, 5, 6, conf}, {2, 2, 3, conf}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			plain, err := Evaluate(firstPixel{}, s, idx, 4, c.seed)
			if err != nil {
				t.Fatal(err)
			}
			if plain.Mistakes != nil {
				t.Errorf("Evaluate listed mistakes: %v", plain.Mistakes)
			}
			got, err := EvaluateMistakes(firstPixel{}, s, idx, 4, c.seed)
			if err != nil {
				t.Fatal(err)
			}
			mistakes := got.Mistakes
			got.Mistakes = nil
			if !reflect.DeepEqual(got, plain) {
				t.Errorf("EvaluateMistakes' figures %+v differ from Evaluate's %+v", got, plain)
			}
			if len(mistakes) != got.Images-got.Correct {
				t.Errorf("%d mistakes listed, %d counted", len(mistakes), got.Images-got.Correct)
			}
			if !slices.EqualFunc(mistakes, c.wants, func(a, b Mistake) bool {
				return a.Index == b.Index && a.Label == b.Label && a.Prediction == b.Prediction && math.Abs(a.Confidence-b.Confidence) < 1e-12
			}) {
				t.Errorf("mistakes %v, want %v", mistakes, c.wants)
			}
		})
	}
}

func TestSoftmaxAt(t *testing.T) {
	// Logits that would overflow exp in float32 and in float64.
	row := []float32{1000, 1000, -1000, 0, 0, 0, 0, 0, 0, 0}
	if p := softmaxAt(row, 0); math.Abs(p-0.5) > 1e-12 {
		t.Errorf("softmax %v, want 0.5", p)
	}
}
