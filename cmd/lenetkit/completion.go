package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `Prints a script that completes lenetkit's commands, flags and the words a
flag takes (--recipe published, notebook or standard; --format text or json).

Examples:
   source <(lenetkit completion bash)
   lenetkit completion zsh > "${fpath[1]}/_lenetkit"
   lenetkit completion fish > ~/.config/fish/completions/lenetkit.fish`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text (the script) or json ({\"shell\", \"script\"})"},
		},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			if n := c.NArg(); n == 0 {
				return usageError("completion needs the shell: bash, zsh or fish (lenetkit completion bash)")
			} else if n > 1 {
				return usageError("completion takes one shell (bash, zsh or fish), got %d arguments", n)
			}
			var script string
			switch shell := c.Args().First(); shell {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				script = s + fishValues(c.App)
			default:
				return usageError("completion: unknown shell %q; want bash, zsh or fish", shell)
			}
			if format == "json" {
				return printJSON(c.App.Writer, struct {
					Shell  string `json:"shell"`
					Script string `json:"script"`
				}{c.Args().First(), script})
			}
			fmt.Fprint(c.App.Writer, script)
			return nil
		},
	}
}

// completeFlag is what the scripts append to the words typed so far to ask
// lenetkit for the candidates: urfave/cli's name for it, kept so that
// scripts written for urfave/cli's hook still work.
const completeFlag = "--generate-bash-completion"

// valuesOf lists the words a flag takes, for completion and help --format
// json: by flag name, and by command where one takes more (infer's rows
// stream, as csv and jsonl). A test checks each word against the flag's
// usage text, so that the two do not drift apart.
var valuesOf = map[string][]string{
	"recipe":       {"published", "notebook", "standard"},
	"dropout-mode": {"row", "element"},
	"format":       {"text", "json"},
	"backend":      {"lenetkit", "native", "gorgonia"},
	"protocol":     {"full", "seed"},
	"invert":       {"auto", "always", "never"},
}

var valuesOfCommand = map[string]map[string][]string{
	"infer":    {"format": {"text", "json", "csv", "jsonl"}},
	"run":      {"out-format": {"pb", "npy"}},
	"quantize": {"method": {"minmax", "percentile", "entropy"}, "activations": {"uint8", "int8"}},
}

// flagValues returns the words flag name of the command at path ("train",
// "sweep collect") takes, or nil where it takes a file, a number or text.
func flagValues(path, name string) []string {
	if v, ok := valuesOfCommand[path][name]; ok {
		return v
	}
	return valuesOf[name]
}

// completions answers the completion hook: words are what follows "lenetkit"
// up to the hook's flag. As in urfave/cli's protocol, the last word is the
// one being completed only when it begins with "-"; otherwise the cursor
// is on a new, empty word.
func completions(app *cli.App, words []string) []string {
	app.Setup()
	var last string
	done := words
	if n := len(words); n > 0 && strings.HasPrefix(words[n-1], "-") {
		last, done = words[n-1], words[:n-1]
	}
	path, cmd, positional, ok := completionPath(app, done)
	if !ok {
		return nil
	}
	flags := app.Flags
	if cmd != nil {
		flags = append(append([]cli.Flag{}, cmd.Flags...), cli.HelpFlag)
	}
	if last != "" {
		// "--recipe" before an empty word: its values; the shell cannot
		// tell this from "--recipe" being typed, but a whole flag name
		// needs no completing.
		if f := flagNamed(flags, strings.TrimLeft(last, "-")); f != nil && flagTakesValue(f) {
			return flagValues(path, f.Names()[0])
		}
		var out []string
		for _, f := range flags {
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			if flagGiven(done, f) {
				continue
			}
			for _, n := range f.Names() {
				if d := dashedFlag(n); strings.HasPrefix(d, last) {
					out = append(out, d)
				}
			}
		}
		return out
	}
	switch {
	case cmd == nil:
		return commandNames(app.Commands)
	case cmd.Name == "help":
		cmds := app.Commands
		for _, name := range positional {
			c := findCommand(cmds, name)
			if c == nil {
				return nil
			}
			cmds = c.Subcommands
		}
		return commandNames(cmds)
	case cmd.Name == "completion" && len(positional) == 0:
		return []string{"bash", "zsh", "fish"}
	case len(positional) == 0:
		return commandNames(cmd.Subcommands)
	}
	return nil // a file: the shell's own completion
}

// completionPath follows words to the command they name: its path ("sweep
// collect"), the command (nil for lenetkit itself) and its positional
// words. ok is false after "--", where nothing is a flag any more.
func completionPath(app *cli.App, words []string) (path string, cmd *cli.Command, positional []string, ok bool) {
	flags, cmds := app.Flags, app.Commands
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			return "", nil, nil, false
		}
		if strings.HasPrefix(w, "-") && w != "-" {
			name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if f := flagNamed(flags, name); f != nil && flagTakesValue(f) && !hasValue {
				i++ // the flag's value
			}
			continue
		}
		if len(positional) == 0 {
			if c := findCommand(cmds, w); c != nil {
				cmd, flags, cmds = c, c.Flags, c.Subcommands
				path = strings.TrimSpace(path + " " + c.Name)
				continue
			}
		}
		positional = append(positional, w)
	}
	return path, cmd, positional, true
}

func flagTakesValue(f cli.Flag) bool {
	d, ok := f.(cli.DocGenerationFlag)
	return ok && d.TakesValue()
}

// flagGiven reports whether flag f is among words already: it is offered once.
func flagGiven(words []string, f cli.Flag) bool {
	for _, w := range words {
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if strings.HasPrefix(w, "-") && slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c.Name)
		}
	}
	return out
}

// fishValues adds, to urfave/cli's fish script, the words each flag takes
// and the arguments of help and completion, in the script's own terms.
func fishValues(app *cli.App) string {
	var b strings.Builder
	var add func(path string, cmds []*cli.Command)
	add = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := strings.TrimSpace(path + " " + c.Name)
			for _, f := range c.Flags {
				if v := flagValues(p, f.Names()[0]); v != nil {
					fmt.Fprintf(&b, "complete -c lenetkit -n '__fish_seen_subcommand_from %s' -f -l %s -x -a '%s'\n", c.Name, f.Names()[0], strings.Join(v, " "))
				}
			}
			add(p, c.Subcommands)
		}
	}
	add("", app.Commands)
	fmt.Fprintf(&b, "complete -c lenetkit -n '__fish_seen_subcommand_from completion' -f -a 'bash zsh fish'\n")
	fmt.Fprintf(&b, "complete -c lenetkit -n '__fish_seen_subcommand_from help' -f -a '%s'\n", strings.Join(commandNames(app.Commands), " "))
	return b.String()
}

// The scripts ask lenetkit itself for the words to complete, through the
// hook runApp answers (completeFlag), so that the words follow the flags.
var bashCompletion = strings.TrimLeft(`
_lenetkit_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  local opts
  if [[ "$cur" == -* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o bashdefault -o default -F _lenetkit_complete lenetkit
`, "\n")

var zshCompletion = strings.TrimLeft(`
#compdef lenetkit

_lenetkit() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}

compdef _lenetkit lenetkit
`, "\n")
