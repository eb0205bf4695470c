package infer

import (
	"context"
	"fmt"
	"math"

	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
)

// Prediction is the model's answer for one image.
type Prediction struct {
	Path          string
	Label         int // the true digit when known (ImageFolder layout, MNIST), else -1
	Digit         int
	Confidence    float64 // the softmax probability of Digit
	Probabilities [lenet.Classes]float64
}

// Summary counts a run's images; with labels it has accuracy and loss.
type Summary struct {
	Images   int
	Failed   int
	Labelled int
	Correct  int
	LossSum  float64 // cross-entropy summed over labelled images
}

// Accuracy is the percentage of labelled images predicted right.
func (s Summary) Accuracy() float64 { return 100 * float64(s.Correct) / float64(s.Labelled) }

// Loss is the mean cross-entropy over labelled images.
func (s Summary) Loss() float64 { return s.LossSum / float64(s.Labelled) }

// Handlers receive a run's results as they come; any may be nil.
type Handlers struct {
	Prediction func(Prediction) error
	Failed     func(path string, err error) // a file that could not be read or decoded; the run goes on
	Skipped    func(Item)                   // a file in a directory that is not an image
}

// Options say where MNIST comes from for mnist:test and mnist:train.
type Options struct {
	Data  string // as mnist.Locate takes it
	MNIST mnist.Options
	Batch int          // images per model call; 0 means 128
	Image ImageOptions // how image files are read
}

// Classify runs m over the images that paths name (files, directories,
// mnist:test, mnist:train; see Walk) in batches, in order.
func Classify(ctx context.Context, m mnist.Classifier, paths []string, opt Options, h Handlers) (Summary, error) {
	batch := opt.Batch
	if batch <= 0 {
		batch = 128
	}
	b := &batcher{m: m, h: h, x: make([]float32, batch*mnist.PixelCount), logits: make([]float32, batch*lenet.Classes)}
	err := Walk(paths, func(it Item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case it.Skipped != "":
			if h.Skipped != nil {
				h.Skipped(it)
			}
			return nil
		case it.MNIST != "":
			return b.addMNIST(ctx, it, opt)
		}
		slot := b.x[b.n*mnist.PixelCount : (b.n+1)*mnist.PixelCount]
		if err := LoadImageWith(it.Path, slot, opt.Image); err != nil {
			b.sum.Failed++
			if h.Failed != nil {
				h.Failed(it.Path, err)
			}
			return nil
		}
		return b.add(it.Path, it.Label)
	})
	if err != nil {
		return b.sum, err
	}
	if err := b.flush(); err != nil {
		return b.sum, err
	}
	return b.sum, nil
}

type batcher struct {
	m      mnist.Classifier
	h      Handlers
	x      []float32
	logits []float32
	paths  []string
	labels []int
	n      int
	sum    Summary
}

// add takes the image already written in slot b.n.
func (b *batcher) add(path string, label int) error {
	b.paths = append(b.paths, path)
	b.labels = append(b.labels, label)
	b.n++
	if b.n*mnist.PixelCount == len(b.x) {
		return b.flush()
	}
	return nil
}

func (b *batcher) addMNIST(ctx context.Context, it Item, opt Options) error {
	src, err := mnist.Locate(ctx, opt.Data)
	if err != nil {
		return err
	}
	set, err := mnist.Load(src.Dir, it.MNIST, opt.MNIST)
	if err != nil {
		return err
	}
	label := make([]int64, 1)
	for i := 0; i < set.N; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := set.Fill([]int{i}, b.x[b.n*mnist.PixelCount:(b.n+1)*mnist.PixelCount], label); err != nil {
			return err
		}
		if err := b.add(fmt.Sprintf("%s/%d", it.Path, i), int(label[0])); err != nil {
			return err
		}
	}
	return nil
}

func (b *batcher) flush() error {
	if b.n == 0 {
		return nil
	}
	logits := b.logits[:b.n*lenet.Classes]
	if err := b.m.Logits(logits, b.x[:b.n*mnist.PixelCount], b.n); err != nil {
		return err
	}
	for i := 0; i < b.n; i++ {
		p := Prediction{Path: b.paths[i], Label: b.labels[i]}
		row := logits[i*lenet.Classes : (i+1)*lenet.Classes]
		p.Digit = mnist.Argmax(row)
		lse := kernel.LogSumExp(row)
		for c, v := range row {
			p.Probabilities[c] = math.Exp(float64(v) - lse)
		}
		p.Confidence = p.Probabilities[p.Digit]
		b.sum.Images++
		if p.Label >= 0 {
			b.sum.Labelled++
			b.sum.LossSum += lse - float64(row[p.Label])
			if p.Digit == p.Label {
				b.sum.Correct++
			}
		}
		if b.h.Prediction != nil {
			if err := b.h.Prediction(p); err != nil {
				return err
			}
		}
	}
	b.n, b.paths, b.labels = 0, b.paths[:0], b.labels[:0]
	return nil
}
