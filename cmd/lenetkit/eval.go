package main

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/report"
	"github.com/lenetkit/lenetkit/train"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "measure a model on the 10,000 MNIST test images against the seed's 99.16 % / 0.0253, or on your own labelled images",
		ArgsUsage: "MODEL",
		Description: `Reports accuracy and mean cross-entropy in the seed's format. MODEL is a .pth,
.pt, .safetensors or .onnx file of the seed's LeNet.

--protocol full (default) uses all 10,000 images and the mean loss over images.
--protocol seed reproduces the notebook: batches of 128, the last partial batch
dropped (9,984 images), the loss averaged over batch means.

The input's normalisation is what the model declares: the seed's network
takes pixels in [0,1] as they are, and an ONNX graph may say its own in a
"preprocess" metadata entry (lenetkit convert writes one). For a graph that
says nothing, mean 0 and std 1 are assumed, and a note on standard error
(and "preprocess_assumed" in --format json) says so: give --mean and --std
for a model trained with Normalize.

--data DIR measures the model on other labelled images: an IDX set's test
part (t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, gzipped or not:
Fashion-MNIST, KMNIST, EMNIST as DIR/emnist-digits), or every image of a
folder with one subfolder per class (torchvision's ImageFolder: classes are
the subfolder names sorted). A folder's pictures are made into the model's
input by --prep: digit (as infer prepares a digit) or resize (the whole
picture, grey, resized to the model's input before its padding; resize:area
averages), then the model's own padding and normalisation. --prep resize
also resizes an IDX set's images (MNIST's without --data), as torchvision's
Resize does: a LeNet-5 trained on Resize(32) digits is measured with
--prep resize; where the model declares no padding, the images fill its
input. --labels FILE
names the classes, one a line. The data must have as many classes as the
model scores; class k of the data is output k. A model that names its
classes (lenetkit train records the names it trained on), or --labels FILE
naming every class folder among its names, takes a folder's class folders
by name instead: a folder of a few of its classes, in any order, is
measured on those. With --data, MODEL may be
any ONNX classifier of grey images, of any number of classes (lenetkit
train --model M.onnx --classes N writes one) and any input size, the
images made to its size before its declared padding (resize for sizes
under 28x28). IDX files named as MNIST's must be MNIST's or
Fashion-MNIST's unless --skip-checksum. Accuracy is also given per class,
a table in text and "per_class" in --format json, and the confusion matrix
and eval.json's misclassified images name the data's classes.

--report DIR writes pictures of the result: DIR/confusion.png, the confusion
matrix as a heat map with its counts; DIR/misclassified.png, the test digits
the model got wrong (most confident first), each with its true label, the
prediction and the prediction's softmax probability; and DIR/eval.json, what
--format json prints, with the confusion matrix and the misclassified images.

Examples:
   lenetkit eval parameter.pth
   lenetkit eval model.onnx --protocol seed
   lenetkit eval model.safetensors --format json --confusion
   lenetkit eval parameter.pth --report runs/1/eval
   lenetkit eval model.onnx --data /usr/share/datasets/fashion-mnist --labels fashion.txt
   lenetkit eval parameter.pth --data digits/ --prep digit
   lenetkit eval lenet5.onnx --prep resize          # trained with Resize(32)
   lenetkit eval emnist.onnx --orient transpose     # trained on torchvision's EMNIST as it comes (transposed)
   lenetkit eval letters.onnx --data emnist-letters/ --first-label 1   # labels 1 to 26, 26 outputs`,
		Flags: []cli.Flag{
			ownDataFlag, prepFlag, labelsFlag, firstLabelFlag, colourFlag, skipChecksumFlag, backendFlag, meanFlag, stdFlag, orientFlag, allowNonFiniteFlag, verboseFlag,
			&cli.StringFlag{Name: "protocol", Value: "full", Usage: "full or seed"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			&cli.BoolFlag{Name: "confusion", Usage: "add the confusion matrix (rows: true digit, columns: prediction)"},
			&cli.StringFlag{Name: "report", Usage: "write confusion.png, misclassified.png and eval.json to this directory"},
		},
		Action: runEval,
	}
}

