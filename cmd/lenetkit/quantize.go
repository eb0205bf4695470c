package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/cpu"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
	"github.com/lenetkit/lenetkit/quantize"
)

func quantizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "quantize",
		Usage:     "make a model int8: static quantization to the QDQ form ONNX Runtime runs, calibrated on images",
		ArgsUsage: "IN OUT.onnx",
		Description: `Writes OUT.onnx, IN quantized as ONNX Runtime's quantize_static writes it in
QDQ form: int8 weights (symmetric, per output channel unless --per-tensor;
in 7 bits with --reduce-range, which ONNX Runtime needs to be exact on CPUs
without VNNI), uint8 activations (asymmetric; --activations int8), int32
biases, each activation between a QuantizeLinear and a DequantizeLinear, a
Relu folded into the range of the node before it. IN is any model lenetkit
reads: .pth, .safetensors (quantized in the ONNX form lenetkit convert
writes) or .onnx.

Calibration runs the float model on the first --n images of the training
part of --calibrate DIR (MNIST by default; of an image folder, whose files
come class by class, --n spread evenly over it), lenetkit's backend recording
every activation, and turns each activation's values into its range as
ONNX Runtime's calibrators do (--method):
   minmax      the values' min and max
   percentile  the --percentile (99.999) percentile of |x| over a histogram
               of --bins (2048) bins, symmetric, cut to [min, max]
   entropy     the threshold of least KL divergence between the histogram
               (--bins, 128) and it merged into --quantized-bins (128) bins,
               cut to [min, max]; at ONNX Runtime's defaults the whole
               histogram is the only candidate, which is minmax's range:
               give --bins 2048 for a choice

The images are prepared as eval prepares them for IN: its declared
normalisation, or --mean and --std for a model that declares none (written
into OUT's metadata, so that OUT declares it); a colour model of digits
gets each grey image as 3 equal channels.

Then it measures IN and OUT on the test images (the protocol as eval's:
--protocol full, all of them; seed, the notebook's 78 batches of 128) and
prints both, with the file sizes (IN's ONNX form's bytes). OUT is written
only when everything succeeded. lenetkit eval, infer and serve run OUT;
ONNX Runtime does too.

Examples:
   lenetkit quantize parameter.pth parameter-int8.onnx
   lenetkit quantize model.onnx model-int8.onnx --method percentile --protocol seed
   lenetkit quantize parameter.pth int8-tensor.onnx --per-tensor --n 1000 --format json
   lenetkit quantize parameter.pth int8-7bit.onnx --reduce-range     # for ONNX Runtime on CPUs without VNNI
   lenetkit quantize model.onnx model-int8.onnx --method entropy --bins 2048
   lenetkit quantize fashion.onnx fashion-int8.onnx --calibrate /usr/share/datasets/fashion-mnist
   lenetkit quantize cnn28.onnx cnn28-int8.onnx --mean 0.5 --std 0.5   # a model trained with Normalize(0.5, 0.5) that declares none`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "calibrate", Aliases: []string{"data"}, Usage: "`DIR` of the calibration and test images, as train --data takes it: IDX files or one subfolder of images per class",
				DefaultText: "the MNIST of $LENETKIT_DATA, else the GoMNIST module's copy"},
			&cli.IntFlag{Name: "n", Value: 256, Usage: "calibrate on the first `N` images of the data's training part"},
			&cli.StringFlag{Name: "method", Value: "minmax", Usage: "calibration: minmax, percentile or entropy (ONNX Runtime's calibrators)"},
			&cli.Float64Flag{Name: "percentile", Value: quantize.DefaultPercentile, Usage: "percentile's cut, in (0, 100]"},
			&cli.IntFlag{Name: "bins", Usage: "histogram bins of percentile and entropy", DefaultText: "2048 for percentile, 128 for entropy, as ONNX Runtime"},
			&cli.IntFlag{Name: "quantized-bins", Value: quantize.DefaultEntropyQuantized, Usage: "entropy's quantized bins"},
			&cli.BoolFlag{Name: "per-tensor", Usage: "one scale per weight tensor instead of one per output channel"},
			&cli.BoolFlag{Name: "reduce-range", Usage: "7-bit weights, [-64, 64], as ONNX Runtime's reduce_range: exact in ONNX Runtime on CPUs without VNNI, where its uint8 x int8 sums saturate"},
			&cli.StringFlag{Name: "activations", Value: "uint8", Usage: "uint8 or int8 activations, asymmetric"},
			&cli.StringFlag{Name: "protocol", Value: "full", Usage: "the test images' protocol, as eval's: full or seed"},
			prepFlag, labelsFlag, firstLabelFlag, colourFlag, skipChecksumFlag, meanFlag, stdFlag, orientFlag, allowNonFiniteFlag,
			&cli.BoolFlag{Name: "force", Usage: "overwrite OUT if it exists"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
		},
		Action: runQuantize,
	}
}

