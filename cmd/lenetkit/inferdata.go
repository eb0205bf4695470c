package main

import (
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/infer"
)

// inferData is what infer classifies besides files: with ownData, the set
// --data names, as an infer.Source of images made to the model's own input
// size (see openOwnData); and the class names, for the table of per-class
// accuracy, when --data or --labels gives them, or the model names its
// classes other than by their numbers (else nil, no table).
func inferData(c *cli.Context, m *infer.Model, ownData bool) (classes []string, src infer.Source, err error) {
	if ownData {
		data, s, err := openOwnData(c, m)
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(statusOut(c), "Data: %s\n", printable(data.String()))
		return data.Classes, setSource{s, m.Preprocess.Pad}, nil
	}
	if f := c.String("labels"); f != "" {
		if classes, err = dataset.ReadClassNames(f); err != nil {
			return nil, nil, fmt.Errorf("--labels: %w", err)
		}
		if len(classes) > m.Classes {
			return nil, nil, fmt.Errorf("--labels: %s has %d class names; %s gives scores for %d", f, len(classes), m.Path, m.Classes)
		}
	}
	// A digit classifier's "0" to "9" say no more than the numbers.
	if classes == nil && m.Labels != nil && !slices.Equal(m.Labels, numberNames(m.Classes)) {
		classes = m.Labels
	}
	return classes, nil, nil
}

// setSource gives a data set's images to infer at the model's own input
// size: in [0, 1], padded as the model declares; the model normalises them
// (infer.Model.InputLogits).
type setSource struct {
	s   *dataset.Set
	pad int
}

func (s setSource) Len() int { return s.s.Len() }

func (s setSource) Input(i int, dst []float32) (string, int, error) {
	if err := s.s.Fill([]int{i}, dst, nil, dataset.FillOptions{Pad: s.pad}); err != nil {
		return "", -1, err
	}
	return s.s.Origin(i), s.s.Label(i), nil
}

// classTally counts infer's answers by true class.
type classTally struct {
	classes []string
	images  []int
	correct []int
}

func newClassTally(classes []string) *classTally {
	return &classTally{classes: classes, images: make([]int, len(classes)), correct: make([]int, len(classes))}
}

func (t *classTally) add(pr infer.Prediction) {
	if pr.Label < 0 || pr.Label >= len(t.classes) || pr.Status == infer.StatusError {
		return
	}
	t.images[pr.Label]++
	if pr.Digit == pr.Label {
		t.correct[pr.Label]++
	}
}

func (t *classTally) rows() []classAccuracy {
	rows := make([]classAccuracy, len(t.classes))
	for k, name := range t.classes {
		rows[k] = classAccuracy{Class: name, Images: t.images[k], Correct: t.correct[k]}
		if t.images[k] > 0 {
			rows[k].Accuracy = 100 * float64(t.correct[k]) / float64(t.images[k])
		}
	}
	return rows
}
