package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// A readmeCommand is one command of a ```sh block in README.md: its
// continuation lines joined, its comment apart.
type readmeCommand struct {
	line    int    // where it starts in README.md
	text    string // as a reader types it
	comment string // the trailing comment, without its #
}

// readmeCommands reads the commands a reader would type from README.md's
// ```sh blocks. Other blocks (python, yaml, dockerfile) are not shell, and a
// block that starts with #! is a script file shown whole, not typed: the
// Slurm array, which TestSlurmSweep submits.
func readmeCommands(readme []byte) ([]readmeCommand, error) {
	var cmds []readmeCommand
	sc := bufio.NewScanner(bytes.NewReader(readme))
	n, inBlock, sh, first := 0, false, false, false
	var cur *readmeCommand
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			if inBlock && cur != nil {
				return nil, fmt.Errorf("README.md:%d: the block ends in a continued line", cur.line)
			}
			inBlock = !inBlock
			sh = inBlock && strings.TrimSpace(line) == "```sh"
			first = true
			continue
		}
		if !inBlock || !sh {
			continue
		}
		if first && strings.HasPrefix(line, "#!") {
			sh = false
			continue
		}
		first = false
		code, comment := splitComment(line)
		code = strings.TrimSpace(code)
		cont := strings.HasSuffix(code, `\`)
		code = strings.TrimSpace(strings.TrimSuffix(code, `\`))
		switch {
		case cur != nil:
			cur.text += " " + code
			if comment != "" {
				cur.comment = strings.TrimSpace(cur.comment + " " + comment)
			}
		case code != "":
			cur = &readmeCommand{line: n, text: code, comment: comment}
		default:
			continue // a comment alone, or a blank line
		}
		if !cont {
			cmds = append(cmds, *cur)
			cur = nil
		}
	}
	return cmds, sc.Err()
}

// splitComment splits a shell line at a # that starts a word outside quotes.
func splitComment(line string) (code, comment string) {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i], strings.TrimSpace(line[i+1:])
		}
	}
	return line, ""
}

// readmeSkipped are the commands the test does not run, by how they start,
// and why. A command neither here nor run (lenetkit, Debian's python3) fails
// the test, so that a new kind is placed on purpose.
var readmeSkipped = []struct{ prefix, why string }{
	{"go test ", "the test suite itself"},
	{"apt-get ", "installs system packages"},
	{"(cd reference && npm ci", "installs packages from npm"},
	{"go install ", "installs into the reader's GOBIN"},
	{"sbatch ", "needs a Slurm cluster"},
	{"kubectl ", "needs a Kubernetes cluster"},
	{"docker ", "needs a Docker daemon"},
}

// readmeShorter turns the README's long runs into short ones of the same
// commands: what is checked is that each command works as written, not
// what it reaches. The first entry whose prefix the command has applies;
// each flag's value replaces the README's, or the flag is added.
var readmeShorter = []struct {
	prefix string
	flags  []string // flag, value, flag, value, ...
}{
	// A resumed run keeps its checkpoint's settings and refuses others.
	{"lenetkit train --resume", nil},
	// A graph's run takes no --val-size, which is the seed recipe's.
	{"lenetkit train --model", []string{"--epochs", "1", "--limit", "1280"}},
	// The image folder the README makes is 20 images here (--n below).
	{"lenetkit train --data folders/photo", []string{"--epochs", "1", "--batch-size", "4"}},
	{"lenetkit train", []string{"--epochs", "1", "--limit", "1280", "--val-size", "1000"}},
	{"lenetkit sweep collect", nil},
	{"lenetkit sweep", []string{"--epochs", "1", "--limit", "640", "--val-size", "1000", "--seeds", "0", "--dropout", "0", "--weight-decay", "0"}},
	// One round: three would start each peer three times a measurement.
	{"lenetkit bench", []string{"--steps", "3", "--seconds", "0.2", "--rounds", "1"}},
	{"/usr/bin/python3 reference/photo_digits.py make", []string{"--n", "20"}},
}

// readmePython is what each script the README runs imports, so that a
// reader without PyTorch still has the photo sets checked; a script not
// named here is taken to need PyTorch.
var readmePython = map[string][]string{
	"reference/photo_digits.py": {"numpy", "PIL"},
}

// A readmeRun is a README command as the test runs it.
type readmeRun struct {
	readmeCommand
	run       string   // the command line run
	skip      string   // why it is not run, if it is not
	python    []string // modules it needs, if it runs Debian's python3
	fashion   bool     // it reads Debian's Fashion-MNIST
	interrupt bool     // stopped with SIGINT once it has written a checkpoint, as the reader does with Ctrl-C
	fails     bool     // marked "# fails: ...": it must exit non-zero
}

func planREADME(cmds []readmeCommand) ([]readmeRun, error) {
	var runs []readmeRun
	var errs []error
	for _, c := range cmds {
		r := readmeRun{readmeCommand: c}
		text := strings.ReplaceAll(c.text, "go run ./cmd/lenetkit ", "lenetkit ")
		for _, s := range readmeSkipped {
			if strings.HasPrefix(text, s.prefix) {
				r.skip = s.why
				break
			}
		}
		r.fails = strings.HasPrefix(c.comment, "fails:")
		r.fashion = strings.Contains(text, testtool.FashionMNISTDir)
		r.interrupt = strings.Contains(c.comment, "Ctrl-C")
		if r.skip == "" {
			var segs []string
			for _, seg := range strings.Split(text, " | ") {
				seg = strings.TrimSpace(seg)
				words := strings.Fields(seg)
				switch {
				case len(words) == 0:
				case words[0] == "lenetkit":
				case words[0] == testtool.Python && len(words) > 1:
					mods, ok := readmePython[words[1]]
					if !ok {
						mods = []string{"torch"}
					}
					r.python = append(r.python, mods...)
				default:
					errs = append(errs, fmt.Errorf("README.md:%d: %q: neither run nor skipped by TestREADME; add it to readmeSkipped or teach the test to run it", c.line, seg))
				}
				segs = append(segs, shorten(seg, r.interrupt))
			}
			r.run = strings.Join(segs, " | ")
			if r.interrupt && (!strings.HasPrefix(r.run, "lenetkit train ") || strings.ContainsAny(r.run, "|&;<>()$*?'\"`\\")) {
				errs = append(errs, fmt.Errorf("README.md:%d: only a plain lenetkit train can be interrupted, not %q", c.line, c.text))
			}
		}
		runs = append(runs, r)
	}
	return runs, errors.Join(errs...)
}