// quantizeFigures are a model's figures on the test images.
type quantizeFigures struct {
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	Correct  int     `json:"correct"`
}

type quantizeResult struct {
	Model string `json:"model"`
	// Format is IN's format; InBytes the size of its ONNX form (the file
	// itself for .onnx, what lenetkit convert writes otherwise).
	Format        string  `json:"format"`
	Out           string  `json:"out"`
	Method        string  `json:"method"`
	Percentile    float64 `json:"percentile,omitempty"`
	Bins          int     `json:"bins,omitempty"`
	QuantizedBins int     `json:"quantized_bins,omitempty"`
	Weights       string  `json:"weights"`      // "per channel" or "per tensor"
	ReduceRange   bool    `json:"reduce_range"` // weights in 7 bits
	Activations   string  `json:"activations"`  // "uint8" or "int8"
	// Calibration says which images calibrated: Images of the data's
	// training part, from its first.
	Calibration string          `json:"calibration"`
	Images      int             `json:"images"`
	Data        string          `json:"data"`
	Protocol    string          `json:"protocol"`
	TestImages  int             `json:"test_images"`
	Before      quantizeFigures `json:"before"`
	After       quantizeFigures `json:"after"`
	InBytes     int64           `json:"in_onnx_bytes"`
	OutBytes    int64           `json:"out_bytes"`
	// Quantized is what the rewrite quantized, with every activation's
	// range, scale and zero point.
	Quantized *quantize.Summary `json:"quantized"`
	Seconds   float64           `json:"seconds"`
}

// lossNote is the fall in accuracy, in points, past which quantize says
// to calibrate otherwise: the seed's goal is 0.1, a good calibration
// stays within a point.
const lossNote = 2

// otherCalibration names the calibrations to try after method lost
// accuracy.
func otherCalibration(method quantize.Method, perTensor bool) string {
	var tries []string
	switch method {
	case quantize.Entropy:
		tries = append(tries, "--method minmax", "--method percentile")
	case quantize.Percentile:
		tries = append(tries, "--method minmax", "a higher --percentile")
	default:
		tries = append(tries, "--method percentile", "more calibration images (--n)")
	}
	if perTensor {
		tries = append(tries, "per-channel weights (without --per-tensor)")
	}
	return strings.Join(tries, ", or ")
}

