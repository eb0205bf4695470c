package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
)

// evalData is the labelled set eval measures and its class names: with
// --data, the data set's test part or a whole image folder (data says
// which); without, MNIST's test part as before, from $LENETKIT_DATA or the
// GoMNIST module.
func evalData(c *cli.Context, m *infer.Model) (set *mnist.Set, classes []string, data *dataset.Data, err error) {
	if !c.IsSet("data") {
		src, err := mnist.Locate(c.Context, "")
		if err != nil {
			return nil, nil, nil, err
		}
		if set, err = mnist.Load(src.Dir, "test", mnist.Options{SkipChecksum: c.Bool("skip-checksum")}); err != nil {
			return nil, nil, nil, err
		}
		classes = digitNames()
		if f := c.String("labels"); f != "" {
			if classes, err = dataset.ReadClassNames(f); err != nil {
				return nil, nil, nil, fmt.Errorf("--labels: %w", err)
			}
			if len(classes) != mnist.Classes {
				return nil, nil, nil, fmt.Errorf("--labels: %s has %d class names; MNIST has %d classes", f, len(classes), mnist.Classes)
			}
		}
		return set, classes, nil, nil
	}
	h, w := modelImage(m)
	data, err = openData(c, dataset.Options{Height: h, Width: w, Parts: dataset.TestPart, ClassesByNumber: true})
	if err != nil {
		return nil, nil, nil, err
	}
	s := data.Eval()
	if s.Height != h || s.Width != w {
		return nil, nil, nil, fmt.Errorf("%s holds %dx%d images; %s takes %dx%d (before its padding): use data of that size", data.Path, s.Height, s.Width, m.Path, h, w)
	}
	if k := len(data.Classes); k > lenet.Classes {
		return nil, nil, nil, fmt.Errorf("%s has %d classes; %s gives scores for %d: evaluate it on data of at most %d classes", data.Path, k, m.Path, lenet.Classes, lenet.Classes)
	} else if k < lenet.Classes {
		fmt.Fprintf(statusOut(c), "note: %s has %d classes, %s gives scores for %d: class k of the data is output k\n",
			printable(data.Path), k, printable(m.Path), lenet.Classes)
	}
	if set, err = s.MNIST(); err != nil {
		return nil, nil, nil, err
	}
	return set, data.Classes, data, nil
}

// modelImage is the size of image a model takes before its own padding:
// 28x28 for the seed's LeNet (Pad(2) to 32x32) and for 28x28 graphs.
func modelImage(m *infer.Model) (h, w int) {
	return m.Input.Height - 2*m.Preprocess.Pad, m.Input.Width - 2*m.Preprocess.Pad
}

// digitNames are MNIST's class names, "0" to "9".
func digitNames() []string {
	names := make([]string, mnist.Classes)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names
}

// perClass is the accuracy on each of the classes, from the confusion
// matrix's rows.
func perClass(met mnist.Metrics, classes []string) []classAccuracy {
	out := make([]classAccuracy, len(classes))
	for k, name := range classes {
		a := classAccuracy{Class: name, Accuracy: math.NaN()}
		if k < len(met.Confusion) {
			for _, v := range met.Confusion[k] {
				a.Images += v
			}
			a.Correct = met.Confusion[k][k]
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
