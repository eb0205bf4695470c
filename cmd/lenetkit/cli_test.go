package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/urfave/cli/v2"
)

// TestConventions: help, unknown commands and flags, exit codes and
// completion behave as go, gh and git do.
func TestConventions(t *testing.T) {
	const commands = "train, convert, infer, serve, eval, quantize, inspect, doctor, run, summary, bench, report, sweep, completion, help (lenetkit help)"
	cases := []struct {
		name      string
		args      []string
		code      int
		stdout    []string // each must appear on stdout
		stderr    []string // each must appear on stderr
		line      string   // if set, the whole of stderr, one line
		notStdout []string // none may appear on stdout
	}{
		{name: "help", args: []string{"help"}, stdout: []string{"COMMANDS:", "train", "inspect", "completion"}},
		{name: "help train", args: []string{"help", "train"}, stdout: []string{"lenetkit train", "--recipe"}},
		{name: "train --help", args: []string{"train", "--help"}, stdout: []string{"--freeze-bn-after"}},
		{name: "help -q", args: []string{"help", "-q"}, stdout: []string{"COMMANDS:"}},
		{name: "help --format json", args: []string{"help", "--format", "json"}, stdout: []string{`"name": "lenetkit"`, `"path": "lenetkit sweep collect"`}},
		{name: "help sweep", args: []string{"help", "sweep"}, stdout: []string{"lenetkit sweep - ", "COMMANDS:", "collect  merge", "OPTIONS:", "--shard"}},
		{name: "help sweep collect", args: []string{"help", "sweep", "collect"}, stdout: []string{"lenetkit sweep collect - merge", "--out"},
			notStdout: []string{"--shard"}},
		{name: "--help sweep", args: []string{"--help", "sweep"}, stdout: []string{"lenetkit sweep - ", "collect  merge", "--shard"}},
		{name: "help help", args: []string{"help", "help"}, stdout: []string{"lenetkit help - ", "--format"}, notStdout: []string{"COMMANDS:"}},
		{name: "help --help", args: []string{"help", "--help"}, stdout: []string{"lenetkit help - ", "--format"}, notStdout: []string{"COMMANDS:"}},
		{name: "help of a mistyped command", args: []string{"help", "trian"}, code: 2,
			line: `lenetkit: unknown command "trian"; did you mean "train"? The commands are ` + commands},
		{name: "help of a mistyped subcommand", args: []string{"help", "sweep", "colect"}, code: 2,
			line: `lenetkit: unknown command "sweep colect"; did you mean "sweep collect"? The commands of sweep are collect (lenetkit help sweep)`},
		{name: "a command's help subcommand, mistyped", args: []string{"sweep", "help", "colect"}, code: 2,
			line: `lenetkit: unknown command "sweep colect"; did you mean "sweep collect"? The commands of sweep are collect (lenetkit help sweep)`},
		{name: "help --format yaml", args: []string{"help", "--format", "yaml"}, code: 2, stderr: []string{`--format "yaml"`}},
		{name: "help, unknown flag", args: []string{"help", "--bogus"}, code: 2, line: "lenetkit help: unknown flag --bogus (see lenetkit help --help)"},
		{name: "unknown command", args: []string{"bogus"}, code: 2, line: `lenetkit: unknown command "bogus"; the commands are ` + commands},
		{name: "mistyped command", args: []string{"trian"}, code: 2,
			line: `lenetkit: unknown command "trian"; did you mean "train"? The commands are ` + commands},
		{name: "unknown flag", args: []string{"eval", "--bogus", "m.pth"}, code: 2, line: "lenetkit eval: unknown flag --bogus (see lenetkit eval --help)"},
		{name: "mistyped flag", args: []string{"train", "--epoch", "3"}, code: 2, line: "lenetkit train: unknown flag --epoch; did you mean --epochs?"},
		{name: "mistyped flag, one dash", args: []string{"train", "-epoch", "3"}, code: 2, line: "lenetkit train: unknown flag --epoch; did you mean --epochs?"},
		{name: "mistyped flag of a subcommand", args: []string{"sweep", "collect", "--fromat", "json", "x"}, code: 2,
			line: "lenetkit sweep collect: unknown flag --fromat; did you mean --format?"},
		{name: "unknown global flag", args: []string{"--bogus"}, code: 2, line: "lenetkit: unknown flag --bogus (see lenetkit --help)"},
		{name: "flag without its value", args: []string{"sweep", "--shard"}, code: 2, line: "lenetkit sweep: --shard needs a value (see lenetkit sweep --help)"},
		{name: "flag of the wrong type", args: []string{"train", "--epochs", "ten"}, code: 2, line: `lenetkit train: --epochs "ten": want a whole number`},
		{name: "wrong arguments", args: []string{"eval"}, code: 2, stderr: []string{"eval takes one MODEL file"}},
		{name: "bad flag value", args: []string{"train", "--recipe", "tuned"}, code: 2, stderr: []string{`recipe "tuned"`}},
		{name: "bad format", args: []string{"inspect", trainedPTH, "--format", "yaml"}, code: 2, stderr: []string{`--format "yaml"`}},
		{name: "runtime error", args: []string{"inspect", filepath.Join(t.TempDir(), "absent.pth")}, code: 1, stderr: []string{"absent.pth"}},
		{name: "version", args: []string{"--version"}, stdout: []string{"lenetkit version "}},
		{name: "completion bash", args: []string{"completion", "bash"}, stdout: []string{"complete ", "--generate-bash-completion", "lenetkit"}},
		{name: "completion zsh", args: []string{"completion", "zsh"}, stdout: []string{"#compdef lenetkit"}},
		{name: "completion fish", args: []string{"completion", "fish"}, stdout: []string{"complete -c lenetkit", "train",
			"-l recipe -x -a 'published notebook standard'", "-l format -x -a 'text json csv jsonl'"}},
		{name: "completion --format json", args: []string{"completion", "--format", "json", "bash"}, stdout: []string{`"shell": "bash"`, `"script": "_lenetkit_complete() {`}},
		{name: "completion -q", args: []string{"completion", "-q", "zsh"}, stdout: []string{"#compdef lenetkit"}},
		{name: "completion of another shell", args: []string{"completion", "tcsh"}, code: 2, stderr: []string{`unknown shell "tcsh"`}},
		{name: "completion of no shell", args: []string{"completion"}, code: 2, line: "lenetkit: completion needs the shell: bash, zsh or fish (lenetkit completion bash)"},
		{name: "completion of two shells", args: []string{"completion", "bash", "zsh"}, code: 2, line: "lenetkit: completion takes one shell (bash, zsh or fish), got 2 arguments"},
		{name: "quiet", args: []string{"summary", trainedPTH, "-q"}, stdout: []string{"Total params: 126,602"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, c.code, r.stderr)
			}
			for _, w := range c.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range c.notStdout {
				if strings.Contains(r.stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range c.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if c.line != "" && r.stderr != c.line+"\n" {
				t.Errorf("stderr\n%q\nwant\n%q", r.stderr, c.line+"\n")
			}
			if c.code == 0 && c.name != "runtime error" && r.stderr != "" {
				t.Errorf("printed on stderr: %q", r.stderr)
			}
			if c.code != 0 && (strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 || r.stdout != "") {
				t.Errorf("an error should be one line on stderr and nothing on stdout; stdout %q, stderr %q", r.stdout, r.stderr)
			}
		})
	}
}