var (
	verboseFlag      = &cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say how the model file was read: an old opset's nodes in opset 7's forms, nodes sorted into topological order, an NHWC input, fused kernels"}
	dataFlag         = &cli.StringFlag{Name: "data", Usage: "directory with the four MNIST IDX files (default: $LENETKIT_DATA, else the GoMNIST module's copy)"}
	skipChecksumFlag = &cli.BoolFlag{Name: "skip-checksum", Usage: "accept IDX files of no known data set (MNIST and Fashion-MNIST need no flag)"}
	backendFlag      = &cli.StringFlag{Name: "backend", Usage: "lenetkit (lenetkit's kernels: any ONNX image classifier, and the seed's LeNet from its weights in any format; the default), native (the seed's LeNet through its own forward pass) or gorgonia (onnx-go's Gorgonia backend, on an .onnx of the seed's LeNet only, to cross-check)"}
	// DefaultText: urfave/cli would print the zero value, "(default: 0)",
	// beside the real default.
	meanFlag   = &cli.Float64Flag{Name: "mean", Usage: "the mean of the torchvision Normalize the model was trained with, on pixels in [0,1]", DefaultText: "what the model declares, else 0, with a note"}
	stdFlag    = &cli.Float64Flag{Name: "std", Usage: "the std of the torchvision Normalize the model was trained with", DefaultText: "what the model declares, else 1, with a note"}
	orientFlag = &cli.StringFlag{Name: "orient", Usage: "turn each upright image into the one the model was trained on: transpose (EMNIST as torchvision " +
		"gives it, stored transposed), mirror (left-right), flip (upside down), or several in order, separated by commas; none for no turn", DefaultText: "what the model declares, else none"}
)

type evalResult struct {
	Model    string  `json:"model"`
	Format   string  `json:"format"`
	Backend  string  `json:"backend"`
	Protocol string  `json:"protocol"`
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	Images   int     `json:"images"`
	Correct  int     `json:"correct"`
	Seconds  float64 `json:"seconds"`
	// Confusion counts images by true class (row) and prediction
	// (column), with --confusion.
	Confusion [][]int `json:"confusion,omitempty"`
	// BatchesTracked is BatchNorm's num_batches_tracked, where the file has it.
	BatchesTracked        *int64 `json:"num_batches_tracked"`
	BatchesTrackedMeaning string `json:"num_batches_tracked_meaning,omitempty"`
	// PreprocessAssumed is the normalisation that neither the model nor
	// the command line gave (see assumedPreprocess).
	PreprocessAssumed string `json:"preprocess_assumed,omitempty"`
	// Data says what was measured when --data named it, and Classes its
	// class names, the rows and columns of Confusion.
	Data    string   `json:"data,omitempty"`
	Classes []string `json:"classes,omitempty"`
	// PerClass is the accuracy on each class of the data.
	PerClass []classAccuracy `json:"per_class"`
}

// classAccuracy is a model's figures on the images of one class.
type classAccuracy struct {
	Class    string  `json:"class"`
	Images   int     `json:"images"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"` // percent; null for a class with no image
}

