package mnist

import (
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/kernel"
)

// Classes is the number of digits.
const Classes = 10

// EvalBatch is the batch lenetkit's eval, quantize and train score a test
// set in: the seed protocol's (its batches are part of its arithmetic),
// and the full protocol's too, whose loss is summed a batch at a time, so
// that the same logits give the same figures to the last bit.
const EvalBatch = 128

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
	return digitMetrics(cm), nil
}

// digitMetrics is cm, of 10 classes, as Metrics.
func digitMetrics(cm ClassMetrics) Metrics {
	met := Metrics{Accuracy: cm.Accuracy, Loss: cm.Loss, Images: cm.Images, Correct: cm.Correct, Mistakes: cm.Mistakes}
	for t, row := range cm.Confusion {
		copy(met.Confusion[t][:], row)
	}
	return met
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
	var t tally
	err := runBatches(m, src, idx, opt, func(logits []float32, y []int64, idx []int) bool {
		return t.add(opt, logits, y, idx)
	})
	if err != nil {
		return ClassMetrics{}, err
	}
	return t.result(opt, len(idx))
}

// runBatches runs m over the images idx of src, opt.Batch at a time,
// handing each batch's logits, labels and indices to f until it returns
// false. The labels are checked first.
func runBatches(m Classifier, src Images, idx []int, opt EvalOptions, f func(logits []float32, y []int64, idx []int) bool) error {
	batch, classes, size := opt.Batch, opt.Classes, opt.Size
	switch {
	case batch < 1:
		return fmt.Errorf("mnist: evaluation batch size %d", batch)
	case classes < 1 || size < 1:
		return fmt.Errorf("mnist: evaluation of %d classes, %d floats an image", classes, size)
	}
	x := make([]float32, batch*size)
	y := make([]int64, batch)
	logits := make([]float32, batch*classes)
	for lo := 0; lo < len(idx); lo += batch {
		hi := min(lo+batch, len(idx))
		if opt.SeedProtocol && hi-lo < batch {
			break
		}
		n := hi - lo
		if err := src.Fill(idx[lo:hi], x[:n*size], y[:n]); err != nil {
			return err
		}
		for k, l := range y[:n] {
			if l < 0 || l >= int64(classes) {
				if classes == Classes {
					return errorOf(ErrCorrupt, "mnist: image %d has label %d; a digit classifier has %d classes", idx[lo+k], l, Classes)
				}
				return errorOf(ErrCorrupt, "mnist: image %d has label %d; the classifier has %d classes", idx[lo+k], l, classes)
			}
		}
		if err := m.Logits(logits[:n*classes], x[:n*size], n); err != nil {
			return err
		}
		if !f(logits[:n*classes], y[:n], idx[lo:hi]) {
			break
		}
	}
	return nil
}

// A tally sums a protocol's figures over batches of logits.
type tally struct {
	met     ClassMetrics
	lossSum float64
	batches int
}

// add counts one batch of n images' logits, labels y and indices idx,
// reporting whether the protocol takes another: with SeedProtocol, a
// partial batch is dropped, and ends the count.
func (t *tally) add(opt EvalOptions, logits []float32, y []int64, idx []int) bool {
	n, classes := len(y), opt.Classes
	if opt.SeedProtocol && n < opt.Batch {
		return false
	}
	if t.met.Confusion == nil {
		t.met.Confusion = make([][]int, classes)
		for i := range t.met.Confusion {
			t.met.Confusion[i] = make([]int, classes)
		}
	}
	l := kernel.CrossEntropy(nil, logits, y, n, classes)
	if opt.SeedProtocol {
		t.lossSum += l
	} else {
		t.lossSum += l * float64(n)
	}
	for i := range n {
		row := logits[i*classes : (i+1)*classes]
		p := Argmax(row)
		t.met.Confusion[y[i]][p]++
		if p == int(y[i]) {
			t.met.Correct++
		} else if opt.Mistakes {
			t.met.Mistakes = append(t.met.Mistakes, Mistake{Index: idx[i], Label: int(y[i]), Prediction: p,
				Confidence: softmaxAt(row, p)})
		}
	}
	t.met.Images += n
	t.batches++
	return true
}

// result is the tally's figures, of images images asked for.
func (t *tally) result(opt EvalOptions, images int) (ClassMetrics, error) {
	met := t.met
	if met.Images == 0 {
		return ClassMetrics{}, fmt.Errorf("mnist: no images to evaluate (%d images, batch %d)", images, opt.Batch)
	}
	met.Accuracy = 100 * float64(met.Correct) / float64(met.Images)
	if opt.SeedProtocol {
		met.Loss = t.lossSum / float64(t.batches)
	} else {
		met.Loss = t.lossSum / float64(met.Images)
	}
	return met, nil
}

// Scored are a digit classifier's logits for labelled images, computed
// once for the figures of more than one protocol: the seed's and the
// full one, which a training run reports both.
type Scored struct {
	logits []float32
	labels []int64
	idx    []int
}

// Score runs m over the images idx of set, batch at a time, and keeps its
// logits. The figures Scored.Metrics gives from them are Evaluate's for
// any batch whose logits are the ones m gives at this batch: for lenet's
// Model and lenetkit's backend, which give each image the same logits in
// any batch, every batch.
func Score(m Classifier, set *Set, idx []int, batch int) (*Scored, error) {
	opt := EvalOptions{Classes: Classes, Size: PixelCount, Batch: batch}
	s := &Scored{logits: make([]float32, 0, len(idx)*Classes), labels: make([]int64, 0, len(idx)), idx: idx}
	err := runBatches(m, set, idx, opt, func(logits []float32, y []int64, _ []int) bool {
		s.logits, s.labels = append(s.logits, logits...), append(s.labels, y...)
		return true
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Metrics are the figures Evaluate gives with batch and seedProtocol,
// from the kept logits.
func (s *Scored) Metrics(batch int, seedProtocol bool) (Metrics, error) {
	opt := EvalOptions{Classes: Classes, Size: PixelCount, Batch: batch, SeedProtocol: seedProtocol}
	if batch < 1 {
		return Metrics{}, fmt.Errorf("mnist: evaluation batch size %d", batch)
	}
	var t tally
	for lo := 0; lo < len(s.labels); lo += batch {
		hi := min(lo+batch, len(s.labels))
		if !t.add(opt, s.logits[lo*Classes:hi*Classes], s.labels[lo:hi], s.idx[lo:hi]) {
			break
		}
	}
	cm, err := t.result(opt, len(s.idx))
	if err != nil {
		return Metrics{}, err
	}
	return digitMetrics(cm), nil
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
