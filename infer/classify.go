package infer

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/mnist"
)

// Prediction is the model's answer for one input, or why there is none.
type Prediction struct {
	Path       string
	Label      int     // the true digit (class) when known (ImageFolder layout, MNIST, a Source's label), else -1
	Digit      int     // the predicted digit, or class of a model of Options.Classes; -1 when Status is StatusError
	Confidence float64 // the softmax probability of Digit
	// Probabilities are every class's softmax probability, Options.Classes
	// of them (MNIST's 10 by default); nil when Status is StatusError.
	Probabilities []float64
	// Status is StatusOK, StatusUnsure (Confidence under
	// Options.MinConfidence; Digit is still the model's answer) or
	// StatusError (Err says why; no answer).
	Status Status
	Err    error
	// Flags say why the answer may not be what the image shows, in the
	// order of the Flag constants; nil when nothing is amiss.
	Flags []Flag
}

// Status is whether an input got an answer to go by.
type Status string

const (
	StatusOK     Status = "ok"
	StatusUnsure Status = "unsure"
	StatusError  Status = "error"
)

// Flag is a sign that an input is not what the model was trained on, a
// single MNIST-like digit, or that its answer is weak.
type Flag string

const (
	// FlagSeveralComponents: the ink is in two or more separate marks of
	// comparable size side by side, as in "42" or a word, not one digit.
	// Of MNIST's 10,000 test digits, 8 fives whose top bar stands apart
	// get it.
	FlagSeveralComponents Flag = "several-components"
	// FlagGuessedPreparation: which grey is paper and which is ink was a
	// guess (the border is not mostly one grey; under uneven light, ink
	// strays from the paper both ways); the digit the model saw may be the
	// paper. digit.ImageOptions.Invert other than digit.InvertAuto decides it.
	FlagGuessedPreparation Flag = "guessed-preparation"
	// FlagLowConfidence: the most probable digit has a probability under
	// LowConfidence, or under Options.MinConfidence when that is higher.
	FlagLowConfidence Flag = "low-confidence"
)

// LowConfidence is the probability under which an answer is flagged
// FlagLowConfidence: a hint, not a verdict. testdata/lenet_trained.pth,
// two epochs of the seed's recipe, gives 819 of MNIST's 10,000 test digits
// less, and the letters and "42" of testdata/images/nondigits 0.34 to 0.54.
const LowConfidence = 0.9

// Summary counts a run's inputs; with labels it has accuracy and loss.
type Summary struct {
	Images   int // classified, unsure ones included
	Failed   int // inputs that got no answer
	Unsure   int
	Flagged  int // classified images with at least one flag
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
	// Prediction receives every input in order, those that failed (a
	// file that could not be read or decoded, a blank image) with
	// Status StatusError; the run goes on past them.
	Prediction func(Prediction) error
	Skipped    func(Item) // a file in a directory that is not an image
}

// Options say where MNIST comes from for mnist:test and mnist:train, and
// how inputs are read and judged.
type Options struct {
	Data  string // as mnist.Locate takes it
	MNIST mnist.Options
	Batch int                // images per model call; 0 means 128
	Image digit.ImageOptions // how image files are read
	// MinConfidence, when above 0, makes an answer whose probability is
	// under it StatusUnsure.
	MinConfidence float64
	// Classes is the number of scores the model gives an image (infer.Model's
	// Classes); 0 means MNIST's 10.
	Classes int
	// InputSize is the floats of one image a Source writes and the model
	// takes (Model.InputSize, for Model.AtInputSize); 0 means MNIST's
	// 1x32x32. Classify's files and MNIST images are 1x32x32 only.
	InputSize int
	// Names, when not nil, name the classes: Classify labels a file by
	// its folder's name among them (seven/a.png), else by the digit its
	// folder is named by (7/a.png).
	Names []string
}

// sizes are opt's Classes and InputSize, their defaults filled in, and
// an error for values outside what a model may have.
func (opt Options) sizes() (classes, size int, err error) {
	classes, size = opt.Classes, opt.InputSize
	if classes == 0 {
		classes = mnist.Classes
	}
	if size == 0 {
		size = mnist.PixelCount
	}
	if classes < 1 || classes > MaxClasses || size < 1 || size > MaxSide*MaxSide {
		return 0, 0, fmt.Errorf("infer: %d classes of images of %d floats: want 1 to %d classes, 1 to %d floats", classes, size, MaxClasses, MaxSide*MaxSide)
	}
	return classes, size, nil
}

func newBatcher(m mnist.Classifier, h Handlers, opt Options) (*batcher, error) {
	batch := opt.Batch
	if batch <= 0 {
		batch = 128
	}
	classes, size, err := opt.sizes()
	if err != nil {
		return nil, err
	}
	return &batcher{m: m, h: h, opt: opt, batch: batch, classes: classes, size: size,
		x: make([]float32, batch*size), logits: make([]float32, batch*classes)}, nil
}

