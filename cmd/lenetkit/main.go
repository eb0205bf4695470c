// Command lenetkit trains, converts, runs and checks the seed's LeNet for
// MNIST without Python: the PyTorch result (99.16 % test accuracy, loss
// 0.0253) reproduced natively in Go.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"unicode"

	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/serve"
	"github.com/urfave/cli/v2"
)

// version is what the binary reports; set at link time for releases.
var version = "0.1.0-dev"

// Exit codes: 1 for a run that failed, 2 for a command line that is wrong,
// 130 for a run stopped by Ctrl-C.
const (
	exitFailure = 1
	exitUsage   = 2
)

// usageError is an error in how lenetkit was called: exit code 2, as go,
// gh and kubectl use it.
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), exitUsage)
}

func main() {
	handleSignals(os.Stderr)
	exit(runApp(os.Args, os.Stdout, os.Stderr))
}

// runApp is main without the exit, for the help and completion text.
func runApp(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	if n := len(args); n > 0 && args[n-1] == completeFlag {
		// Answered here, never by running a command: urfave/cli's hook runs
		// the command when "--" is among the words.
		for _, w := range completions(app, args[1:n-1]) {
			fmt.Fprintln(stdout, w)
		}
		return 0
	}
	err := app.Run(helpArgs(app.Commands, args))
	if err == nil {
		return 0
	}
	code := exitFailure
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	prefix := "lenetkit"
	var ce *commandError
	if errors.As(err, &ce) {
		prefix = ce.command
	}
	if msg := strings.TrimSpace(err.Error()); msg != "" {
		fmt.Fprintln(stderr, prefix+": "+oneLine(msg)+hint(err, args))
	}
	return code
}

func newApp() *cli.App {
	app := &cli.App{
		Name:    "lenetkit",
		Usage:   "train, convert, run, serve and quantize image classifiers natively in Go, from the seed's LeNet to your own ONNX files",
		Version: version,
		Description: `lenetkit reproduces a published PyTorch result (LeNet on MNIST, 99.16 % test
accuracy, loss 0.0253) without Python: it trains the network with Gorgonia,
recipe for recipe, and writes a parameter.pth that torch.load accepts. It
does the same for the models and data you bring: ONNX files from PyTorch,
Keras or tf2onnx, IDX data sets and folders of images.

Examples:
   lenetkit train                          # the seed's recipe, 10 epochs
   lenetkit train --epochs 2 --limit 12800 # a quick run: about 98 %
   lenetkit train --data ./mnist --out model.pth --log-dir runs/1
   lenetkit train --data ./my-images       # the seed's LeNet on a folder of class folders
   lenetkit train --model model.onnx --data ./my-images --classes 5   # fine-tune your own
   lenetkit serve model.onnx               # http://127.0.0.1:8080/`,
		Commands: []*cli.Command{trainCommand(), convertCommand(), inferCommand(), serveCommand(), evalCommand(), quantizeCommand(), inspectCommand(), doctorCommand(), runCommand(),
			summaryCommand(), benchCommand(), reportCommand(), sweepCommand(), completionCommand(), helpCommand()},
		// With a help command of its own, urfave/cli adds no --help to the
		// app; the completion hook is runApp's.
		Flags:          []cli.Flag{cli.HelpFlag},
		ExitErrHandler: func(*cli.Context, error) {}, // run reports errors itself
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return unknownCommand("", c.Args().First(), c.App.Commands)
			}
			return cli.ShowAppHelp(c)
		},
		CommandNotFound: func(c *cli.Context, name string) {
			// "lenetkit sweep help colect": urfave/cli's help subcommand
			// asks, and fails nothing itself; After reports it.
			parent, _ := strings.CutPrefix(c.Command.HelpName, "lenetkit")
			c.App.Metadata[notFoundKey] = unknownCommand(strings.TrimSpace(parent), name, c.Command.Subcommands)
		},
		After: func(c *cli.Context) error {
			err, _ := c.App.Metadata[notFoundKey].(error)
			return err
		},
	}
	cli.VersionPrinter = printVersion
	// A mistyped flag gets the one-line error and exit code 2, not the
	// whole help text: in every command and subcommand, in place of what a
	// command's own file sets, so that all say it alike.
	app.OnUsageError = onUsageError
	var setup func([]*cli.Command)
	setup = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = onUsageError
			if flagNamed(c.Flags, "quiet") == nil {
				c.Flags = append(c.Flags, quietFlag)
			}
			setup(c.Subcommands)
		}
	}
	setup(app.Commands)
	return app
}

