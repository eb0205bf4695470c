package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// commandError is a usage error that names the command it belongs to:
// "lenetkit train: unknown flag --epoch", as go and git name the
// subcommand, where other errors begin "lenetkit: ".
type commandError struct {
	command string // "lenetkit train"
	msg     string
}

func (e *commandError) Error() string { return e.msg }
func (e *commandError) ExitCode() int { return exitUsage }

// onUsageError turns the flag package's errors into lenetkit's one line:
// the flag as people type it (--epochs, where the flag package writes
// -epochs), what was wrong with it, and, for a flag that does not exist,
// the one probably meant. urfave/cli's own Suggest is not used: its
// SuggestFlag names the nearest flag however far it is ("--bogus" gets
// one), in its own words, above the whole help page.
func onUsageError(c *cli.Context, err error, _ bool) error {
	name, flags := "lenetkit", c.App.Flags
	if c.Command != nil {
		name, flags = c.Command.HelpName, c.Command.Flags
	}
	if name == "" {
		name = "lenetkit"
	}
	return &commandError{command: name, msg: flagErrorText(name, flags, err.Error())}
}

// flagErrorText rewrites the messages of Go's flag package, which
// urfave/cli passes on as they are.
func flagErrorText(command string, flags []cli.Flag, msg string) string {
	var name, value, reason string
	switch {
	case cutFlagError(msg, "flag provided but not defined: -", &name):
		typed := dashedFlag(name)
		if s := suggest(name, flagNames(flags)); s != "" {
			return fmt.Sprintf("unknown flag %s; did you mean %s?", typed, dashedFlag(s))
		}
		return fmt.Sprintf("unknown flag %s (see %s --help)", typed, command)
	case cutFlagError(msg, "flag needs an argument: -", &name):
		return fmt.Sprintf("%s needs a value (see %s --help)", dashedFlag(name), command)
	case cutValueError(msg, "invalid value ", " for flag -", &value, &name, &reason),
		cutValueError(msg, "invalid boolean value ", " for -", &value, &name, &reason):
		return fmt.Sprintf("%s %s: %s", dashedFlag(name), value, flagWants(flagNamed(flags, name), reason))
	}
	return msg
}

// cutFlagError reports whether msg is prefix and then a flag's name, which
// it stores.
func cutFlagError(msg, prefix string, word *string) bool {
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok || rest == "" {
		return false
	}
	*word = rest
	return true
}

// cutValueError takes apart `invalid value "x" for flag -name: reason`.
func cutValueError(msg, prefix, middle string, value, name, reason *string) bool {
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return false
	}
	v, rest, ok := strings.Cut(rest, middle)
	if !ok {
		return false
	}
	n, r, ok := strings.Cut(rest, ": ")
	if !ok {
		return false
	}
	*value, *name, *reason = v, n, r
	return true
}

// dashedFlag writes a flag name as it is typed: --epochs, -q.
func dashedFlag(name string) string {
	if len([]rune(name)) == 1 {
		return "-" + name
	}
	return "--" + name
}

// flagWants says what a flag takes, in place of the flag package's "parse
// error".
func flagWants(f cli.Flag, reason string) string {
	if reason == "value out of range" {
		return "out of range"
	}
	switch f.(type) {
	case *cli.IntFlag, *cli.Int64Flag:
		return "want a whole number"
	case *cli.UintFlag, *cli.Uint64Flag:
		return "want a whole number, 0 or more"
	case *cli.Float64Flag:
		return "want a number"
	case *cli.BoolFlag:
		return "want true or false"
	case *cli.DurationFlag:
		return "want a duration such as 90s or 5m"
	}
	return reason
}

func flagNamed(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// flagNames lists the names a user may type, hidden flags left out.
func flagNames(flags []cli.Flag) []string {
	var names []string
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		names = append(names, f.Names()...)
	}
	return names
}

// unknownCommand is the error for a command that does not exist under
// parent ("" for lenetkit's own): the one probably meant, if any, and the
// list to pick from.
func unknownCommand(parent, name string, cmds []*cli.Command) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden && (parent == "" || c.Name != "help") {
			names = append(names, c.Name)
		}
	}
	full, list, helpCmd := name, "the commands are", "lenetkit help"
	if parent != "" {
		full = parent + " " + name
		list = "the commands of " + parent + " are"
		helpCmd += " " + parent
	}
	if len(names) == 0 {
		return usageError("unknown command %q: %s has no commands (%s)", full, parent, helpCmd)
	}
	msg := fmt.Sprintf("unknown command %q; ", full)
	if s := suggest(name, names); s != "" {
		if parent != "" {
			s = parent + " " + s
		}
		msg += fmt.Sprintf("did you mean %q? ", s)
		list = strings.ToUpper(list[:1]) + list[1:]
	}
	return usageError("%s%s %s (%s)", msg, list, strings.Join(names, ", "), helpCmd)
}

// suggest returns the candidate the user most probably meant by typed, or
// "" when none is close: one edit away (two for names longer than five
// letters; none for one letter, which every short name is near), a swap of
// neighbours counting as one edit, or a name that begins with what was
// typed. Ties go to the first candidate, in the order lenetkit lists them;
// a wrong case alone ("Train") is no edit.
func suggest(typed string, candidates []string) string {
	typed = strings.ToLower(typed)
	limit := 1
	if len([]rune(typed)) > 5 {
		limit = 2
	}
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(typed, strings.ToLower(c))
		near := d <= limit && d < len([]rune(typed))
		if !near && !(len([]rune(typed)) >= 2 && strings.HasPrefix(strings.ToLower(c), typed)) {
			continue
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours, one each; "trian" is
// one from "train", as people mistype it.
func editDistance(a, b string) int {
	s, t := []rune(a), []rune(b)
	d := make([][]int, len(s)+1)
	for i := range d {
		d[i] = make([]int, len(t)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(s); i++ {
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(s)][len(t)]
}
