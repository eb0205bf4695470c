package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// summaryCommand prints torchsummary's table of the network (lenet.Summary).
func summaryCommand() *cli.Command {
	return &cli.Command{
		Name:      "summary",
		Usage:     "print the network's layers, output shapes, parameters and sizes as torchsummary does",
		ArgsUsage: "[MODEL]",
		Description: `Prints the table that torchsummary 1.5.1 prints for the seed's LeNet,
summary(model, (1, 32, 32), batch_size=N), line for line: every leaf layer
with its output shape and parameter count, the totals, and the estimated
sizes in MB of the input, of the activations with their gradients, and of
the parameters. --batch-size -1 is torchsummary's default and prints -1 for
the batch dimension.

MODEL, a .pth, .pt, .safetensors or .onnx file, is optional: it is checked
to be the seed's network (as PyTorch's strict load_state_dict would) and the
same table is printed. Other networks are not summarised.

Examples:
   lenetkit summary                      # as the seed's notebook printed it
   lenetkit summary --batch-size -1      # torchsummary's default batch
   lenetkit summary parameter.pth
   lenetkit summary --format json`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "batch-size", Value: 128, Usage: "the batch the sizes are for; -1 leaves it unspecified"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
		},
		Action: runSummary,
	}
}

// summaryResult is --format json: the table, and the file it was checked
// against if one was given.
type summaryResult struct {
	Model string `json:"model,omitempty"`
	lenet.Table
}

func runSummary(c *cli.Context) error {
	if c.NArg() > 1 {
		return usageError("summary takes at most one MODEL file, got %s (see lenetkit summary --help)", nouns(c.NArg(), "argument"))
	}
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	batch := c.Int("batch-size")
	if batch < 1 && batch != -1 {
		return fmt.Errorf("--batch-size %d: want a positive size, or -1", batch)
	}
	r := summaryResult{Model: c.Args().First()}
	if r.Model != "" {
		// Read checks the file is the seed's network; others are out of scope.
		if _, err := modelfile.Read(r.Model); err != nil {
			return err
		}
		fmt.Fprintf(statusOut(c), "%s holds the seed's LeNet; its summary:\n", r.Model)
	}
	r.Table = lenet.Summary(batch)
	if format == "json" {
		return printJSON(c.App.Writer, r)
	}
	_, err := io.WriteString(c.App.Writer, r.Table.String())
	return err
}