// TestCompletionHook asks lenetkit for candidates as the scripts do: the
// words typed so far, then the hook's flag; the word being completed is
// among them only when it begins with "-".
func TestCompletionHook(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		words string
		want  string // the candidates, one per line, joined by spaces
	}{
		{"", "train convert infer serve eval quantize inspect doctor run summary bench report sweep completion help"},
		{"train --recipe", "published notebook standard"},
		{"sweep --recipe", "published notebook standard"},
		{"train --dropout-mode", "row element"},
		{"sweep --dropout-mode", "row element"},
		{"train --format", "text json"},
		{"infer --format", "text json csv jsonl"},
		{"sweep collect --format", "text json"},
		{"help --format", "text json"},
		{"completion --format", "text json"},
		{"eval --backend", "lenetkit native gorgonia"},
		{"infer --backend", "lenetkit native gorgonia"},
		{"eval --protocol", "full seed"},
		{"infer --invert", "auto always never"},
		{"eval model.pth --backend", "lenetkit native gorgonia"},
		{"train --out", ""},                          // a file: the shell's own completion
		{"train --recipe standard", ""},              // train takes no argument
		{"train --re", "--recipe --resume"},          // a flag being typed
		{"train --recipe standard --re", "--resume"}, // each flag offered once
		{"eval --format json --backend", "lenetkit native gorgonia"},
		{"sweep collect --f", "--format"},
		{"sweep", "collect"},
		{"help", "train convert infer serve eval quantize inspect doctor run summary bench report sweep completion help"},
		{"help sweep", "collect"},
		{"completion", "bash zsh fish"},
		{"completion bash", ""},
		{"train -- --recipe", ""}, // after --, nothing is a flag, and nothing runs
	} {
		t.Run(c.words, func(t *testing.T) {
			r := run(t, append(strings.Fields(c.words), "--generate-bash-completion")...)
			if got := strings.Join(strings.Fields(r.stdout), " "); r.code != 0 || got != c.want || r.stderr != "" {
				t.Errorf("exit %d, candidates %q, want %q; stderr %q", r.code, got, c.want, r.stderr)
			}
		})
	}
}