// writtenBy is what a command line says it writes: its --out and --log-dir.
func writtenBy(cmd string) []string {
	var paths []string
	words := strings.Fields(cmd)
	for i := 0; i+1 < len(words); i++ {
		if words[i] == "--out" || words[i] == "--log-dir" {
			paths = append(paths, words[i+1])
		}
	}
	return paths
}

// shorten applies readmeShorter to one command of a pipeline.
func shorten(cmd string, interrupted bool) string {
	for _, s := range readmeShorter {
		if cmd != s.prefix && !strings.HasPrefix(cmd, s.prefix+" ") {
			continue
		}
		words := strings.Fields(cmd)
		for i := 0; i+1 < len(s.flags); i += 2 {
			flag, value := s.flags[i], s.flags[i+1]
			if interrupted && flag == "--epochs" {
				// The checkpoint the test waits for comes at an epoch's
				// end; epochs after it leave time for the signal to land.
				value = "3"
			}
			set := false
			for j, w := range words {
				if w == flag && j+1 < len(words) {
					words[j+1], set = value, true
				} else if strings.HasPrefix(w, flag+"=") {
					words[j], set = flag+"="+value, true
				}
			}
			if !set {
				words = append(words, flag, value)
			}
		}
		return strings.Join(words, " ")
	}
	return cmd
}