func runQuantize(c *cli.Context) error {
	start := time.Now()
	if c.NArg() != 2 {
		return usageError("quantize takes IN and OUT.onnx, got %s (see lenetkit quantize --help)", nouns(c.NArg(), "argument"))
	}
	in, out := c.Args().Get(0), c.Args().Get(1)
	format, protocol := c.String("format"), c.String("protocol")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	if protocol != "full" && protocol != "seed" {
		return usageError("--protocol %q: want full or seed", protocol)
	}
	method, err := quantize.ParseMethod(c.String("method"))
	if err != nil {
		return usageError("--method %q: want %s", c.String("method"), strings.Join(quantize.Methods, ", "))
	}
	n := c.Int("n")
	if n < 1 {
		return usageError("--n %d: calibration needs 1 image or more (ONNX Runtime's users take a few hundred; the default is 256)", n)
	}
	cal := quantize.Calibration{Method: method, Percentile: c.Float64("percentile"), Bins: c.Int("bins"), QuantizedBins: c.Int("quantized-bins")}
	switch {
	case !(cal.Percentile > 0 && cal.Percentile <= 100):
		return usageError("--percentile %g: want a number in (0, 100]", cal.Percentile)
	case c.IsSet("bins") && cal.Bins < 1:
		return usageError("--bins %d: want 1 or more", cal.Bins)
	case cal.QuantizedBins < 2:
		return usageError("--quantized-bins %d: want 2 or more", cal.QuantizedBins)
	case method == quantize.Entropy && c.IsSet("bins") && cal.Bins < cal.QuantizedBins:
		return usageError("--bins %d: entropy needs at least --quantized-bins (%d)", cal.Bins, cal.QuantizedBins)
	}
	opt := quantize.Options{PerTensor: c.Bool("per-tensor"), ReduceRange: c.Bool("reduce-range")}
	switch a := c.String("activations"); a {
	case "uint8":
		opt.Activations = onnx.Uint8
	case "int8":
		opt.Activations = onnx.Int8
	default:
		return usageError("--activations %q: want uint8 or int8", a)
	}
	if !strings.EqualFold(filepath.Ext(out), ".onnx") {
		return usageError("OUT %s: quantize writes an ONNX file; name it .onnx", out)
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory, which a file cannot replace, --force or not: name the file to write (%s)", out, filepath.Join(out, "model-int8.onnx"))
	} else if err == nil && !c.Bool("force") {
		return fmt.Errorf("%s exists; --force overwrites it", out)
	}
	if err := atomicfile.CheckFile(out); err != nil {
		return err
	}

	float, inFormat, inBytes, err := floatGraph(c, in)
	if err != nil {
		return err
	}
	if n, err = fixedBatchImages(c, float, n); err != nil {
		return err
	}
	m, ownData, err := openMeasured(c)
	if err != nil {
		return err
	}
	// Calibration on images prepared wrong quantizes for them: said, as
	// eval says it.
	notePreprocess(c, m, assumedPreprocess(c, m))
	test, err := evalData(c, m, ownData)
	if err != nil {
		return err
	}
	images, what, err := calibrationImages(c, m, n, channelsLast(float))
	if err != nil {
		return err
	}
	plan, err := quantize.NewPlan(float, opt)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	status := statusOut(c)
	// The first Ctrl-C stops at the next batch: OUT is not written.
	ctx, stop := stopContext(c.Context, status, "without writing "+out)
	defer stop()
	stopped := func() error {
		if ctx.Err() != nil {
			return cli.Exit(fmt.Sprintf("stopped by signal; %s not written", out), 130)
		}
		return nil
	}
	passes := 1
	if method != quantize.MinMax {
		passes = 2
	}
	fmt.Fprintf(status, "calibrating %s on %s (%s)\n", nouns(len(plan.Tensors()), "tensor"), what, method)
	prog := newCountProgress(status, passes*n, "calibrate")
	done := 0
	ranges, err := quantize.Calibrate(ctx, float, plan.Tensors(), images, cal, func(d, _ int) { prog.add(d - done); done = d })
	prog.finish()
	if err := stopped(); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	q, sum, err := plan.Apply(ranges)
	if err != nil {
		return err
	}
	if resize := prepResize(c); c.IsSet("mean") || c.IsSet("std") || c.IsSet("orient") || resize != m.Preprocess.Resize {
		// The normalisation given, the resizing and the orientation are OUT's own:
		// eval, infer and serve read them from the file.
		m.Preprocess.Resize = resize
		pp, err := json.Marshal(m.Preprocess)
		if err != nil {
			return err
		}
		q.Metadata[onnx.MetaPreprocess] = string(pp)
	}
	r := quantizeResult{Model: in, Format: inFormat, Out: out, Method: method.String(), Weights: "per channel", Activations: c.String("activations"),
		Calibration: what, Images: n, Protocol: protocol, InBytes: inBytes, Quantized: sum}
	if opt.PerTensor {
		r.Weights = "per tensor"
	}
	r.ReduceRange = opt.ReduceRange
	switch method {
	case quantize.Percentile:
		r.Percentile, r.Bins = cal.Percentile, quantize.DefaultPercentileBins
	case quantize.Entropy:
		r.Bins, r.QuantizedBins = quantize.DefaultEntropyBins, cal.QuantizedBins
	}
	if c.IsSet("bins") && method != quantize.MinMax {
		r.Bins = cal.Bins
	}
	r.Data = "MNIST"
	if test.data != nil {
		r.Data = test.data.String()
	}
	meta, err := json.Marshal(struct {
		Tool          string  `json:"tool"`
		Method        string  `json:"method"`
		Percentile    float64 `json:"percentile,omitempty"`
		Bins          int     `json:"bins,omitempty"`
		QuantizedBins int     `json:"quantized_bins,omitempty"`
		Calibration   string  `json:"calibration"`
		Images        int     `json:"images"`
		Weights       string  `json:"weights"`
		ReduceRange   bool    `json:"reduce_range,omitempty"`
		Activations   string  `json:"activations"`
	}{"lenetkit quantize", r.Method, r.Percentile, r.Bins, r.QuantizedBins, what, n, r.Weights, r.ReduceRange, r.Activations})
	if err != nil {
		return err
	}
	q.Metadata[metaQuantization] = string(meta)
	if sha, ok := q.Metadata[onnx.MetaSourceSHA256]; ok {
		delete(q.Metadata, onnx.MetaSourceSHA256)
		q.Metadata["float_source_sha256"] = sha
	}
	q.Producer = onnx.Producer + " " + version
	proto, err := onnx.Encode(q)
	if err != nil {
		return err
	}
	b, err := onnx.Marshal(proto)
	if err != nil {
		return err
	}
	r.OutBytes = int64(len(b))

	all := make([]int, test.n)
	for i := range all {
		all[i] = i
	}
	evalOpt := mnist.EvalOptions{Classes: len(test.classes), Size: test.size, Batch: mnist.EvalBatch, SeedProtocol: protocol == "seed"}
	evaluate := func(model mnist.Classifier, what string) (quantizeFigures, int, error) {
		prog := newCountProgress(status, len(all), what)
		met, err := mnist.EvaluateClasses(counted{model, prog}, test.images, all, evalOpt)
		prog.finish()
		return quantizeFigures{Accuracy: met.Accuracy, Loss: met.Loss, Correct: met.Correct}, met.Images, err
	}
	if r.Before, r.TestImages, err = evaluate(test.model, "float"); err != nil {
		return err
	}
	if err := stopped(); err != nil {
		return err
	}
	// OUT is measured where it is written, before it is put in place: a
	// file that does not run is never left at OUT.
	err = atomicfile.Publish(out, c.Bool("force"), func(tmp string) error {
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		qm, err := infer.OpenClassifier(tmp, infer.Kernels, infer.OpenOptions{ReadOptions: readOptions(c), AnyClasses: ownData, AnyInput: ownData})
		if err != nil {
			return fmt.Errorf("the quantized model does not run: %w", err)
		}
		var model mnist.Classifier = qm
		if test.data != nil {
			model = qm.AtInputSize()
		}
		if r.After, _, err = evaluate(model, "int8"); err != nil {
			return err
		}
		return stopped()
	})
	if errors.Is(err, atomicfile.ErrExist) {
		return fmt.Errorf("%s exists; --force overwrites it", out)
	}
	var exit cli.ExitCoder
	if errors.As(err, &exit) {
		return exit // stopped: the one line, exit 130
	}
	if err != nil {
		return err
	}
	r.Seconds = time.Since(start).Seconds()
	if lost := r.Before.Accuracy - r.After.Accuracy; lost > lossNote {
		// Written all the same: the figures are what the person asked
		// for, and the next try is theirs to choose.
		fmt.Fprintf(status, "note: the int8 model lost %.2f points of accuracy; its ranges cut what the float model needs: try %s\n", lost, otherCalibration(method, opt.PerTensor))
	}
	if opt.Activations == onnx.Uint8 && !opt.ReduceRange && ortSaturates() {
		fmt.Fprintln(status, "note: ONNX Runtime on this CPU (no VNNI) saturates uint8 x int8 products, so its figures for "+
			printable(out)+" may fall below these exact ones; --reduce-range (7-bit weights) keeps its products exact")
	}
	if format == "json" {
		return printJSON(c.App.Writer, r)
	}
	printQuantize(c.App.Writer, r)
	return nil
}

