package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// helpCommand replaces urfave/cli's own, which takes no flags (help
// --format json was a usage error with exit 1) and prints a command with
// subcommands before that command is set up: "help sweep" lost sweep's
// options and its collect, and "help sweep collect" showed sweep.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show help for lenetkit or one command; --format json: every command and flag, for programs",
		ArgsUsage: "[COMMAND [SUBCOMMAND]]",
		Description: `"lenetkit help COMMAND" is "lenetkit COMMAND --help". With --format json it
prints the command (without COMMAND, all of lenetkit) as one JSON document:
each command's name, usage, arguments and flags, each flag with its aliases,
type, default and, where it takes one of a few words, those words.

Examples:
   lenetkit help sweep collect
   lenetkit help --format json | jq '.commands[].name'
   lenetkit help train --format json | jq '.flags[] | {name, default}'`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json (the command tree)"},
		},
		HideHelpCommand: true, // "help help" shows help's page, not a list of one
		Action:          runHelp,
	}
}

func runHelp(c *cli.Context) error {
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	var path []*cli.Command
	cmds := c.App.Commands
	for _, name := range c.Args().Slice() {
		cmd := findCommand(cmds, name)
		if cmd == nil {
			return unknownCommand(commandPathName(path), name, cmds)
		}
		path = append(path, cmd)
		cmds = cmd.Subcommands
	}
	if format == "json" {
		if len(path) == 0 {
			return printJSON(c.App.Writer, appTree(c.App))
		}
		return printJSON(c.App.Writer, commandTree(commandPathName(path[:len(path)-1]), path[len(path)-1]))
	}
	if len(path) == 0 {
		return cli.ShowAppHelp(c)
	}
	if path[len(path)-1] == c.Command {
		// Its own --help would print lenetkit's page (urfave/cli's help
		// action goes to the parent of any command named help).
		cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, c.Command)
		return nil
	}
	// The command's own --help, run on a fresh app: the page it prints is
	// the one its setup fills in (subcommands, --help), and it is the same
	// page either way.
	args := []string{c.App.Name}
	for _, cmd := range path {
		args = append(args, cmd.Name)
	}
	app := newApp()
	app.Writer, app.ErrWriter = c.App.Writer, c.App.ErrWriter
	return app.Run(append(args, "--help"))
}

// findCommand finds name, or an alias, among cmds that are not hidden.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, cmd := range cmds {
		if cmd.HasName(name) && !cmd.Hidden {
			return cmd
		}
	}
	return nil
}

// commandPathName is "sweep collect" for lenetkit sweep collect.
func commandPathName(path []*cli.Command) string {
	var names []string
	for _, c := range path {
		names = append(names, c.Name)
	}
	return strings.Join(names, " ")
}

// helpNode is a command in help --format json.
type helpNode struct {
	Name        string     `json:"name"`
	Path        string     `json:"path"` // what to type: "lenetkit sweep collect"
	Aliases     []string   `json:"aliases,omitempty"`
	Usage       string     `json:"usage"`
	Args        string     `json:"args,omitempty"`
	Version     string     `json:"version,omitempty"`
	Description string     `json:"description,omitempty"`
	Flags       []helpFlag `json:"flags"`
	Commands    []helpNode `json:"commands,omitempty"`
}

type helpFlag struct {
	Name        string   `json:"name"`
	Aliases     []string `json:"aliases,omitempty"`
	Type        string   `json:"type"` // bool, int, uint, float, string
	Usage       string   `json:"usage,omitempty"`
	Default     any      `json:"default"`
	DefaultText string   `json:"default_text,omitempty"` // said in place of the default where it depends on the input
	Values      []string `json:"values,omitempty"`       // the words the flag takes
}