func runEval(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("eval takes one MODEL file, got %s (see lenetkit eval --help)", nouns(c.NArg(), "argument"))
	}
	protocol, format := c.String("protocol"), c.String("format")
	if protocol != "full" && protocol != "seed" {
		return usageError("--protocol %q: want full or seed", protocol)
	}
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	reportDir := c.String("report")
	if reportDir != "" {
		// Fail before the evaluation, not after it.
		if err := os.MkdirAll(reportDir, 0o755); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	m, ownData, err := openMeasured(c)
	if err != nil {
		return err
	}
	assumed := assumedPreprocess(c, m)
	notePreprocess(c, m, assumed)
	test, err := evalData(c, m, ownData)
	if err != nil {
		return err
	}
	all := make([]int, test.n)
	for i := range all {
		all[i] = i
	}
	start := time.Now()
	// The seed protocol's batches are part of its arithmetic; the full
	// protocol's batch size only sets the speed.
	prog := newCountProgress(statusOut(c), len(all), "eval")
	met, err := mnist.EvaluateClasses(counted{test.model, prog}, test.images, all, mnist.EvalOptions{Classes: len(test.classes), Size: test.size,
		Batch: mnist.EvalBatch, SeedProtocol: protocol == "seed", Mistakes: reportDir != ""})
	prog.finish()
	if err != nil {
		return err
	}
	r := evalResult{Model: m.Path, Format: m.Format, Backend: m.Backend, Protocol: protocol,
		Accuracy: met.Accuracy, Loss: met.Loss, Images: met.Images, Correct: met.Correct, Seconds: time.Since(start).Seconds(),
		PreprocessAssumed: assumed, PerClass: perClass(met.Confusion, test.classes)}
	data := test.data
	if data != nil {
		r.Data, r.Classes = data.String(), test.classes
	}
	if c.Bool("confusion") {
		r.Confusion = met.Confusion
	}
	// How many train-mode batches the BatchNorm statistics saw explains
	// much of a model's figures (see lenetkit train --help, --recipe).
	if info, err := modelfile.InspectWith(m.Path, readOptions(c)); err == nil && info.BatchesTracked != nil {
		r.BatchesTracked = info.BatchesTracked
		r.BatchesTrackedMeaning = train.ExplainBatchesTracked(*info.BatchesTracked)
	}
	if reportDir != "" {
		written, err := writeEvalReport(c, reportDir, r, met, test)
		if err != nil {
			return err
		}
		fmt.Fprintf(statusOut(c), "Report: %s\n", strings.Join(written, ", "))
	}
	w := c.App.Writer
	if format == "json" {
		return printJSON(w, r)
	}
	fmt.Fprintf(w, "Model: %s (%s, %s backend)\n", r.Model, r.Format, r.Backend)
	if r.Data != "" {
		fmt.Fprintf(w, "Data: %s\n", printable(r.Data))
	}
	fmt.Fprintf(w, "Images: %d (protocol %s)\n", r.Images, r.Protocol)
	fmt.Fprintf(w, "Accuracy: %.2f%%\n", r.Accuracy)
	fmt.Fprintf(w, "Average Loss: %.4f\n", r.Loss)
	if data == nil || data.Name == "MNIST" {
		fmt.Fprintf(w, "Seed reported: Accuracy: 99.16%%, Average Loss: 0.0253\n")
	}
	if r.BatchesTracked != nil {
		fmt.Fprintf(w, "num_batches_tracked %d: %s\n", *r.BatchesTracked, r.BatchesTrackedMeaning)
	}
	if r.Confusion != nil && data != nil {
		printConfusion(w, r.Confusion, test.classes)
	} else if r.Confusion != nil {
		fmt.Fprintf(w, "\nConfusion (rows: true digit, columns: predicted)\n     ")
		for p := range len(r.Confusion) {
			fmt.Fprintf(w, "%6d", p)
		}
		fmt.Fprintln(w)
		for t, row := range r.Confusion {
			fmt.Fprintf(w, "%4d ", t)
			for _, v := range row {
				fmt.Fprintf(w, "%6d", v)
			}
			fmt.Fprintln(w)
		}
	}
	printPerClass(w, r.PerClass)
	return nil
}

// openMeasured opens MODEL for a command that measures it on data, eval's
// and quantize's, and says whether the data is to be read as a person's
// own (ownData: --data, or MNIST resized): a digit classifier of its own
// input size (trained on resized digits) is measured on MNIST so, made to
// its size, or refused saying how.
func openMeasured(c *cli.Context) (m *infer.Model, ownData bool, err error) {
	ownData = c.IsSet("data") || prepResizes(c)
	m, err = openModel(c, ownData)
	if err != nil && !ownData {
		if other, oerr := openModel(c, true); oerr == nil && other.Classes == mnist.Classes {
			m, err, ownData = other, nil, true
		}
	}
	if err != nil {
		return nil, false, err
	}
	return m, ownData || prepResizes(c), nil // prepResizes: the model's own --prep resize
}