// metaQuantization is the metadata key of how a model was quantized, as
// JSON: method, images, weights, activations.
const metaQuantization = "quantization"

// floatGraph is IN as the ONNX graph quantize rewrites, its format and
// the bytes of its ONNX form: an .onnx file as the backend reads it, any
// other format exported as lenetkit convert exports it.
func floatGraph(c *cli.Context, in string) (*onnx.Model, string, int64, error) {
	f, err := modelfile.Lookup(in)
	if err != nil {
		return nil, "", 0, err
	}
	if err := modelfile.CheckContent(in, f.Name); err != nil {
		return nil, "", 0, err
	}
	if f.Name == modelfile.ONNX {
		b, err := os.ReadFile(in)
		if err != nil {
			return nil, "", 0, fmt.Errorf("%s: %w", in, unwrapPath(err))
		}
		m, size, err := backend.Load(b, in, filepath.Dir(in), readOptions(c))
		if err != nil {
			return nil, "", 0, err
		}
		return m, f.Name, size, nil
	}
	sum, err := modelfile.SHA256(in)
	if err != nil {
		return nil, "", 0, err
	}
	sd, err := modelfile.ReadWith(in, readOptions(c))
	if err != nil {
		return nil, "", 0, err
	}
	p, err := onnx.FromStateDict(sd, onnx.ExportOptions{ProducerVersion: version, SourceSHA256: sum})
	if err != nil {
		return nil, "", 0, err
	}
	b, err := onnx.Marshal(p)
	if err != nil {
		return nil, "", 0, err
	}
	m, err := onnx.Decode(p)
	if err != nil {
		return nil, "", 0, err
	}
	return m, f.Name, int64(len(b)), nil
}