// TestCompletionValuesMatchUsage: every word completion offers for a flag
// is one the flag's usage text names, so that a new recipe or format is
// added to both or the test says so.
func TestCompletionValuesMatchUsage(t *testing.T) {
	app := newApp()
	var check func(path string, cmds []*cli.Command)
	found := 0
	check = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := strings.TrimSpace(path + " " + c.Name)
			for _, f := range c.Flags {
				name := f.Names()[0]
				usage := f.(cli.DocGenerationFlag).GetUsage()
				for _, v := range flagValues(p, name) {
					found++
					if !regexp.MustCompile(`\b` + v + `\b`).MatchString(usage) {
						t.Errorf("lenetkit %s --%s: completion offers %q, which its usage does not name: %q", p, name, v, usage)
					}
				}
			}
			check(p, c.Subcommands)
		}
	}
	check("", app.Commands)
	for path, flags := range valuesOfCommand {
		for name := range flags {
			if cmd := commandAt(app.Commands, path); cmd == nil || flagNamed(cmd.Flags, name) == nil {
				t.Errorf("valuesOfCommand has lenetkit %s --%s, which does not exist", path, name)
			}
		}
	}
	if found < 20 {
		t.Errorf("only %d flag values checked", found)
	}
}

func commandAt(cmds []*cli.Command, path string) *cli.Command {
	var cmd *cli.Command
	for _, name := range strings.Fields(path) {
		if cmd = findCommand(cmds, name); cmd == nil {
			return nil
		}
		cmds = cmd.Subcommands
	}
	return cmd
}

