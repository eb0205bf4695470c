package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestConventions: help, unknown commands, exit codes and completion behave
// as go, gh and kubectl do.
func TestConventions(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout []string // each must appear on stdout
		stderr []string // each must appear on stderr
	}{
		{"help", []string{"help"}, 0, []string{"COMMANDS:", "train", "inspect", "completion"}, nil},
		{"help train", []string{"help", "train"}, 0, []string{"lenetkit train", "--recipe"}, nil},
		{"train --help", []string{"train", "--help"}, 0, []string{"--freeze-bn-after"}, nil},
		{"unknown command", []string{"bogus"}, 2, nil, []string{`unknown command "bogus"`, "train, convert, infer, eval"}},
		{"unknown flag", []string{"eval", "--bogus", "m.pth"}, 2, nil, []string{"lenetkit: flag provided but not defined: -bogus"}},
		{"wrong arguments", []string{"eval"}, 2, nil, []string{"eval takes one MODEL file"}},
		{"bad flag value", []string{"train", "--recipe", "tuned"}, 2, nil, []string{`recipe "tuned"`}},
		{"bad format", []string{"inspect", trainedPTH, "--format", "yaml"}, 2, nil, []string{`--format "yaml"`}},
		{"runtime error", []string{"inspect", filepath.Join(t.TempDir(), "absent.pth")}, 1, nil, []string{"absent.pth"}},
		{"version", []string{"--version"}, 0, []string{"lenetkit version "}, nil},
		{"completion bash", []string{"completion", "bash"}, 0, []string{"complete ", "--generate-bash-completion", "lenetkit"}, nil},
		{"completion zsh", []string{"completion", "zsh"}, 0, []string{"#compdef lenetkit"}, nil},
		{"completion fish", []string{"completion", "fish"}, 0, []string{"complete -c lenetkit", "train"}, nil},
		{"completion of another shell", []string{"completion", "tcsh"}, 2, nil, []string{`unknown shell "tcsh"`}},
		{"completion words", []string{"--generate-bash-completion"}, 0, []string{"train\n", "eval\n", "inspect\n"}, nil},
		{"quiet", []string{"summary", trainedPTH, "-q"}, 0, []string{"Total params: 126,602"}, nil},
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
			for _, w := range c.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if c.name == "quiet" && r.stderr != "" {
				t.Errorf("-q printed on stderr: %q", r.stderr)
			}
			if c.code != 0 && (strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 || r.stdout != "") {
				t.Errorf("an error should be one line on stderr and nothing on stdout; stdout %q, stderr %q", r.stdout, r.stderr)
			}
		})
	}
}

// TestBashCompletionRuns sources the bash script and asks it to complete
// "lenetkit ev", as bash does on Tab.
func TestBashCompletionRuns(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "lenetkit.bash")
	if err := os.WriteFile(script, []byte(run(t, "completion", "bash").stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "-c", `source "$1"; COMP_WORDS=(lenetkit ev); COMP_CWORD=1; _lenetkit_complete; echo "${COMPREPLY[@]}"`, "bash", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(lenetkitBin)+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "eval" {
		t.Errorf("completing \"lenetkit ev\" gave %q (%v), want eval", out, err)
	}
}

// TestJSONEverywhere: every command that reports accepts --format json and
// prints one JSON document.
func TestJSONEverywhere(t *testing.T) {
	data := realData(t)
	png := filepath.Join(t.TempDir(), "seven.png")
	if err := os.WriteFile(png, pngBytes(t, digitImage(t, 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"inspect", trainedPTH},
		{"summary"},
		{"eval", trainedPTH, "--data", data},
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
