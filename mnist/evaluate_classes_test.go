package mnist

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

// threeClasses are images of 2 floats labelled 0 to 2: the first float is
// the label, the second the class a firstOf3 model predicts.
type threeClasses struct{ x [][2]float32 }

func (s threeClasses) Fill(idx []int, x []float32, y []int64) error {
	for k, i := range idx {
		x[2*k], x[2*k+1] = s.x[i][0], s.x[i][1]
		y[k] = int64(s.x[i][0])
	}
	return nil
}

// secondOf3 gives logit 2 to the class its image's second float names, 0
// to the other two.
type secondOf3 struct{}

func (secondOf3) Logits(logits, x []float32, n int) error {
	for i := range n {
		row := logits[3*i : 3*i+3]
		clear(row)
		row[int(x[2*i+1])] = 2
	}
	return nil
}

// TestEvaluateClasses: a model of 3 classes on images of 2 floats gets its
// confusion matrix, accuracy, loss and mistakes counted over 3 classes,
// under both protocols; a label past the classes is ErrCorrupt.
func TestEvaluateClasses(t *testing.T) {
	set := threeClasses{x: [][2]float32{{0, 0}, {0, 1}, {1, 1}, {2, 2}, {2, 0}, {1, 1}, {2, 2}}}
	idx := []int{0, 1, 2, 3, 4, 5, 6}
	right := math.Log(1 + 2*math.Exp(-2)) // -log softmax of the logit 2
	wrong := 2 + right                    // of a 0 beside a 2
	conf := math.Exp(2) / (math.Exp(2) + 2)

	met, err := EvaluateClasses(secondOf3{}, set, idx, EvalOptions{Classes: 3, Size: 2, Batch: 3, Mistakes: true})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{{1, 1, 0}, {0, 2, 0}, {1, 0, 2}}
	if !reflect.DeepEqual(met.Confusion, want) || met.Images != 7 || met.Correct != 5 || math.Abs(met.Accuracy-500.0/7) > 1e-12 {
		t.Errorf("full: confusion %v, %d images, %d correct, %.4f %%; want %v, 7, 5", met.Confusion, met.Images, met.Correct, met.Accuracy, want)
	}
	if l := (5*right + 2*wrong) / 7; math.Abs(met.Loss-l) > 1e-6 {
		t.Errorf("full: loss %.9f, want %.9f", met.Loss, l)
	}
	if len(met.Mistakes) != 2 || met.Mistakes[0] != (Mistake{1, 0, 1, met.Mistakes[0].Confidence}) || met.Mistakes[1].Index != 4 ||
		met.Mistakes[1].Prediction != 0 || math.Abs(met.Mistakes[0].Confidence-conf) > 1e-12 {
		t.Errorf("mistakes %+v", met.Mistakes)
	}

	// Batches of 3 under the seed protocol: image 6 is dropped, and the
	// loss is the mean of the two batches' means.
	seed, err := EvaluateClasses(secondOf3{}, set, idx, EvalOptions{Classes: 3, Size: 2, Batch: 3, SeedProtocol: true})
	if err != nil {
		t.Fatal(err)
	}
	if l := ((2*right+wrong)/3 + (2*right+wrong)/3) / 2; seed.Images != 6 || seed.Correct != 4 || math.Abs(seed.Loss-l) > 1e-6 || seed.Mistakes != nil {
		t.Errorf("seed: %d images, %d correct, loss %.9f (want 6, 4, %.9f), mistakes %v", seed.Images, seed.Correct, seed.Loss, l, seed.Mistakes)
	}

	bad := threeClasses{x: [][2]float32{{0, 0}, {3, 1}}}
	if _, err := EvaluateClasses(secondOf3{}, bad, []int{0, 1}, EvalOptions{Classes: 3, Size: 2, Batch: 2}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("label 3 of 3 classes: %v, want ErrCorrupt", err)
	}
	if _, err := EvaluateClasses(secondOf3{}, set, idx, EvalOptions{Classes: 3, Batch: 2}); err == nil {
		t.Error("images of 0 floats: no error")
	}
}