// TestHelpJSON: help --format json is the command tree a program can read:
// every command, its flags with their types and defaults, and the words a
// flag takes.
func TestHelpJSON(t *testing.T) {
	t.Parallel()
	type flag struct {
		Name    string   `json:"name"`
		Aliases []string `json:"aliases"`
		Type    string   `json:"type"`
		Default any      `json:"default"`
		Values  []string `json:"values"`
	}
	type node struct {
		Name     string `json:"name"`
		Path     string `json:"path"`
		Flags    []flag `json:"flags"`
		Commands []node `json:"commands"`
	}
	r := run(t, "help", "--format", "json")
	var root node
	if err := json.Unmarshal([]byte(r.stdout), &root); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	find := func(n node, name string) *node {
		for i := range n.Commands {
			if n.Commands[i].Name == name {
				return &n.Commands[i]
			}
		}
		t.Fatalf("%s has no command %s", n.Path, name)
		return nil
	}
	flagOf := func(n *node, name string) flag {
		for _, f := range n.Flags {
			if f.Name == name {
				return f
			}
		}
		t.Fatalf("%s has no flag --%s", n.Path, name)
		return flag{}
	}
	train := find(root, "train")
	if f := flagOf(train, "epochs"); f.Type != "int" || f.Default != float64(10) {
		t.Errorf("train --epochs: %+v", f)
	}
	if f := flagOf(train, "recipe"); f.Default != "published" || strings.Join(f.Values, " ") != "published notebook standard" {
		t.Errorf("train --recipe: %+v", f)
	}
	if f := flagOf(train, "quiet"); f.Type != "bool" || f.Default != false || strings.Join(f.Aliases, " ") != "q" {
		t.Errorf("train --quiet: %+v", f)
	}
	collect := find(*find(root, "sweep"), "collect")
	if collect.Path != "lenetkit sweep collect" || strings.Join(flagOf(collect, "format").Values, " ") != "text json" {
		t.Errorf("sweep collect: %+v", collect)
	}
	if f := flagOf(find(root, "infer"), "format"); strings.Join(f.Values, " ") != "text json csv jsonl" {
		t.Errorf("infer --format: %+v", f)
	}
	for _, c := range root.Commands { // the README: every command takes --format json, -q and --help
		for _, name := range []string{"format", "quiet", "help"} {
			if f := flagOf(&c, name); name == "format" && !slices.Contains(f.Values, "json") {
				t.Errorf("%s --format: %+v", c.Path, f)
			}
		}
	}

	// One command: its node alone.
	r = run(t, "help", "sweep", "collect", "--format", "json")
	var one node
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || r.code != 0 || one.Path != "lenetkit sweep collect" {
		t.Errorf("help sweep collect --format json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
}

// TestBashCompletionRuns sources the bash script and completes as bash
// does on Tab: COMP_WORDS and COMP_CWORD set, COMPREPLY read back.
func TestBashCompletionRuns(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "lenetkit.bash")
	if err := os.WriteFile(script, []byte(run(t, "completion", "bash").stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line string // what is typed before Tab; a trailing space starts a new word
		want string
	}{
		{"lenetkit ev", "eval"},
		{"lenetkit train --recipe ", "published notebook standard"},
		{"lenetkit train --recipe p", "published"},
		{"lenetkit train --dropout-mode ", "row element"},
		{"lenetkit infer --format j", "json jsonl"},
		{"lenetkit eval --backend ", "lenetkit native gorgonia"},
		{"lenetkit train --dropout-m", "--dropout-mode"},
		{"lenetkit help sweep ", "collect"},
	} {
		t.Run(c.line, func(t *testing.T) {
			words := strings.Fields(c.line)
			if strings.HasSuffix(c.line, " ") {
				words = append(words, "")
			}
			cmd := exec.Command(bash, append([]string{"-c", `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); _lenetkit_complete; echo "${COMPREPLY[@]}"`,
				"bash", script}, words...)...)
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(lenetkitBin)+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != c.want {
				t.Errorf("completing %q gave %q (%v), want %q", c.line, out, err, c.want)
			}
		})
	}
}

// TestJSONEverywhere: every command that reports accepts --format json and
// prints one JSON document.
func TestJSONEverywhere(t *testing.T) {
	t.Parallel()
	// eval's JSON document is the same for 64 images as for 10,000, and
	// TestEvalMatchesPyTorch reads its figures on the whole test set.
	data := firstTestImages(t, 64)
	png := filepath.Join(t.TempDir(), "seven.png")
	if err := os.WriteFile(png, pngBytes(t, digitImage(t, 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"inspect", trainedPTH},
		{"summary"},
		{"eval", trainedPTH, "--data", data, "--skip-checksum"},
		{"infer", trainedPTH, png},
		{"convert", trainedPTH, filepath.Join(dir, "m.safetensors")},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := run(t, append(args, "--format", "json")...)
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Errorf("stdout is not one JSON document: %v\n%s", err, r.stdout)
			}
		})
	}
}

// TestErrorsEscapeControlCharacters: a file name carrying an escape
// sequence or a carriage return reaches the terminal as text.
func TestErrorsEscapeControlCharacters(t *testing.T) {
	t.Parallel()
	name := filepath.Join(t.TempDir(), "evil\x1b[2J\rname.pth")
	r := run(t, "inspect", name)
	if r.code != 1 || strings.ContainsAny(r.stderr, "\x1b\r") || !strings.Contains(r.stderr, `evil\x1b[2J\x0dname.pth`) {
		t.Errorf("exit %d, stderr %q: want exit 1 and the name escaped", r.code, r.stderr)
	}
}

// TestInferTableEscapesNames: a file name with a tab and a line break stays
// in its own row of infer's table, quoted.
func TestInferTableEscapesNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(testtool.Testdata("images"), "clean", "00000.png"))
	if err != nil {
		t.Skip("no sample image: ", err)
	}
	name := filepath.Join(dir, "a\tb\n7\t0.9999\tforged.png")
	if err := os.WriteFile(name, src, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "infer", trainedPTH, name)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"`) || strings.Contains(r.stdout, "forged.png\t") {
		t.Errorf("table:\n%s", r.stdout)
	}
}
