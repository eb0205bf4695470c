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
	cm, err := EvaluateClasses(m, set, idx, EvalOptions{Classes: Classes, Size: PixelCount, Batch: batch,
		SeedProtocol: seedProtocol, Mistakes: mistakes})
	if err != nil {
		return Metrics{}, err
	}
	met := Metrics{Accuracy: cm.Accuracy, Loss: cm.Loss, Images: cm.Images, Correct: cm.Correct, Mistakes: cm.Mistakes}
	for t, row := range cm.Confusion {
		copy(met.Confusion[t][:], row)
	}
	return met, nil
}

// Images are labelled images in a model's input form, for
// EvaluateClasses: a Set (1x32x32 digits), or a data set of any image size
// and number of classes.
type Images interface {
	// Fill writes images idx into x, EvalOptions.Size floats each, and
	// their labels into y (len(idx) values).
	Fill(idx []int, x []float32, y []int64) error
}

// EvalOptions say how EvaluateClasses runs.
type EvalOptions struct {
	// Classes is the number of logits the model gives an image, Size the
	// floats of one image of its input.
	Classes, Size int
	// Batch is the images of one model call; with SeedProtocol, the last
	// partial batch is dropped and the loss is the mean of batch means,
	// as the notebook averaged.
	Batch        int
	SeedProtocol bool
	// Mistakes lists the images the model got wrong in
	// ClassMetrics.Mistakes.
	Mistakes bool
}

// ClassMetrics are a classifier's figures on labelled images, for any
// number of classes: Metrics with a confusion matrix of Classes rows.
type ClassMetrics struct {
	Accuracy float64 // percent
	Loss     float64 // mean cross-entropy
	Images   int
	Correct  int
	// Confusion counts images by true label (row) and prediction
	// (column): Classes x Classes.
	Confusion [][]int
	// Mistakes are the images classified wrongly, in the order
	// evaluated, with EvalOptions.Mistakes.
	Mistakes []Mistake
}

// EvaluateClasses runs m over the images idx of src in batches, as
// Evaluate does, for a model of opt.Classes outputs taking images of
// opt.Size floats. A label outside [0, opt.Classes) is an error of kind
// ErrCorrupt.
func EvaluateClasses(m Classifier, src Images, idx []int, opt EvalOptions) (ClassMetrics, error) {
	batch, classes := opt.Batch, opt.Classes
	switch {
	case batch < 1:
		return ClassMetrics{}, fmt.Errorf("mnist: evaluation batch size %d", batch)
	case classes < 1 || opt.Size < 1:
		return ClassMetrics{}, fmt.Errorf("mnist: evaluation of %d classes, %d floats an image", classes, opt.Size)
	}
	size := opt.Size
	x := make([]float32, batch*size)
	y := make([]int64, batch)
	logits := make([]float32, batch*classes)
	met := ClassMetrics{Confusion: make([][]int, classes)}
	for t := range met.Confusion {
		met.Confusion[t] = make([]int, classes)
	}
	var lossSum float64
	batches := 0
	for lo := 0; lo < len(idx); lo += batch {
		hi := min(lo+batch, len(idx))
		if opt.SeedProtocol && hi-lo < batch {
			break
		}
		n := hi - lo
		if err := src.Fill(idx[lo:hi], x[:n*size], y[:n]); err != nil {
			return ClassMetrics{}, err
		}
		for k, l := range y[:n] {
			if l < 0 || l >= int64(classes) {
				if classes == Classes {
					return ClassMetrics{}, errorOf(ErrCorrupt, "mnist: image %d has label %d; a digit classifier has %d classes", idx[lo+k], l, Classes)
				}
				return ClassMetrics{}, errorOf(ErrCorrupt, "mnist: image %d has label %d; the classifier has %d classes", idx[lo+k], l, classes)
			}
		}
		if err := m.Logits(logits[:n*classes], x[:n*size], n); err != nil {
			return ClassMetrics{}, err
		}
		l := kernel.CrossEntropy(nil, logits, y[:n], n, classes)
		if opt.SeedProtocol {
			lossSum += l
		} else {
			lossSum += l * float64(n)
		}
		for i := 0; i < n; i++ {
			row := logits[i*classes : (i+1)*classes]
			p := Argmax(row)
			met.Confusion[y[i]][p]++
			if p == int(y[i]) {
				met.Correct++
			} else if opt.Mistakes {
				met.Mistakes = append(met.Mistakes, Mistake{Index: idx[lo+i], Label: int(y[i]), Prediction: p,
					Confidence: softmaxAt(row, p)})
			}
		}
		met.Images += n
		batches++
	}
	if met.Images == 0 {
		return ClassMetrics{}, fmt.Errorf("mnist: no images to evaluate (%d images, batch %d)", len(idx), batch)
	}
	met.Accuracy = 100 * float64(met.Correct) / float64(met.Images)
	if opt.SeedProtocol {
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
