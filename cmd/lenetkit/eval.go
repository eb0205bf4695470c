package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/train"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "measure a model on the 10,000 MNIST test images against the seed's 99.16 % / 0.0253",
		ArgsUsage: "MODEL",
		Description: `Reports accuracy and mean cross-entropy in the seed's format. MODEL is a .pth,
.pt, .safetensors or .onnx file of the seed's LeNet.

--protocol full (default) uses all 10,000 images and the mean loss over images.
--protocol seed reproduces the notebook: batches of 128, the last partial batch
dropped (9,984 images), the loss averaged over batch means.

Examples:
   lenetkit eval parameter.pth
   lenetkit eval model.onnx --protocol seed
   lenetkit eval model.safetensors --format json --confusion`,
		Flags: []cli.Flag{
			dataFlag, skipChecksumFlag, backendFlag, meanFlag, stdFlag,
			&cli.StringFlag{Name: "protocol", Value: "full", Usage: "full or seed"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			&cli.BoolFlag{Name: "confusion", Usage: "add the confusion matrix (rows: true digit, columns: prediction)"},
		},
		Action: runEval,
	}
}

var (
	dataFlag         = &cli.StringFlag{Name: "data", Usage: "directory with the four MNIST IDX files (default: $LENETKIT_DATA, else the GoMNIST module's copy)"}
	skipChecksumFlag = &cli.BoolFlag{Name: "skip-checksum", Usage: "accept IDX files that are not the original MNIST (e.g. Fashion-MNIST)"}
	backendFlag      = &cli.StringFlag{Name: "backend", Usage: "lenetkit (any ONNX image classifier, lenetkit's kernels; the default for .onnx), native (the seed's LeNet from its weights, any format; the default otherwise) or gorgonia (onnx-go's Gorgonia backend, to cross-check)"}
	meanFlag         = &cli.Float64Flag{Name: "mean", Usage: "torchvision Normalize mean of the model's input (default: what the model declares, else 0)"}
	stdFlag          = &cli.Float64Flag{Name: "std", Usage: "torchvision Normalize std of the model's input (default: what the model declares, else 1)"}
)

type evalResult struct {
	Model     string                             `json:"model"`
	Format    string                             `json:"format"`
	Backend   string                             `json:"backend"`
	Protocol  string                             `json:"protocol"`
	Accuracy  float64                            `json:"accuracy"`
	Loss      float64                            `json:"loss"`
	Images    int                                `json:"images"`
	Correct   int                                `json:"correct"`
	Seconds   float64                            `json:"seconds"`
	Confusion *[lenet.Classes][lenet.Classes]int `json:"confusion,omitempty"`
	// BatchesTracked is BatchNorm's num_batches_tracked, where the file has it.
	BatchesTracked        *int64 `json:"num_batches_tracked"`
	BatchesTrackedMeaning string `json:"num_batches_tracked_meaning,omitempty"`
}

func runEval(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("eval takes one MODEL file, got %d arguments (see lenetkit eval --help)", c.NArg())
	}
	protocol, format := c.String("protocol"), c.String("format")
	if protocol != "full" && protocol != "seed" {
		return usageError("--protocol %q: want full or seed", protocol)
	}
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	m, err := openModel(c)
	if err != nil {
		return err
	}
	src, err := mnist.Locate(c.Context, c.String("data"))
	if err != nil {
		return err
	}
	test, err := mnist.Load(src.Dir, "test", mnist.Options{SkipChecksum: c.Bool("skip-checksum")})
	if err != nil {
		return err
	}
	all := make([]int, test.N)
	for i := range all {
		all[i] = i
	}
	start := time.Now()
	// The seed protocol's batches are part of its arithmetic; the full
	// protocol's batch size only sets the speed.
	prog := newCountProgress(statusOut(c), len(all), "eval")
	met, err := mnist.Evaluate(counted{m, prog}, test, all, 128, protocol == "seed")
	prog.finish()
	if err != nil {
		return err
	}
	r := evalResult{Model: m.Path, Format: m.Format, Backend: m.Backend, Protocol: protocol,
		Accuracy: met.Accuracy, Loss: met.Loss, Images: met.Images, Correct: met.Correct, Seconds: time.Since(start).Seconds()}
	if c.Bool("confusion") {
		r.Confusion = &met.Confusion
	}
	// How many train-mode batches the BatchNorm statistics saw explains
	// much of a model's figures (see lenetkit train --help, --recipe).
	if info, err := modelfile.Inspect(m.Path); err == nil && info.BatchesTracked != nil {
		r.BatchesTracked = info.BatchesTracked
		r.BatchesTrackedMeaning = train.ExplainBatchesTracked(*info.BatchesTracked)
	}
	w := c.App.Writer
	if format == "json" {
		return printJSON(w, r)
	}
	fmt.Fprintf(w, "Model: %s (%s, %s backend)\n", r.Model, r.Format, r.Backend)
	fmt.Fprintf(w, "Images: %d (protocol %s)\n", r.Images, r.Protocol)
	fmt.Fprintf(w, "Accuracy: %.2f%%\n", r.Accuracy)
	fmt.Fprintf(w, "Average Loss: %.4f\n", r.Loss)
	fmt.Fprintf(w, "Seed reported: Accuracy: 99.16%%, Average Loss: 0.0253\n")
	if r.BatchesTracked != nil {
		fmt.Fprintf(w, "num_batches_tracked %d: %s\n", *r.BatchesTracked, r.BatchesTrackedMeaning)
	}
	if r.Confusion != nil {
		fmt.Fprintf(w, "\nConfusion (rows: true digit, columns: predicted)\n     ")
		for p := 0; p < lenet.Classes; p++ {
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
	return nil
}

// openModel opens the command's MODEL argument with its --backend, --mean
// and --std.
func openModel(c *cli.Context) (*infer.Model, error) {
	m, err := infer.Open(c.Args().First(), c.String("backend"))
	if err != nil {
		return nil, err
	}
	if c.IsSet("mean") {
		m.Preprocess.Mean = float32(c.Float64("mean"))
	}
	if c.IsSet("std") {
		if c.Float64("std") <= 0 {
			return nil, fmt.Errorf("--std %g: must be positive", c.Float64("std"))
		}
		m.Preprocess.Std = float32(c.Float64("std"))
	}
	return m, nil
}
