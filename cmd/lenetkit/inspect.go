package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/quantize"
	"github.com/lenetkit/lenetkit/train"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "describe a model file: format, producer, tensors, parameters, metadata, BatchNorm's counter",
		ArgsUsage: "MODEL",
		Description: `Shows what a .pth, .pt, .safetensors or .onnx file holds without running it:
its format, size and SHA-256; for ONNX the producer, opset and metadata; every
tensor with its shape and dtype; the parameter count; whether it is the seed's
LeNet, as PyTorch's strict load_state_dict would judge; and BatchNorm's
num_batches_tracked, with what it says about how the model was trained.

For a quantized ONNX file (QDQ, as lenetkit quantize and ONNX Runtime's
quantize_static write it, or QOperator: QLinearConv, QLinearMatMul,
MatMulInteger...) it lists which tensors are quantized: activations,
weights and biases, their integer type, and their scale and zero point, or
for a tensor quantized per channel its axis, the number of scales and
their smallest and largest.

Examples:
   lenetkit inspect parameter.pth
   lenetkit inspect model.onnx --format json
   lenetkit inspect model-int8.onnx`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			allowNonFiniteFlag,
		},
		Action: runInspect,
	}
}

type inspectResult struct {
	*modelfile.Info
	BatchesTrackedMeaning string `json:"num_batches_tracked_meaning,omitempty"`
	// Quantization lists a quantized ONNX file's quantized tensors.
	Quantization *quantize.Quantization `json:"quantization,omitempty"`
}

func runInspect(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("inspect takes one MODEL file, got %s (see lenetkit inspect --help)", nouns(c.NArg(), "argument"))
	}
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	info, err := modelfile.InspectWith(c.Args().First(), readOptions(c))
	if err != nil {
		return err
	}
	r := inspectResult{Info: info}
	if info.Format == modelfile.ONNX {
		if m, err := readGraph(info.Path); err == nil {
			r.Quantization = quantize.Describe(m)
			onnxTypes(info, m)
		}
	}
	if info.BatchesTracked != nil {
		r.BatchesTrackedMeaning = train.ExplainBatchesTracked(*info.BatchesTracked)
	}
	w := c.App.Writer
	if format == "json" {
		return printJSON(w, r)
	}
	fmt.Fprintf(w, "File:       %s\n", info.Path)
	fmt.Fprintf(w, "Format:     %s, %d bytes\n", info.Format, info.Bytes)
	fmt.Fprintf(w, "SHA-256:    %s\n", info.SHA256)
	if info.Producer != "" {
		fmt.Fprintf(w, "Producer:   %s\n", info.Producer)
	}
	if info.Opset != 0 {
		fmt.Fprintf(w, "Opset:      %d\n", info.Opset)
	}
	if info.SeedNetwork {
		fmt.Fprintf(w, "Network:    the seed's LeNet, %d parameters\n", info.Parameters)
	} else {
		fmt.Fprintf(w, "Network:    not the seed's LeNet (%s); %d float elements\n", info.NotSeedNetwork, info.Parameters)
	}
	if info.BatchesTracked != nil {
		fmt.Fprintf(w, "BatchNorm:  num_batches_tracked %d: %s\n", *info.BatchesTracked, r.BatchesTrackedMeaning)
	}
	for _, k := range sortedKeys(info.Metadata) {
		fmt.Fprintf(w, "Metadata:   %s = %s\n", k, info.Metadata[k])
	}
	if r.Quantization != nil {
		fmt.Fprintln(w)
		printQuantization(w, r.Quantization)
	}
	fmt.Fprintf(w, "\n%-40s %-16s %s\n", "Tensor", "Shape", "DType")
	for _, t := range info.Tensors {
		fmt.Fprintf(w, "%-40s %-16s %s\n", t.Name, shapeString(t.Shape), t.DType)
	}
	return nil
}

// onnxTypes gives an ONNX file's tensors the element types its graph
// declares: a quantized file's int8 weights and int32 biases are not
// float32.
func onnxTypes(info *modelfile.Info, m *onnx.Model) {
	for i, t := range info.Tensors {
		if init, ok := m.Graph.Initializers[t.Name]; ok {
			info.Tensors[i].DType = dtypeName(init.DType)
		}
	}
}

// dtypeName is an ONNX element type as lenetkit names types: float32,
// int8, uint8, int32, int64...
func dtypeName(d onnx.DType) string {
	switch d {
	case onnx.Float:
		return "float32"
	case onnx.Double:
		return "float64"
	}
	return strings.ToLower(d.String())
}

// printQuantization writes what a quantized file quantizes: a line of
// counts, then a table of the tensors, their type, scale and zero point.
func printQuantization(w io.Writer, q *quantize.Quantization) {
	fmt.Fprintf(w, "Quantized:  %s; %s, %s, %s\n", q.Form, nouns(q.Activations, "activation"), nouns(q.Weights, "weight"), nouns(q.Biases, "bias"))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  TENSOR\tKIND\tTYPE\tSCALE\tZERO POINT")
	for _, t := range q.Tensors {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", quoteName(t.Tensor), t.Kind, t.Type, scaleText(t), zeroPointText(t))
	}
	tw.Flush()
}

func scaleText(t quantize.QuantizedTensor) string {
	switch {
	case t.Dynamic:
		return "computed at run time"
	case t.Unknown:
		return "not a constant of the file"
	case t.ScaleOf != "":
		return t.ScaleOf
	case t.Axis != nil:
		return fmt.Sprintf("axis %d: %d scales, %.6g to %.6g", *t.Axis, t.Channels, *t.ScaleMin, *t.ScaleMax)
	case t.Scale != nil:
		return fmt.Sprintf("%.6g", *t.Scale)
	}
	return "-"
}

func zeroPointText(t quantize.QuantizedTensor) string {
	switch {
	case t.ZeroPoint != nil:
		return fmt.Sprint(*t.ZeroPoint)
	case t.ZeroPointMin != nil:
		return fmt.Sprintf("%d to %d", *t.ZeroPointMin, *t.ZeroPointMax)
	case t.Dynamic:
		return "computed at run time"
	}
	return "-"
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