// notFoundKey holds, in the app's Metadata, the error for a help topic
// that does not exist.
const notFoundKey = "lenetkit.notFound"

// quietFlag is every command's -q: only the result and errors.
var quietFlag = &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the result and errors: no progress or notes"}

// statusOut is where a command's progress and notes go: stderr, or nowhere
// with --quiet.
func statusOut(c *cli.Context) *os.File {
	if c.Bool("quiet") {
		if f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
			return f
		}
	}
	return os.Stderr
}

// checkFormat refuses a --format the command does not write: text and
// json everywhere, csv and jsonl where rows stream.
func checkFormat(format string, allowed ...string) error {
	if slices.Contains(allowed, format) {
		return nil
	}
	return usageError("--format %q: want %s", format, strings.Join(allowed, ", "))
}

// printJSON writes v as one indented JSON document: --format json. A NaN
// or infinite figure (a diverged run, weights read with --allow-nonfinite)
// is written as null rather than failing the command.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(finiteJSON{v})
}

// printVersion prints the version with the build's VCS revision, as go
// version -m shows it.
func printVersion(c *cli.Context) {
	fmt.Fprintf(c.App.Writer, "lenetkit version %s\n", c.App.Version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(c.App.Writer, "built with %s", bi.GoVersion)
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			fmt.Fprintf(c.App.Writer, " from module version %s", v)
		}
		if rev := settings["vcs.revision"]; rev != "" {
			dirty := ""
			if settings["vcs.modified"] == "true" {
				dirty = ", modified"
			}
			fmt.Fprintf(c.App.Writer, " (commit %.12s, %s%s)", rev, settings["vcs.time"], dirty)
		}
		fmt.Fprintln(c.App.Writer)
	}
}

// oneLine keeps an error to the single line the user reads.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(printable(s), "\n", " ")), " ")
}

// printable escapes the control characters a file or tensor name may carry
// (an escape sequence, a carriage return), so that they reach the terminal
// as text, not as commands to it. Line breaks and tabs stay: the caller
// decides what they become.
func printable(s string) string {
	control := func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }
	if !strings.ContainsFunc(s, control) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if control(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
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
	for _, sub := range cmd.Subcommands {
		if sub.HasName(args[2]) {
			// "lenetkit sweep collect DIR --out X": the subcommand's flags.
			return append([]string{args[0]}, flagsFirst(cmd.Subcommands, args[1:])...)
		}
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

// hint is what a person can do next about err, for the errors whose kind
// the library tells (errors.Is): a graph refused for what lenetkit does
// not run is diagnosed whole by doctor.
func hint(err error, args []string) string {
	if !errors.Is(err, onnx.ErrUnsupported) || slices.Contains(args, "doctor") {
		return ""
	}
	model := "MODEL"
	var load *serve.LoadError
	if errors.As(err, &load) {
		model = load.Path // serve's models: the one that failed, of several
	} else {
		for _, a := range args[1:] {
			if strings.HasSuffix(strings.ToLower(a), ".onnx") {
				model = a
				if _, path, named := strings.Cut(a, "="); named && !strings.HasPrefix(a, "-") {
					model = path // serve's NAME=PATH
				}
				break
			}
		}
	}
	return "; lenetkit doctor " + quoteName(model) + " lists everything that stops it at once"
}
