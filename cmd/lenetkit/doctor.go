package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
	"github.com/lenetkit/lenetkit/quantize"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "say everything that stops an ONNX file from running, at once",
		ArgsUsage: "MODEL.onnx",
		Description: `Reads an ONNX file as lenetkit's backend would and lists every blocker
together, rather than the first one an eval or infer would stop at: operators
the backend lacks (with how many nodes use each, and their names), the opset
and IR version, data types, symbolic dimensions other than the batch,
external data that cannot be read, training-mode nodes, NaN or infinite
weights. It exits 1 when anything blocks.

For a file that runs it says how lenetkit reads it: the input's layout
(NCHW, or NHWC as Keras and tf2onnx write it) and image size, where the
preprocessing's mean and std come from (the file's metadata, or assumed),
whether a colour model gets each grey image as 3 equal channels, whether
the nodes were out of topological order, whether an opset older than
7 was read in opset 7's forms (broadcast attributes, Reshape's shape
attribute), and which nodes run as one fused kernel.

For a quantized file (QDQ or QOperator) it lists the quantized tensors
with their type, scale and zero point (per channel: the axis, the number
of scales and their range), as lenetkit inspect does.

Examples:
   lenetkit doctor model.onnx
   lenetkit doctor model.onnx --format json
   lenetkit doctor model-int8.onnx`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			allowNonFiniteFlag,
		},
		Action: runDoctor,
	}
}

// doctorResult is the Diagnosis with what package infer adds for a file
// that runs: its preprocessing and where it came from.
type doctorResult struct {
	*backend.Diagnosis
	Preprocess     *infer.Preprocessing `json:"preprocess,omitempty"`
	PreprocessFrom string               `json:"preprocess_from,omitempty"`
	// GreyCopies is, for a colour model, how many equal channels each
	// grey image goes in as.
	GreyCopies int `json:"grey_copies,omitempty"`
	// Quantization lists a quantized file's quantized tensors.
	Quantization *quantize.Quantization `json:"quantization,omitempty"`
}

func runDoctor(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("doctor takes one MODEL.onnx file, got %s (see lenetkit doctor --help)", nouns(c.NArg(), "argument"))
	}
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	path := c.Args().First()
	// A file of another format named .onnx (a torch.save zip) is told as
	// such, as eval tells it, rather than as a protobuf that fails.
	if err := modelfile.CheckContent(path, "onnx"); err != nil {
		return err
	}
	d, err := backend.Diagnose(path, readOptions(c))
	if err != nil {
		return err
	}
	r := doctorResult{Diagnosis: d}
	if m, err := readGraph(path); err == nil {
		r.Quantization = quantize.Describe(m)
	}
	if d.Runs {
		m, err := infer.OpenWith(path, infer.Kernels, readOptions(c))
		// A classifier of other sizes or classes than a digit's (one
		// trained on resized digits, EMNIST's 26 letters) is prepared
		// as eval and infer prepare a person's data for it.
		if err != nil {
			if other, oerr := infer.OpenClassifier(path, infer.Kernels, infer.OpenOptions{ReadOptions: readOptions(c), AnyInput: true, AnyClasses: true}); oerr == nil {
				m, err = other, nil
			}
		}
		if err == nil {
			r.Preprocess = &m.Preprocess
			r.PreprocessFrom = preprocessFrom(m.PreprocessFrom)
			if m.Copies() > 1 {
				r.GreyCopies = m.Copies()
			}
		} else {
			r.PreprocessFrom = "not an image lenetkit's digit pipeline prepares: " + err.Error()
		}
	}
	if format == "json" {
		if err := printJSON(c.App.Writer, r); err != nil {
			return err
		}
	} else {
		printDoctor(c, r)
	}
	if !d.Runs {
		return cli.Exit("", 1)
	}
	return nil
}

func preprocessFrom(s infer.PreprocessSource) string {
	switch s {
	case infer.PreprocessDeclared:
		return "declared in the file's metadata (" + onnx.MetaPreprocess + ")"
	case infer.PreprocessAssumed:
		return "assumed: the file declares none; mean 0 and std 1 (pixels in [0, 1]) may be wrong for a model trained with Normalize"
	}
	return "the seed's recipe"
}

func printDoctor(c *cli.Context, r doctorResult) {
	w, d := c.App.Writer, r.Diagnosis
	fmt.Fprintf(w, "File:       %s\n", d.File)
	if d.IRVersion != 0 || d.Opset != 0 {
		about := fmt.Sprintf("IR version %d, opset %d, %s", d.IRVersion, d.Opset, nouns(d.Nodes, "node"))
		if d.Producer != "" {
			about = d.Producer + "; " + about
		}
		fmt.Fprintf(w, "Model:      %s\n", about)
	}
	if d.Upgraded {
		fmt.Fprintf(w, "Opset:      %d is older than ONNX 1.2's 7; lenetkit reads its nodes in their opset 7 forms, which compute the same\n", d.Opset)
	}
	if d.Reordered {
		fmt.Fprintf(w, "Order:      the nodes are not in topological order; lenetkit sorts them, as ONNX Runtime does\n")
	}
	if !d.Runs {
		fmt.Fprintf(w, "Runs:       no, %s:\n", nouns(len(d.Blockers), "blocker"))
		for _, b := range d.Blockers {
			line := fmt.Sprintf("  %-13s %s", b.Kind, b.Message)
			if b.Kind == "operator" {
				line += ": " + strings.Join(shortList(b.Nodes, 8), ", ")
			}
			fmt.Fprintln(w, line)
		}
		printDoctorQuantization(w, r.Quantization)
		return
	}
	fmt.Fprintf(w, "Runs:       yes\n")
	if len(d.Refused) > 0 {
		fmt.Fprintf(w, "ONNX Runtime: refuses this file, for %s; lenetkit runs it as written:\n", nouns(len(d.Refused), "reason"))
		for _, r := range shortList(d.Refused, 8) {
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
	in := d.Input
	fmt.Fprintf(w, "Input:      %q %s, %s: images of %d x %d x %d\n", in.Name, in.Declared, in.Layout, in.Channels, in.Height, in.Width)
	if in.FixedBatch > 0 {
		fmt.Fprintf(w, "Batch:      the file fixes it at %d; lenetkit runs any number of images, one at a time\n", in.FixedBatch)
	}
	if r.Preprocess != nil {
		fmt.Fprintf(w, "Preprocess: %s, %s\n", r.Preprocess, r.PreprocessFrom)
	} else {
		fmt.Fprintf(w, "Preprocess: %s\n", r.PreprocessFrom)
	}
	if r.GreyCopies > 1 {
		fmt.Fprintf(w, "Grey:       each grey image goes in as %d equal channels, as torchvision's Grayscale(num_output_channels=%[1]d) makes them; colour pictures are made grey first\n", r.GreyCopies)
	}
	if len(d.Fused) == 0 {
		fmt.Fprintf(w, "Fused:      none\n")
	}
	for _, chain := range d.Fused {
		fmt.Fprintf(w, "Fused:      %s\n", strings.Join(chain, " + "))
	}
	printDoctorQuantization(w, r.Quantization)
}

func printDoctorQuantization(w io.Writer, q *quantize.Quantization) {
	if q != nil {
		printQuantization(w, q)
	}
}

// shortList keeps the first n names and says how many more there are.
func shortList(names []string, n int) []string {
	if len(names) <= n {
		return names
	}
	return append(names[:n:n], fmt.Sprintf("and %d more", len(names)-n))
}
