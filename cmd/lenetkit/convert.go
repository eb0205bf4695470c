package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "convert the network's weights between .pth, .safetensors and .onnx",
		ArgsUsage: "IN OUT",
		Description: `Formats are chosen by extension: .pth or .pt (what torch.save writes),
.safetensors, .onnx; any direction. The weights pass unchanged, bit for bit;
BatchNorm's num_batches_tracked counters travel in ONNX metadata. IN may be
any .pth a PyTorch user has for this network: zip or legacy format, saved on
a GPU, wrapped in a checkpoint dict, with "module." prefixes, in float64,
float16 or bfloat16 (converted to float32). Nothing in a .pth is executed.

Examples:
   lenetkit convert parameter.pth model.onnx
   lenetkit convert parameter.pth model.onnx --opset 11
   lenetkit convert model.onnx parameter.pth --force
   lenetkit convert checkpoint.pt model.safetensors --format json`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "opset", Value: onnx.DefaultOpset, Usage: fmt.Sprintf("ONNX operator set, %d to %d", onnx.MinOpset, onnx.MaxOpset)},
			&cli.BoolFlag{Name: "force", Usage: "overwrite OUT if it exists"},
			allowNonFiniteFlag,
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
		},
		Action: runConvert,
	}
}

type convertResult struct {
	Source       string `json:"source"`
	SourceFormat string `json:"source_format"`
	SourceSHA256 string `json:"source_sha256"`
	Tensors      int    `json:"tensors"`
	Parameters   int    `json:"parameters"`
	Out          string `json:"out"`
	OutFormat    string `json:"out_format"`
	Opset        int    `json:"opset,omitempty"`
	OutSHA256    string `json:"out_sha256"`
}

func runConvert(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError("convert takes IN and OUT, got %s (see lenetkit convert --help)", nouns(c.NArg(), "argument"))
	}
	in, out := c.Args().Get(0), c.Args().Get(1)
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	inF, err := modelfile.Lookup(in)
	if err != nil {
		return err
	}
	outF, err := modelfile.Lookup(out)
	if err != nil {
		return err
	}
	inFormat, outFormat := inF.Name, outF.Name
	opset := c.Int("opset")
	if outFormat == modelfile.ONNX && (opset < onnx.MinOpset || opset > onnx.MaxOpset) {
		return usageError("--opset %d: lenetkit writes opsets %d to %d", opset, onnx.MinOpset, onnx.MaxOpset)
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory, which a file cannot replace, --force or not: name the file to write (%s)",
			out, filepath.Join(out, "model"+filepath.Ext(out)))
	} else if err == nil && !c.Bool("force") {
		return fmt.Errorf("%s exists; --force overwrites it", out)
	}
	if err := atomicfile.CheckFile(out); err != nil {
		return err
	}
	sum, err := modelfile.SHA256(in)
	if err != nil {
		return err
	}
	sd, err := modelfile.ReadWith(in, readOptions(c))
	if err != nil {
		return err
	}
	// Exists-or-not is decided when the file is linked into place, not
	// by the check above, which only spares the work.
	err = atomicfile.Publish(out, c.Bool("force"), func(tmp string) error {
		return modelfile.Write(tmp, sd, modelfile.WriteOptions{Opset: opset, Producer: version, SourceSHA256: sum})
	})
	if errors.Is(err, atomicfile.ErrExist) {
		return fmt.Errorf("%s exists; --force overwrites it", out)
	}
	if err != nil {
		return err
	}
	outSum, err := modelfile.SHA256(out)
	if err != nil {
		return err
	}
	r := convertResult{Source: in, SourceFormat: inFormat, SourceSHA256: sum, Tensors: len(sd),
		Parameters: lenet.NumParameters(), Out: out, OutFormat: outFormat, OutSHA256: outSum}
	if outFormat == modelfile.ONNX {
		r.Opset = opset
	}
	w := c.App.Writer
	if format == "json" {
		return printJSON(w, r)
	}
	if c.Bool("quiet") {
		return nil // the file is the result; JSON, asked for, still comes
	}
	fmt.Fprintf(w, "read   %s (%s, sha256 %s)\n", r.Source, r.SourceFormat, r.SourceSHA256)
	fmt.Fprintf(w, "       %d tensors, %d parameters, checked against the seed's LeNet\n", r.Tensors, r.Parameters)
	opsetNote := ""
	if r.Opset != 0 {
		opsetNote = fmt.Sprintf(", opset %d", r.Opset)
	}
	fmt.Fprintf(w, "wrote  %s (%s%s, sha256 %s)\n", r.Out, r.OutFormat, opsetNote, r.OutSHA256)
	return nil
}