// openModel opens the command's MODEL argument with its --backend, --mean
// and --std. ownData admits what a person's own data may need (--data
// without PATHs): a graph of any number of classes, and of any grey input
// size, its images made to that size.
func openModel(c *cli.Context, ownData bool) (*infer.Model, error) {
	m, err := infer.OpenClassifier(c.Args().First(), c.String("backend"),
		infer.OpenOptions{ReadOptions: readOptions(c), AnyClasses: ownData, AnyInput: ownData, AnyChannels: ownData && c.Bool("colour")})
	if err != nil {
		return nil, classesHint(err)
	}
	if c.IsSet("mean") {
		m.Preprocess.Mean = float32(c.Float64("mean"))
	}
	if c.IsSet("std") {
		m.Preprocess.Std = float32(c.Float64("std"))
	}
	if err := m.Preprocess.Check(); err != nil && (c.IsSet("mean") || c.IsSet("std")) {
		return nil, usageError("--mean/--std: %v", err)
	}
	if err := setOrient(c, &m.Preprocess, m.Input.Height, m.Input.Width); err != nil {
		return nil, err
	}

	if err := declaredPrep(c, m.Path, m.Preprocess.Resize); err != nil {
		return nil, err
	}
	if c.Bool("colour") && (m.Input.Channels != dataset.Colour || !prepResizes(c)) {
		return nil, usageError("--colour makes each picture a model's whole input in red, green and blue: it needs --prep resize and a model of %d channels; %s takes %d",
			dataset.Colour, m.Path, m.Input.Channels)
	}
	if padGivesWay(c, m.PreprocessFrom != infer.PreprocessAssumed) {
		m.Preprocess.Pad = 0
	}
	if c.Bool("verbose") {
		for _, n := range m.Notes {
			fmt.Fprintf(c.App.ErrWriter, "note: %s: %s\n", m.Path, n)
		}
	}
	return m, nil
}

// setOrient sets pp's orientation from --orient, when given, checked
// against the model's h x w input.
func setOrient(c *cli.Context, pp *infer.Preprocessing, h, w int) error {
	if !c.IsSet("orient") {
		return nil
	}
	o, err := dataset.ParseOrientation(c.String("orient"))
	if err != nil {
		return usageError("--orient %q: want transpose, mirror or flip, several separated by commas, or none", c.String("orient"))
	}
	if !o.Fits(h, w) {
		return usageError("--orient %s: the model's %dx%d images are not square; a transpose needs a square", o, h, w)
	}
	pp.Orient = o.String()
	return nil
}

// assumedPreprocess says what of the model's input normalisation is
// assumed, "mean 0, std 1 on pixels in [0,1]" (for an input of other than
// MNIST's sizes the padding first, "16x16 images padded by 0, ..."), or ""
// when the model declares it or --mean and --std give it. A graph trained with Normalize
// but run without it loses accuracy without failing (cnn28.onnx: 98.22 %
// with --mean 0.5 --std 0.5, 89.00 % without), so the assumption is said.
func assumedPreprocess(c *cli.Context, m *infer.Model) string {
	if m.PreprocessFrom != infer.PreprocessAssumed {
		return ""
	}
	var parts []string
	if !c.IsSet("mean") {
		parts = append(parts, "mean 0")
	}
	if !c.IsSet("std") {
		parts = append(parts, "std 1")
	}
	// An input of other than MNIST's sizes (--data) has its padding
	// assumed too: as lenetkit train assumes it; and so has a 32x32 one,
	// which may have been trained on digits resized rather than padded.
	var pad string
	if g := m.Input; g.Height != g.Width || g.Height != mnist.Side-2*mnist.Pad {
		h, w := modelImage(m)
		pad = fmt.Sprintf("%dx%d images padded by %d", h, w, m.Preprocess.Pad)
	}
	switch {
	case len(parts) == 0:
		return pad
	case pad != "":
		pad += ", "
	}
	return pad + strings.Join(parts, ", ") + " on pixels in [0,1]"
}

// greyNote says that a model of copies input channels gets each grey
// image as that many equal ones, colour pictures made grey first: a model
// trained on colour sees none.
func greyNote(path string, copies int) string {
	return fmt.Sprintf("note: %s takes %d channels: lenetkit's images are grey (a colour picture is made grey), each going in as %[2]d equal channels, as torchvision's Grayscale(num_output_channels=%[2]d) makes them", path, copies)
}