// Classify runs m over the images that paths name (files, directories,
// mnist:test, mnist:train; see Walk) in batches, and hands every input's
// Prediction to h in order.
func Classify(ctx context.Context, m mnist.Classifier, paths []string, opt Options, h Handlers) (Summary, error) {
	if opt.InputSize != 0 && opt.InputSize != mnist.PixelCount {
		return Summary{}, fmt.Errorf("infer: Classify makes images of %d floats (1x32x32), not %d", mnist.PixelCount, opt.InputSize)
	}
	b, err := newBatcher(m, h, opt)
	if err != nil {
		return Summary{}, err
	}
	err = Walk(paths, func(it Item) error {
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
		if k := slices.Index(opt.Names, filepath.Base(filepath.Dir(it.Path))); k >= 0 {
			it.Label = k
		}
		slot := b.x[b.n*mnist.PixelCount : (b.n+1)*mnist.PixelCount]
		pr, err := digit.LoadImageReport(it.Path, slot, opt.Image)
		if err != nil {
			return b.fail(it.Path, it.Label, err)
		}
		return b.add(it.Path, it.Label, pr)
	})
	if err != nil {
		return b.sum, err
	}
	if err := b.flush(); err != nil {
		return b.sum, err
	}
	return b.sum, nil
}

// pending is an input waiting for its batch to run.
type pending struct {
	path  string
	label int
	prep  digit.Report
	err   error // set for an input that failed: it has no slot
}

type batcher struct {
	m       mnist.Classifier
	h       Handlers
	opt     Options
	batch   int
	classes int // logits per image
	size    int // floats per image
	x       []float32
	logits  []float32
	items   []pending // in order, failed ones among them
	n       int       // slots of x used
	sum     Summary
}

// add takes the image already written in slot b.n.
func (b *batcher) add(path string, label int, pr digit.Report) error {
	b.items = append(b.items, pending{path: path, label: label, prep: pr})
	b.n++
	if b.n == b.batch {
		return b.flush()
	}
	return nil
}

// fail queues an input that could not be classified, so that it is
// reported in its place among the others.
func (b *batcher) fail(path string, label int, err error) error {
	b.items = append(b.items, pending{path: path, label: label, err: err})
	if len(b.items) >= 2*b.batch {
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
		if err := b.add(fmt.Sprintf("%s/%d", it.Path, i), int(label[0]), digit.Report{}); err != nil {
			return err
		}
	}
	return nil
}

func (b *batcher) flush() error {
	if len(b.items) == 0 {
		return nil
	}
	logits := b.logits[:b.n*b.classes]
	if b.n > 0 {
		if err := b.m.Logits(logits, b.x[:b.n*b.size], b.n); err != nil {
			return err
		}
	}
	slot := 0
	for _, it := range b.items {
		p := Prediction{Path: it.path, Label: it.label, Digit: -1}
		if it.err != nil {
			p.Status, p.Err = StatusError, it.err
			b.sum.Failed++
		} else {
			row := logits[slot*b.classes : (slot+1)*b.classes]
			slot++
			b.judge(&p, row, it.prep)
		}
		if b.h.Prediction != nil {
			if err := b.h.Prediction(p); err != nil {
				return err
			}
		}
	}
	b.n, b.items = 0, b.items[:0]
	return nil
}

// judge fills in p's answer from its logits, and its status and flags.
func (b *batcher) judge(p *Prediction, row []float32, pr digit.Report) {
	p.Digit = mnist.Argmax(row)
	lse := kernel.LogSumExp(row)
	p.Probabilities = make([]float64, len(row))
	for c, v := range row {
		p.Probabilities[c] = math.Exp(float64(v) - lse)
	}
	p.Confidence = p.Probabilities[p.Digit]
	p.Status = StatusOK
	// Written so that a NaN probability (weights read with
	// --allow-nonfinite) counts as no confidence.
	if b.opt.MinConfidence > 0 && !(p.Confidence >= b.opt.MinConfidence) {
		p.Status = StatusUnsure
		b.sum.Unsure++
	}
	if pr.SeveralMarks {
		p.Flags = append(p.Flags, FlagSeveralComponents)
	}
	if pr.Guessed {
		p.Flags = append(p.Flags, FlagGuessedPreparation)
	}
	if !(p.Confidence >= max(LowConfidence, b.opt.MinConfidence)) {
		p.Flags = append(p.Flags, FlagLowConfidence)
	}
	if p.Flags != nil {
		b.sum.Flagged++
	}
	b.sum.Images++
	if p.Label >= 0 && p.Label < len(row) {
		b.sum.Labelled++
		b.sum.LossSum += lse - float64(row[p.Label])
		if p.Digit == p.Label {
			b.sum.Correct++
		}
	}
}
