package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/modelfile"
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

Examples:
   lenetkit inspect parameter.pth
   lenetkit inspect model.onnx --format json`,
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
	fmt.Fprintf(w, "\n%-40s %-16s %s\n", "Tensor", "Shape", "DType")
	for _, t := range info.Tensors {
		fmt.Fprintf(w, "%-40s %-16s %s\n", t.Name, shapeString(t.Shape), t.DType)
	}
	return nil
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
