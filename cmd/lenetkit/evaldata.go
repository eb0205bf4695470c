package main

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"strconv"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/mnist"
)

// evalSet is what eval measures: labelled images in the model's input form
// and the model that takes them, the class names, and for the report each
// image's picture and origin.
type evalSet struct {
	images  mnist.Images
	n       int
	classes []string
	// model takes images of size floats and gives len(classes) logits:
	// the model itself for MNIST's 1x32x32 digits, its AtInputSize for a
	// data set made to its input's size.
	model mnist.Classifier
	size  int
	data  *dataset.Data // nil for MNIST without --data
	// picture is image i as the report draws it; origin where it came
	// from (nil for MNIST without --data).
	picture func(i int) *image.Gray
	origin  func(i int) string
}

// evalData is the labelled set eval measures and its class names: with
// ownData, the data set's test part or a whole image folder (data says
// which), made to the model's own input size, of as many classes as the
// model scores, --data's or else MNIST's (resized, or refused saying how);
// without, MNIST's test part as before, from $LENETKIT_DATA or the GoMNIST
// module.
func evalData(c *cli.Context, m *infer.Model, ownData bool) (*evalSet, error) {
	if !ownData {
		src, err := mnist.Locate(c.Context, "")
		if err != nil {
			return nil, err
		}
		set, err := mnist.Load(src.Dir, "test", mnist.Options{SkipChecksum: c.Bool("skip-checksum")})
		if err != nil {
			return nil, err
		}
		classes := digitNames()
		if f := c.String("labels"); f != "" {
			if classes, err = dataset.ReadClassNames(f); err != nil {
				return nil, fmt.Errorf("--labels: %w", err)
			}
			if len(classes) != mnist.Classes {
				return nil, fmt.Errorf("--labels: %s has %d class names; MNIST has %d classes", f, len(classes), mnist.Classes)
			}
		}
		n := set.Rows * set.Cols
		return &evalSet{images: set, n: set.N, classes: classes, model: m, size: mnist.PixelCount,
			picture: func(i int) *image.Gray {
				return &image.Gray{Pix: set.Images[i*n : (i+1)*n], Stride: set.Cols, Rect: image.Rect(0, 0, set.Cols, set.Rows)}
			}}, nil
	}
	data, s, err := openOwnData(c, m)
	if err != nil {
		return nil, err
	}
	return &evalSet{images: setImages{s, m.Preprocess.Pad}, n: s.Len(), classes: data.Classes, model: m.AtInputSize(),
		size: m.InputSize(), data: data, origin: s.Origin,
		picture: func(i int) *image.Gray {
			return &image.Gray{Pix: s.Pixels(i), Stride: s.Width, Rect: image.Rect(0, 0, s.Width, s.Height)}
		}}, nil
}

// openOwnData opens --data for eval and infer: its test part (IDX) or all of
// it (a folder), its images made to the size the model takes before its
// padding, of as many classes as the model scores. Folders named by
// numbers keep their number as label for a model of MNIST's 10 classes, a
// digit classifier; for other models classes are the folder names sorted,
// as lenetkit train numbered them.
func openOwnData(c *cli.Context, m *infer.Model) (*dataset.Data, *dataset.Set, error) {
	h, w := modelImage(m)
	if err := defaultData(c); err != nil {
		return nil, nil, err
	}
	data, err := openData(c, dataset.Options{Height: h, Width: w, Parts: dataset.TestPart, ClassesByNumber: m.Classes == mnist.Classes, ModelClasses: m.Labels})
	if err != nil {
		return nil, nil, err
	}
	s := data.Eval()
	if err := fitsModel(data, s, m.Path, h, w); err != nil {
		return nil, nil, err
	}
	if err := checkClasses(m, data); err != nil {
		return nil, nil, err
	}
	return data, s, nil
}