// calibrationImages are the first n images of the training part of
// --calibrate (MNIST's by default) in the model's input form, and what
// they are, for a person.
func calibrationImages(c *cli.Context, m *infer.Model, n int, last bool) (quantize.Images, string, error) {
	pp := m.Preprocess
	size := m.InputSize()
	orient, _ := dataset.ParseOrientation(pp.Orient) // checked when the model was opened
	spread := func(img images) images {
		img.copies, img.last, img.orient = m.Copies(), last, orient.For(m.Input.Height, m.Input.Width)
		if c.Bool("colour") {
			img.planes = dataset.Colour
		}
		return img
	}
	if !c.IsSet("data") && !prepResizes(c) {
		src, err := mnist.Locate(c.Context, "")
		if err != nil {
			return nil, "", err
		}
		set, err := mnist.Load(src.Dir, "train", mnist.Options{SkipChecksum: c.Bool("skip-checksum")})
		if err != nil {
			return nil, "", err
		}
		if n > set.N {
			return nil, "", usageError("--n %d: the training part has %d images", n, set.N)
		}
		side := m.Input.Height
		crop := (mnist.Side - side) / 2
		padded := make([]float32, mnist.PixelCount)
		fill := func(i int, x []float32) error {
			if err := set.Fill([]int{i}, padded, nil); err != nil {
				return err
			}
			for r := range side {
				for col := range side {
					x[r*side+col] = (padded[(r+crop)*mnist.Side+crop+col] - pp.Mean) / pp.Std
				}
			}
			return nil
		}
		return spread(images{n: n, size: size, fill: fill}), fmt.Sprintf("the first %d MNIST training images", n), nil
	}
	h, w := modelImage(m)
	if err := defaultData(c); err != nil {
		return nil, "", err
	}
	d, err := openData(c, dataset.Options{Height: h, Width: w, Parts: dataset.AllParts, ClassesByNumber: m.Classes == mnist.Classes})
	if err != nil {
		return nil, "", err
	}
	s := d.Train
	part := "training"
	if s == nil {
		return nil, "", fmt.Errorf("--calibrate %s has no training images (%s): calibration takes the training part", d.Path, d)
	}
	// An IDX training part is shuffled already; a folder's images come
	// class by class, so its first n would calibrate on its first classes
	// alone: it gives n spread evenly over all of them.
	at, chosen := func(i int) int { return i }, fmt.Sprintf("the first %d training images of %s", n, d)
	if d.Layout == dataset.LayoutFolder {
		part = "folder's" // a folder has no test part: its images are both
		at, chosen = func(i int) int { return i * s.Len() / n }, fmt.Sprintf("%d images spread evenly over %s", n, d)
	}
	if err := fitsModel(d, s, m.Path, h, w); err != nil {
		return nil, "", err
	}
	if n > s.Len() {
		return nil, "", usageError("--n %d: %s has %d %s images", n, d.Path, s.Len(), part)
	}
	src := setImages{s, pp.Pad}
	fill := func(i int, x []float32) error {
		if err := src.Fill([]int{at(i)}, x, nil); err != nil {
			return err
		}
		for k := range x {
			x[k] = (x[k] - pp.Mean) / pp.Std
		}
		return nil
	}
	return spread(images{n: n, size: size, fill: fill}), chosen, nil
}

