package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/digit"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/mnist"
)

// fileSource gives infer's image files to a classifier of any classes and
// input size, each prepared as a folder's images are for it (--prep: the
// digit found, or the picture resized), at its size before its padding.
// A file that cannot be prepared fails alone (infer.ItemError). An image's
// label is its folder's name among the class names (--labels, else the
// model's), else its folder's digit (digits/7/a.png) for a model of that
// many classes, or none.
type fileSource struct {
	items []infer.Item
	m     *infer.Model
	names []string // the classes' names, nil for none
	opt   dataset.Options
}

// newFileSource walks paths for m, whose classes names name (nil: none),
// reading the flags --prep gives.
func newFileSource(c *cli.Context, m *infer.Model, paths []string, names []string) (*fileSource, error) {
	prep, err := dataset.ParsePrep(c.String("prep"))
	if err != nil {
		return nil, usageError("--prep %q: want digit, resize or resize:area", c.String("prep"))
	}
	if prep.Invert, err = digit.ParseInvert(c.String("invert")); err != nil {
		return nil, usageError("--invert %q: want auto, always or never", c.String("invert"))
	}
	h, w := modelImage(m)
	if !prep.Resize && (h < mnist.Side-2*mnist.Pad || w < mnist.Side-2*mnist.Pad) {
		return nil, usageError("--prep %s makes 28x28 digits; %s takes %dx%d images (before its padding): give --prep resize", c.String("prep"), m.Path, h, w)
	}
	s := &fileSource{m: m, names: names, opt: dataset.Options{Prep: prep, Height: h, Width: w, Colour: c.Bool("colour")}}
	err = infer.Walk(paths, func(it infer.Item) error {
		switch {
		case it.MNIST != "":
			return fmt.Errorf("mnist:%s: %s scores %d classes of %dx%d images, not MNIST's digits: give it images of its own", it.MNIST, m.Path, m.Classes, h, w)
		case it.Skipped != "":
			fmt.Fprintf(statusOut(c), "note: skipping %s: %s\n", quoteName(it.Path), printable(it.Skipped))
		default:
			s.items = append(s.items, it)
		}
		return nil
	})
	return s, err
}

func (s *fileSource) Len() int { return len(s.items) }

func (s *fileSource) Input(i int, dst []float32) (string, int, error) {
	it := s.items[i]
	label := -1
	if s.names != nil {
		label = slices.Index(s.names, filepath.Base(filepath.Dir(it.Path)))
	} else if it.Label < s.m.Classes {
		label = it.Label
	}
	img, err := dataset.OpenFile(it.Path, s.opt)
	if err != nil {
		var de *dataset.Error
		if errors.As(err, &de) && de.Kind != dataset.ErrOption {
			return it.Path, label, &infer.ItemError{Err: err}
		}
		return it.Path, label, err
	}
	// The image in [0, 1] inside the padding the model declares, as a data
	// set's images are filled; the model normalises it.
	return it.Path, label, img.Fill([]int{0}, dst, nil, dataset.FillOptions{Pad: s.m.Preprocess.Pad})
}