// checkClasses refuses data of other than the model's number of classes:
// class k of the data is output k, and a model cannot be measured on
// classes it has no output for, nor its outputs read as classes the data
// does not have.
func checkClasses(m *infer.Model, data *dataset.Data) error {
	k := len(data.Classes)
	if k == m.Classes {
		return nil
	}
	var hint string
	if first := data.LowestLabel; data.Layout == dataset.LayoutIDX && first > 0 && k-first == m.Classes {
		return fmt.Errorf("the model scores %d classes, the data has %d: %s's labels start at %d (as EMNIST letters' do, 1 to 26); "+
			"give --first-label %d to read label %d as the model's class 0", m.Classes, k, data.Path, first, first, first)
	}
	if k < m.Classes && (data.Layout == dataset.LayoutIDX || m.Classes == mnist.Classes) {
		hint = fmt.Sprintf("give --labels FILE naming all %d of the model's classes when the data's are among them, or ", m.Classes)
	}
	model := "FILE.onnx"
	if m.Format == "onnx" {
		model = m.Path
	}
	return fmt.Errorf("the model scores %d classes, the data has %d: %s gives scores for %d, %s has %d classes; %strain a model of %d classes on it: lenetkit train --model %s --classes %d --data %s",
		m.Classes, k, m.Path, m.Classes, data.Path, k, hint, k, model, k, data.Path)
}

// setImages gives a data set's images as a model of their size, padded,
// takes them: float32 values in [0, 1] with pad zeros around.
type setImages struct {
	s   *dataset.Set
	pad int
}

func (s setImages) Fill(idx []int, x []float32, y []int64) error {
	return s.s.Fill(idx, x, y, dataset.FillOptions{Pad: s.pad})
}

// modelImage is the size of image a model takes before its own padding:
// 28x28 for the seed's LeNet (Pad(2) to 32x32) and for 28x28 graphs.
func modelImage(m *infer.Model) (h, w int) {
	return m.Input.Height - 2*m.Preprocess.Pad, m.Input.Width - 2*m.Preprocess.Pad
}

// digitNames are MNIST's class names, "0" to "9".
func digitNames() []string { return numberNames(mnist.Classes) }

// numberNames names n classes by their numbers, "0" to n-1.
func numberNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names
}

// perClass is the accuracy on each of the classes, from the confusion
// matrix's rows.
func perClass(confusion [][]int, classes []string) []classAccuracy {
	out := make([]classAccuracy, len(classes))
	for k, name := range classes {
		a := classAccuracy{Class: name, Accuracy: math.NaN()}
		if k < len(confusion) {
			for _, v := range confusion[k] {
				a.Images += v
			}
			a.Correct = confusion[k][k]
		}
		if a.Images > 0 {
			a.Accuracy = 100 * float64(a.Correct) / float64(a.Images)
		}
		out[k] = a
	}
	return out
}

// printPerClass writes the per-class table of eval's text output.
func printPerClass(w io.Writer, rows []classAccuracy) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nPer class:")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "CLASS\tIMAGES\tCORRECT\tACCURACY\t")
	for _, r := range rows {
		acc := "-"
		if r.Images > 0 {
			acc = fmt.Sprintf("%.2f%%", r.Accuracy)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", quoteName(r.Class), r.Images, r.Correct, acc)
	}
	tw.Flush()
}

// classesHint adds to an error opening a graph of other than MNIST's 10
// outputs, without --data, what to give it.
func classesHint(err error) error {
	var ce *infer.ClassesError
	if errors.As(err, &ce) && !ce.Any && ce.Outputs >= 2 && ce.Outputs <= infer.MaxClasses {
		return fmt.Errorf("%w: for a classifier of %d classes, give --data DIR of data with its %d classes", err, ce.Outputs, ce.Outputs)
	}
	return err
}

// printConfusion writes a confusion matrix of named classes: a row per
// true class, a column per prediction, each headed by its name.
func printConfusion(w io.Writer, confusion [][]int, classes []string) {
	fmt.Fprintf(w, "\nConfusion (rows: true class, columns: predicted)\n")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for _, name := range classes {
		fmt.Fprintf(tw, "%s\t", quoteName(name))
	}
	fmt.Fprintln(tw)
	for t, row := range confusion {
		fmt.Fprintf(tw, "%s\t", quoteName(classes[t]))
		for _, v := range row {
			fmt.Fprintf(tw, "%d\t", v)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// fitsModel refuses a set whose images are not the h x w that the model
// at path takes before its padding. An IDX set's images are used as they
// are unless --prep resize; an image folder's are made to any size.
func fitsModel(data *dataset.Data, s *dataset.Set, path string, h, w int) error {
	if s.Height == h && s.Width == w {
		return nil
	}
	fix := "use data of that size"
	if data.Layout != dataset.LayoutFolder {
		fix = "give --prep resize to resize them, as torchvision's Resize does, or IDX data of that size"
	}
	return fmt.Errorf("%s holds %dx%d images; %s takes %dx%d (before its padding): %s", data.Path, s.Height, s.Width, path, h, w, fix)
}