func appTree(app *cli.App) helpNode {
	n := helpNode{Name: app.Name, Path: app.Name, Usage: app.Usage, Version: app.Version,
		Description: app.Description, Flags: helpFlags("", app.Flags)}
	for _, c := range app.Commands {
		if !c.Hidden {
			n.Commands = append(n.Commands, commandTree("", c))
		}
	}
	return n
}

// commandTree describes c, found under parent ("" or "sweep").
func commandTree(parent string, c *cli.Command) helpNode {
	path := strings.TrimSpace(parent + " " + c.Name)
	n := helpNode{Name: c.Name, Path: "lenetkit " + path, Aliases: c.Aliases, Usage: c.Usage,
		Args: strings.TrimSpace(c.ArgsUsage), Description: c.Description,
		Flags: helpFlags(path, append(append([]cli.Flag{}, c.Flags...), cli.HelpFlag))}
	for _, sub := range c.Subcommands {
		if !sub.Hidden && sub.Name != "help" {
			n.Commands = append(n.Commands, commandTree(path, sub))
		}
	}
	return n
}

// helpFlags describes the visible flags of the command at path, each
// once: urfave/cli adds --help to a command it runs.
func helpFlags(path string, flags []cli.Flag) []helpFlag {
	out := []helpFlag{}
	seen := map[string]bool{}
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		names := f.Names()
		if seen[names[0]] {
			continue
		}
		seen[names[0]] = true
		h := helpFlag{Name: names[0], Aliases: names[1:], Values: flagValues(path, names[0])}
		switch f := f.(type) {
		case *cli.BoolFlag:
			h.Type, h.Default, h.DefaultText = "bool", f.Value, f.DefaultText
		case *cli.IntFlag:
			h.Type, h.Default, h.DefaultText = "int", f.Value, f.DefaultText
		case *cli.Int64Flag:
			h.Type, h.Default, h.DefaultText = "int", f.Value, f.DefaultText
		case *cli.UintFlag:
			h.Type, h.Default, h.DefaultText = "uint", f.Value, f.DefaultText
		case *cli.Uint64Flag:
			h.Type, h.Default, h.DefaultText = "uint", f.Value, f.DefaultText
		case *cli.Float64Flag:
			h.Type, h.Default, h.DefaultText = "float", f.Value, f.DefaultText
		case *cli.StringFlag:
			h.Type, h.Default, h.DefaultText = "string", f.Value, f.DefaultText
		default:
			h.Type = "string"
			if d, ok := f.(cli.DocGenerationFlag); ok {
				h.Default = d.GetValue()
			}
		}
		if d, ok := f.(cli.DocGenerationFlag); ok {
			h.Usage = d.GetUsage()
		}
		if len(h.Aliases) == 0 {
			h.Aliases = nil
		}
		out = append(out, h)
	}
	return out
}

// helpArgs is how runApp reads a command line: flagsFirst's order, and
// every way of asking for help led to runHelp, where urfave/cli would
// print a page of the wrong command: "lenetkit --help sweep" (sweep's page
// without its subcommands and options) and "help --help" (lenetkit's
// page: urfave/cli's help action goes to the parent of any command named
// help). "help sweep --help" stays sweep's page.
func helpArgs(cmds []*cli.Command, args []string) []string {
	if len(args) > 2 && isHelpFlag(args[1]) && !strings.HasPrefix(args[2], "-") {
		args = append([]string{args[0], "help"}, args[2:]...)
	}
	args = flagsFirst(cmds, args)
	if len(args) < 3 || (args[1] != "help" && args[1] != "h") {
		return args
	}
	out, found, positional := []string{args[0], args[1]}, false, false
	for i := 2; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = i+1 < len(args)
			out = append(out, args[i:]...)
			break
		}
		if isHelpFlag(a) {
			found = true
			continue
		}
		out = append(out, a)
	}
	if !found {
		return args
	}
	if !positional {
		out = append(out, "--", "help")
	}
	return out
}

func isHelpFlag(a string) bool {
	return a == "--help" || a == "-help" || a == "-h" || a == "--h"
}
