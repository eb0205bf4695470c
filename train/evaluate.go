package train

import (
	"fmt"

	"lenetkit/internal/kernel"
	"lenetkit/lenet"
	"lenetkit/mnist"
)

// Metrics are a model's figures on a set of labelled images.
type Metrics struct {
	Accuracy float64 // percent
	Loss     float64 // mean cross-entropy
	Images   int
	Correct  int
}

// Evaluate runs m over the images idx of set in batches. With seedProtocol
// it averages as the notebook did (DataLoader drop_last=True: the last
// partial batch is dropped, and the loss is the mean of the batch means);
// otherwise every image counts once.
func Evaluate(m *lenet.Model, set *mnist.Set, idx []int, batch int, seedProtocol bool) (Metrics, error) {
	if batch < 1 {
		return Metrics{}, fmt.Errorf("train: evaluation batch size %d", batch)
	}
	x := make([]float32, batch*mnist.PixelCount)
	y := make([]int64, batch)
	logits := make([]float32, batch*lenet.Classes)
	var met Metrics
	var lossSum float64
	batches := 0
	for lo := 0; lo < len(idx); lo += batch {
		hi := min(lo+batch, len(idx))
		if seedProtocol && hi-lo < batch {
			break
		}
		n := hi - lo
		if err := set.Fill(idx[lo:hi], x[:n*mnist.PixelCount], y[:n]); err != nil {
			return Metrics{}, err
		}
		if err := m.Logits(logits[:n*lenet.Classes], x[:n*mnist.PixelCount], n); err != nil {
			return Metrics{}, err
		}
		l := kernel.CrossEntropy(nil, logits, y[:n], n, lenet.Classes)
		if seedProtocol {
			lossSum += l
		} else {
			lossSum += l * float64(n)
		}
		for i := 0; i < n; i++ {
			if argmax(logits[i*lenet.Classes:(i+1)*lenet.Classes]) == int(y[i]) {
				met.Correct++
			}
		}
		met.Images += n
		batches++
	}
	if met.Images == 0 {
		return Metrics{}, fmt.Errorf("train: no images to evaluate (%d images, batch %d)", len(idx), batch)
	}
	met.Accuracy = 100 * float64(met.Correct) / float64(met.Images)
	if seedProtocol {
		met.Loss = lossSum / float64(batches)
	} else {
		met.Loss = lossSum / float64(met.Images)
	}
	return met, nil
}

func argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}
