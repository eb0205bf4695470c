package infer

import (
	"context"
	"errors"
	"fmt"

	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/mnist"
)

// Source is labelled images already prepared, such as a data set's: what
// ClassifySource reads instead of files.
type Source interface {
	// Len is the number of images.
	Len() int
	// Input writes image i as the model's input, 1x32x32 float32 values
	// (a 28x28 image in [0, 1] padded by 2, as digit.Preprocess writes), or
	// Options.InputSize values when that is set, and returns its name for
	// the Prediction and its label (-1 for none; one outside
	// [0, Options.Classes) is an error).
	Input(i int, dst []float32) (name string, label int, err error)
}

// ItemError is a Source's error for one image (a file that is not an
// image, say): that image's Prediction fails, and the run goes on, as
// Classify goes on past a bad file.
type ItemError struct{ Err error }

func (e *ItemError) Error() string { return e.Err.Error() }
func (e *ItemError) Unwrap() error { return e.Err }

// ClassifySource is Classify for the images of src, in order: each gets
// its Prediction, with a status and the low-confidence flag (the flags of
// an image file's preparation need the file). An error of src stops the
// run, but for an *ItemError.
func ClassifySource(ctx context.Context, m mnist.Classifier, src Source, opt Options, h Handlers) (Summary, error) {
	b, err := newBatcher(m, h, opt)
	if err != nil {
		return Summary{}, err
	}
	for i := range src.Len() {
		if i%256 == 0 && ctx.Err() != nil {
			return b.sum, ctx.Err()
		}
		name, label, err := src.Input(i, b.x[b.n*b.size:(b.n+1)*b.size])
		if ie, ok := errors.AsType[*ItemError](err); ok {
			if err := b.fail(name, label, ie.Err); err != nil {
				return b.sum, err
			}
			continue
		}
		if err != nil {
			return b.sum, err
		}
		if label >= b.classes {
			return b.sum, fmt.Errorf("infer: %s has label %d; the model scores %d classes", name, label, b.classes)
		}
		if err := b.add(name, label, digit.Report{}); err != nil {
			return b.sum, err
		}
	}
	return b.sum, b.flush()
}