// notePreprocess says once, on the status output, that a colour model
// gets grey images as equal channels, and what assumedPreprocess found and
// how to change it.
func notePreprocess(c *cli.Context, m *infer.Model, assumed string) {
	if m.Copies() > 1 && !c.Bool("verbose") { // -v said it among the model's notes
		fmt.Fprintln(statusOut(c), greyNote(printable(m.Path), m.Copies()))
	}
	if assumed == "" {
		return
	}
	resize := ""
	if m.Preprocess.Pad > 0 {
		resize = fmt.Sprintf("; if on images resized to %dx%d (torchvision's Resize), give --prep resize", m.Input.Height, m.Input.Width)
	}
	fmt.Fprintf(statusOut(c), "note: %s declares no preprocessing (no %q metadata entry); assuming %s; "+
		"if it was trained with Normalize(m, s), give --mean m --std s%s\n", printable(m.Path), onnx.MetaPreprocess, assumed, resize)
}

// evalReport is eval.json: what --format json prints, always with the
// confusion matrix, and the images the model got wrong.
type evalReport struct {
	evalResult
	Misclassified []evalMistake `json:"misclassified"`
}

// evalMistake is an image the model got wrong, as eval.json lists it: with
// --data also its class names and the file (or IDX file and index) it came
// from.
type evalMistake struct {
	mnist.Mistake
	Class     string `json:"class,omitempty"`
	Predicted string `json:"predicted,omitempty"`
	File      string `json:"file,omitempty"`
}

// maxDrawnClasses is the most classes whose confusion matrix --report
// draws, every count written in its cell; eval.json has any.
const maxDrawnClasses = 100

// writeEvalReport writes eval --report's three files into dir and returns
// their paths.
func writeEvalReport(c *cli.Context, dir string, r evalResult, met mnist.ClassMetrics, set *evalSet) ([]string, error) {
	model := filepath.Base(r.Model)
	var confusion []byte
	var err error
	if len(met.Confusion) <= maxDrawnClasses {
		confusion, err = report.Confusion(met.Confusion, fmt.Sprintf("Confusion matrix of %s\n%d test images (protocol %s), accuracy %.2f %%",
			model, r.Images, r.Protocol, r.Accuracy))
		if err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(statusOut(c), "note: --report: confusion.png left out: %d classes are more than a picture shows (%d at most); eval.json has the matrix\n",
			len(met.Confusion), maxDrawnClasses)
	}
	// The most confident mistakes first: the surprising ones.
	mistakes := slices.Clone(met.Mistakes)
	slices.SortStableFunc(mistakes, func(a, b mnist.Mistake) int { return cmp.Compare(b.Confidence, a.Confidence) })
	digits := make([]report.Digit, len(mistakes))
	for i, e := range mistakes {
		digits[i] = report.Digit{Index: e.Index, Label: e.Label, Prediction: e.Prediction, Confidence: e.Confidence, Image: set.picture(e.Index)}
	}
	grid, err := report.Misclassified(digits, fmt.Sprintf("%s: %d of %d test images misclassified, most confident first", model, len(digits), r.Images))
	if err != nil {
		return nil, err
	}
	rep := evalReport{evalResult: r, Misclassified: make([]evalMistake, len(met.Mistakes))} // [] rather than null: none
	for i, e := range met.Mistakes {
		rep.Misclassified[i].Mistake = e
		if set.data != nil {
			rep.Misclassified[i].Class, rep.Misclassified[i].Predicted = set.classes[e.Label], set.classes[e.Prediction]
		}
		if set.origin != nil {
			rep.Misclassified[i].File = set.origin(e.Index)
		}
	}
	rep.Confusion = met.Confusion
	var js bytes.Buffer
	if err := printJSON(&js, rep); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range []struct {
		name string
		b    []byte
	}{{"confusion.png", confusion}, {"misclassified.png", grid}, {"eval.json", js.Bytes()}} {
		if f.b == nil {
			continue
		}
		path := filepath.Join(dir, f.name)
		err := atomicfile.Write(path, func(w io.Writer) error {
			_, err := w.Write(f.b)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("--report: write %s: %w", path, err)
		}
		written = append(written, path)
	}
	return written, nil
}
