// Command lenetkit trains, converts, runs and checks the seed's LeNet for
// MNIST without Python: the PyTorch result (99.16 % test accuracy, loss
// 0.0253) reproduced natively in Go.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is what the binary reports; set at link time for releases.
var version = "0.1.0-dev"

func main() {
	app := &cli.App{
		Name:    "lenetkit",
		Usage:   "train, convert and check the seed's LeNet for MNIST, natively in Go",
		Version: version,
		Description: `lenetkit reproduces a published PyTorch result (LeNet on MNIST, 99.16 % test
accuracy, loss 0.0253) without Python: it trains the network with Gorgonia,
recipe for recipe, and writes a parameter.pth that torch.load accepts.

Examples:
   lenetkit train                          # the seed's recipe, 10 epochs
   lenetkit train --epochs 1 --limit 4096  # a quick run
   lenetkit train --data ./mnist --out model.pth --log-dir runs/1`,
		Commands:        []*cli.Command{trainCommand(), convertCommand(), inferCommand(), evalCommand(), inspectCommand(), benchCommand(), summaryCommand()},
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {}, // main reports errors itself
	}
	// A mistyped flag gets the one-line error, not the whole help text.
	onUsage := func(_ *cli.Context, err error, _ bool) error { return err }
	app.OnUsageError = onUsage
	for _, c := range app.Commands {
		c.OnUsageError = onUsage
	}
	if err := app.Run(flagsFirst(app.Commands, os.Args)); err != nil {
		code := 1
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		if msg := strings.TrimSpace(err.Error()); msg != "" {
			fmt.Fprintln(os.Stderr, "lenetkit: "+oneLine(msg))
		}
		os.Exit(code)
	}
}

// oneLine keeps an error to the single line the user reads.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// flagsFirst moves a command's flags ahead of its positional arguments, so
// that "lenetkit eval model.onnx --protocol seed" works as people type it:
// the CLI library stops reading flags at the first positional argument.
func flagsFirst(cmds []*cli.Command, args []string) []string {
	if len(args) < 3 {
		return args
	}
	var cmd *cli.Command
	for _, c := range cmds {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, positional []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
			flags = append(flags, rest[i+1])
			i++
		}
	}
	out := append(append([]string{}, args[:2]...), flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}
