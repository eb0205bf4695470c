package mnist

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/kernel"
)

// Classes is the number of digits.
const Classes = 10

// Classifier is anything that computes a model's logits: lenet's Model,
// an ONNX graph compiled by lenetkit's backend, or onnx-go's.
type Classifier interface {
	// Logits writes n rows of Classes logits for n images of 1x32x32 floats.
	Logits(logits, x []float32, n int) error
}

// Metrics are a model's figures on a set of labelled images.
type Metrics struct {
	Accuracy float64 // percent
	Loss     float64 // mean cross-entropy
	Images   int
	Correct  int
	// Confusion counts images by true label (row) and prediction (column).
	Confusion [Classes][Classes]int
	// Mistakes are the images classified wrongly, in the order evaluated;
	// only EvaluateMistakes lists them.
	Mistakes []Mistake
}

// Mistake is an image a model classified wrongly.
type Mistake struct {
	Index      int     `json:"index"` // in the set
	Label      int     `json:"label"`
	Prediction int     `json:"prediction"`
	Confidence float64 `json:"confidence"` // softmax probability of Prediction
}

// Evaluate runs m over the images idx of set in batches. With seedProtocol
// it averages as the notebook did (DataLoader drop_last=True: the last
// partial batch is dropped, and the loss is the mean of the batch means);
// otherwise every image counts once.
func Evaluate(m Classifier, set *Set, idx []int, batch int, seedProtocol bool) (Metrics, error) {
	return evaluate(m, set, idx, batch, seedProtocol, false)
}

// EvaluateMistakes is Evaluate that also lists, in Metrics.Mistakes, the
// images the model got wrong: what lenetkit eval --report draws.
func EvaluateMistakes(m Classifier, set *Set, idx []int, batch int, seedProtocol bool) (Metrics, error) {
	return evaluate(m, set, idx, batch, seedProtocol, true)
}

func evaluate(m Classifier, set *Set, idx []int, batch int, seedProtocol, mistakes bool) (Metrics, error) {
	if batch < 1 {
		return Metrics{}, fmt.Errorf("mnist: evaluation batch size %d", batch)
	}
	x := make([]float32, batch*PixelCount)
	y := make([]int64, batch)
	logits := make([]float32, batch*Classes)
	var met Metrics
	var lossSum float64
	batches := 0
	for lo := 0; lo < len(idx); lo += batch {
		hi := min(lo+batch, len(idx))
		if seedProtocol && hi-lo < batch {
			break
		}
		n := hi - lo
		if err := set.Fill(idx[lo:hi], x[:n*PixelCount], y[:n]); err != nil {
			return Metrics{}, err
		}
		for k, l := range y[:n] {
			if l < 0 || l >= Classes {
				return Metrics{}, errorOf(ErrCorrupt, "mnist: image %d has label %d; a digit classifier has %d classes", idx[lo+k], l, Classes)
			}
		}
		if err := m.Logits(logits[:n*Classes], x[:n*PixelCount], n); err != nil {
			return Metrics{}, err
		}
		l := kernel.CrossEntropy(nil, logits, y[:n], n, Classes)
		if seedProtocol {
			lossSum += l
		} else {
			lossSum += l * float64(n)
		}
		for i := 0; i < n; i++ {
			row := logits[i*Classes : (i+1)*Classes]
			p := Argmax(row)
			met.Confusion[y[i]][p]++
			if p == int(y[i]) {
				met.Correct++
			} else if mistakes {
				met.Mistakes = append(met.Mistakes, Mistake{Index: idx[lo+i], Label: int(y[i]), Prediction: p,
					Confidence: softmaxAt(row, p)})
			}
		}
		met.Images += n
		batches++
	}
	if met.Images == 0 {
		return Metrics{}, fmt.Errorf("mnist: no images to evaluate (%d images, batch %d)", len(idx), batch)
	}
	met.Accuracy = 100 * float64(met.Correct) / float64(met.Images)
	if seedProtocol {
		met.Loss = lossSum / float64(batches)
	} else {
		met.Loss = lossSum / float64(met.Images)
	}
	return met, nil
}

// Argmax is the predicted class of one row of logits (the first of equals).
func Argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}

// softmaxAt is the softmax probability of class k of a row of logits,
// computed in float64 from the largest logit so that exp cannot overflow.
func softmaxAt(row []float32, k int) float64 {
	top := float64(row[Argmax(row)])
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v) - top)
	}
	return math.Exp(float64(row[k])-top) / sum
}