// channelsLast reports whether m's input is declared channels-last,
// [batch, H, W, C] of more than one channel, as the calibration's whole
// tensors are then laid out.
func channelsLast(m *onnx.Model) bool {
	if len(m.Graph.Inputs) == 0 {
		return false
	}
	d := m.Graph.Inputs[0].Dims
	return len(d) == 4 && d[3] > 1 && d[3] != d[1]
}

// images are calibration images filled one at a time, size floats of
// grey each; a colour model's (copies channels) each goes in as that many
// equal channels, channels-first or with last channels-last.
type images struct {
	n, size int
	fill    func(i int, x []float32) error
	copies  int
	last    bool
	orient  *dataset.Orienter // the model's Preprocessing.Orient
	planes  int               // a colour set's planes (--colour), 0 for grey
}

func (s images) Len() int { return s.n }

func (s images) Fill(i, n int, x []float32) error {
	full := s.size * max(s.copies, 1)
	for k := range n {
		img := x[k*full : (k+1)*full]
		if err := s.fill(i+k, img[:s.size]); err != nil {
			return err
		}
		s.orient.Planes(img[:s.size], nil)
		if s.copies > 1 {
			dataset.AsChannels(img, img, 1, s.size, s.copies, s.last)
		}
		if s.planes > 1 && s.last {
			dataset.Interleave(img, 1, s.size/s.planes, s.planes)
		}
	}
	return nil
}

func printQuantize(w io.Writer, r quantizeResult) {
	fmt.Fprintf(w, "Model:        %s (%s)\n", r.Model, r.Format)
	method := r.Method
	switch r.Method {
	case "percentile":
		method += fmt.Sprintf(" %g, %d bins", r.Percentile, r.Bins)
	case "entropy":
		method += fmt.Sprintf(", %d bins, %d quantized bins", r.Bins, r.QuantizedBins)
	}
	fmt.Fprintf(w, "Calibration:  %s on %s\n", method, r.Calibration)
	q := r.Quantized
	weights := r.Weights
	if r.ReduceRange {
		weights += " in 7 bits"
	}
	fmt.Fprintf(w, "Quantized:    %d weights int8 %s, %d activations %s, %d biases int32", len(q.Weights), weights, len(q.Activations), r.Activations, q.Biases)
	if len(q.Removed) > 0 {
		fmt.Fprintf(w, "; folded into their ranges: %s", strings.Join(q.Removed, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Test images:  %d (protocol %s)\n", r.TestImages, r.Protocol)
	fmt.Fprintf(w, "              %-10s %-8s %s\n", "ACCURACY", "LOSS", "BYTES")
	fmt.Fprintf(w, "  float       %-10s %-8.4f %d\n", fmt.Sprintf("%.2f%%", r.Before.Accuracy), r.Before.Loss, r.InBytes)
	fmt.Fprintf(w, "  int8        %-10s %-8.4f %d\n", fmt.Sprintf("%.2f%%", r.After.Accuracy), r.After.Loss, r.OutBytes)
	fmt.Fprintf(w, "  change      %-10s %-+8.4f %.1f%% of the float\n", fmt.Sprintf("%+.2f", r.After.Accuracy-r.Before.Accuracy), r.After.Loss-r.Before.Loss,
		100*float64(r.OutBytes)/float64(r.InBytes))
	fmt.Fprintf(w, "Wrote %s (%.0f s)\n", r.Out, r.Seconds)
}

// fixedBatchImages is the calibration's n for a graph whose input fixes
// its batch above 1 (an export without a dynamic axis), which calibration
// runs in batches of exactly that many: the default --n rounded down to
// a multiple of it (at least one batch); a --n given that is none is
// refused.
func fixedBatchImages(c *cli.Context, m *onnx.Model, n int) (int, error) {
	d := fixedBatch(m)
	switch {
	case d <= 1 || n%d == 0:
		return n, nil
	case c.IsSet("n"):
		return n, usageError("--n %d: the model's input takes batches of exactly %d images; give a multiple of %d", n, d, d)
	}
	return max(d, n-n%d), nil
}

// ortSaturates reports whether ONNX Runtime's uint8 x int8 products
// saturate on this CPU: MLAS sums pairs of them in int16 (VPMADDUBSW) on
// x86 CPUs without VNNI.
func ortSaturates() bool {
	return runtime.GOARCH == "amd64" && !cpu.X86.HasAVXVNNI && !(cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW)
}