func readREADME(t *testing.T) []readmeRun {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := readmeCommands(b)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := planREADME(cmds)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// TestREADMECommandsKnown keeps the README and TestREADME in step in the
// quick loop too: every command in the README is one the test runs or
// skips by name.
func TestREADMECommandsKnown(t *testing.T) {
	t.Parallel()
	runs := readREADME(t)
	ran := 0
	for _, r := range runs {
		if r.skip == "" {
			ran++
		}
	}
	if ran == 0 {
		t.Fatal("no command of README.md would run: is the block syntax still ```sh?")
	}
}

// TestREADMECommandsParse: what counts as a command, on the shapes the
// README uses.
func TestREADMECommandsParse(t *testing.T) {
	t.Parallel()
	md := "```sh\n" +
		"go run ./cmd/lenetkit train --epochs 12   # long \n" +
		"lenetkit infer m.pth 'a #b' \\\n" +
		"  | /usr/bin/python3 reference/photo_digits.py score x   # ours\n" +
		"                # a comment alone\n" +
		"lenetkit train --log-dir r # ... Ctrl-C\n" +
		"lenetkit eval nothing.pth  # fails: no such file\n" +
		"```\n" +
		"```sh\n#!/bin/bash\nexec lenetkit sweep\n```\n" +
		"```python\nlenetkit train\n```\n"
	cmds, err := readmeCommands([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := planREADME(cmds)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%d %s interrupt=%v fails=%v python=%v", r.line, r.run, r.interrupt, r.fails, r.python))
	}
	want := []string{
		"2 lenetkit train --epochs 1 --limit 1280 --val-size 1000 interrupt=false fails=false python=[]",
		"3 lenetkit infer m.pth 'a #b' | /usr/bin/python3 reference/photo_digits.py score x interrupt=false fails=false python=[numpy PIL]",
		"6 lenetkit train --log-dir r --epochs 3 --limit 1280 --val-size 1000 interrupt=true fails=false python=[]",
		"7 lenetkit eval nothing.pth interrupt=false fails=true python=[]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := planREADME([]readmeCommand{{line: 1, text: "curl -O x"}}); err == nil {
		t.Error("a command neither run nor skipped passed")
	}
	for _, r := range runs {
		if r.fashion {
			t.Errorf("README.md:%d: %s: taken to read Fashion-MNIST", r.line, r.run)
		}
	}
	fashion, err := planREADME([]readmeCommand{{line: 1, text: "lenetkit train --model m.onnx --data " + testtool.FashionMNISTDir + " --log-dir runs/f --out f.safetensors"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := writtenBy(fashion[0].run); !fashion[0].fashion || !slices.Equal(w, []string{"runs/f", "f.safetensors"}) {
		t.Errorf("%s: fashion=%v, writes %q; want true, [runs/f f.safetensors]", fashion[0].run, fashion[0].fashion, w)
	}
}

// TestREADME runs every command of README.md's ```sh blocks, in order, in
// one temporary directory, as a reader would from the repository's root:
// testdata/, reference/ and docs/ are linked there, and lenetkit on PATH is
// the command built for these tests (go run ./cmd/lenetkit becomes
// lenetkit). Long runs are shortened by readmeShorter. Two trailing
// comments change what is expected: "# ... Ctrl-C" on a train stops it with
// SIGINT once it has written a checkpoint (exit 130), as the reader does, and
// "# fails: why" expects a non-zero exit.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the README's commands train and evaluate on the real MNIST")
	}
	t.Parallel()
	realData(t)
	runs := readREADME(t)
	dir := t.TempDir()
	for _, name := range []string{"testdata", "reference", "docs"} {
		if err := os.Symlink(filepath.Join(testtool.RepoRoot(), name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "PATH="+filepath.Dir(lenetkitBin)+string(os.PathListSeparator)+os.Getenv("PATH"))

	start := time.Now()
	done := map[string]int{}
	unwritten := map[string]int{} // what a skipped command would have written, and its line
	ran := 0
	for _, r := range runs {
		name := fmt.Sprintf("README.md:%d", r.line)
		ok := t.Run(name, func(t *testing.T) {
			if r.skip != "" {
				t.Skipf("%s: %s", r.text, r.skip)
			}
			for path, at := range unwritten {
				if slices.Contains(strings.Fields(r.run), path) {
					t.Skipf("%s: reads %s, which README.md:%d was skipped before writing", r.text, path, at)
				}
			}
			if r.fashion {
				defer func() {
					if t.Skipped() {
						for _, path := range writtenBy(r.run) {
							unwritten[path] = r.line
						}
					}
				}()
				testtool.FashionMNIST(t)
			}
			if at, ok := done[r.run]; ok {
				// A reader who ran it there has its output already, and
				// the command refuses to replace it.
				t.Skipf("%s: run at README.md:%d already", r.text, at)
			}
			if len(r.python) > 0 {
				testtool.RequirePython(t, r.python...)
			}
			t0 := time.Now()
			code, stdout, stderr := runREADMECommand(t, dir, env, r)
			t.Logf("%s (%.1fs, exit %d)", r.run, time.Since(t0).Seconds(), code)
			switch {
			case r.interrupt && code != 130:
				t.Fatalf("%s\nran as: %s\nafter SIGINT: exit %d, want 130 (a stop after the checkpoint)\nstderr:\n%s", r.text, r.run, code, stderr)
			case r.fails && code == 0:
				t.Fatalf("%s\nran as: %s\nexit 0; the README says it fails\nstdout:\n%s", r.text, r.run, tail(stdout, 20))
			case !r.interrupt && !r.fails && code != 0:
				t.Fatalf("%s\nran as: %s\nexit %d\nstderr:\n%s\nstdout (end):\n%s", r.text, r.run, code, stderr, tail(stdout, 20))
			}
			done[r.run] = r.line
			ran++
		})
		if !ok {
			t.Fatalf("stopped at README.md:%d: the commands after it may need its output", r.line)
		}
	}
	t.Logf("%d README commands run, %d skipped, in %.1fs", ran, len(runs)-ran, time.Since(start).Seconds())
	checkIgnored(t, dir)
}

// checkIgnored fails for anything the README's commands wrote that
// .gitignore leaves showing as untracked in a reader's clone.
func checkIgnored(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 {
			continue
		}
		name := e.Name()
		if e.IsDir() {
			name += "/" // so that a pattern for folders (/sets/) applies
		}
		cmd := exec.Command("git", "check-ignore", "--no-index", "-q", name)
		cmd.Dir = testtool.RepoRoot()
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee) && ee.ExitCode() == 1:
			t.Errorf("the README's commands write %s in the repository's root, and .gitignore leaves it untracked: add /%s", name, name)
		default:
			// A source tree that is not a git clone has nothing to keep clean.
			t.Logf("git check-ignore %s: %v: .gitignore not checked", name, err)
			return
		}
	}
}

// runREADMECommand runs one command in dir; through bash where it is more
// than a plain command (a pipeline), and directly where it must be
// interrupted, so that the signal reaches lenetkit itself.
func runREADMECommand(t *testing.T, dir string, env []string, r readmeRun) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if r.interrupt {
		cmd = exec.CommandContext(ctx, lenetkitBin, strings.Fields(r.run)[1:]...)
	} else {
		cmd = exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", r.run)
	}
	cmd.Dir, cmd.Env = dir, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if r.interrupt {
		ckpt := filepath.Join(dir, checkpointOf(strings.Fields(r.run)))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		for {
			if _, err := os.Stat(ckpt); err == nil {
				cmd.Process.Signal(syscall.SIGINT)
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("%s\nran as: %s\nended (%v) before writing %s, so there was nothing to interrupt\nstderr:\n%s", r.text, r.run, err, ckpt, errb.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		<-exited
	} else {
		cmd.Wait()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s\nran as: %s\nstill running after 3 minutes\nstderr:\n%s", r.text, r.run, errb.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// checkpointOf is where train writes its checkpoint: in --log-dir, or
// beside --out.
func checkpointOf(args []string) string {
	out, logDir := "parameter.pth", ""
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--out":
			out = args[i+1]
		case "--log-dir":
			logDir = args[i+1]
		}
	}
	if logDir != "" {
		return filepath.Join(logDir, checkpointName)
	}
	return strings.TrimSuffix(out, filepath.Ext(out)) + ".checkpoint.pth"
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
