package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// requireSlurm returns sbatch's path once a controller answers and a node
// can take jobs, or skips (fails under CI=true, whose .ci/run starts one)
// saying what is missing. The answer is the probe's that TestMain started.
func requireSlurm(t *testing.T) string {
	t.Helper()
	startSlurmProbe()
	<-slurmProbe.done
	if slurmProbe.missing != "" {
		testtool.Missing(t, slurmProbe.missing)
	}
	return slurmProbe.sbatch
}

// slurmProbe asks Slurm whether it takes jobs, once per test binary and in
// the background from TestMain on: without a controller sinfo retries for
// about 10 s, which TestSlurmSweep would otherwise spend holding one of the
// few parallel test slots before it skips.
var slurmProbe struct {
	once    sync.Once
	done    chan struct{}
	cancel  context.CancelFunc
	sbatch  string
	missing string // why Slurm cannot be used, "" when it can
}

// startSlurmProbe starts the probe unless it has started.
func startSlurmProbe() {
	slurmProbe.once.Do(func() {
		slurmProbe.done = make(chan struct{})
		// sinfo retries a missing slurm.conf for a minute; a skip should not wait that long.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		slurmProbe.cancel = cancel
		go func() {
			defer close(slurmProbe.done)
			slurmProbe.sbatch, slurmProbe.missing = probeSlurm(ctx)
		}()
	})
}

// stopSlurmProbe ends a probe still waiting on sinfo, for a test binary
// that is done.
func stopSlurmProbe() {
	if slurmProbe.cancel != nil {
		slurmProbe.cancel()
	}
}

func probeSlurm(ctx context.Context) (sbatch, missing string) {
	sbatch, err := exec.LookPath("sbatch")
	if err != nil {
		return "", "sbatch not found (install Debian's slurm-wlm and munge, then run scripts/slurm-local.sh as root)"
	}
	out, err := exec.CommandContext(ctx, "sinfo", "-h", "-N", "-t", "idle,mix,alloc", "-o", "%N").CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	if ctx.Err() != nil {
		return "", "no Slurm controller answered sinfo within 15 s (run scripts/slurm-local.sh as root): " + msg
	}
	if err != nil {
		return "", fmt.Sprintf("no Slurm controller answers sinfo (run scripts/slurm-local.sh as root): %v: %s", err, msg)
	}
	if strings.TrimSpace(string(out)) == "" {
		return "", "Slurm has no node up to take jobs (see sinfo; scripts/slurm-local.sh starts one)"
	}
	return sbatch, ""
}

// TestSlurmSweep submits the README's array script, docs/slurm/sweep.sbatch,
// to a real Slurm (scripts/slurm-local.sh starts one on this machine): its
// three tasks train three slices of a small grid, and sweep collect merges
// them into the table the same sweep run whole gives.
func TestSlurmSweep(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: no Slurm jobs")
	}
	sbatch := requireSlurm(t)
	data := smallData(t, 420, 500) // the 320 trained on and 100 validated, raw: each run reads it
	dir := t.TempDir()
	grid := []string{"--skip-checksum", "--dropout", "0,0.3,0.5", "--weight-decay", "0", "--seeds", "0",
		"--epochs", "1", "--batch-size", "16", "--limit", "320", "--val-size", "100"}

	// One CPU a task, not the script's two: a two-core node then runs two
	// tasks at once, and a one-core node can run them at all. The
	// environment reaches the tasks (--export=ALL); the data directory goes
	// by LENETKIT_DATA since a task need not see the go command's module cache.
	args := []string{"--array=0-2", "--cpus-per-task=1", "--time=00:10:00", "--export=ALL", "--wait", "--parsable",
		"--chdir", dir, "--output", filepath.Join(dir, "slurm-%A_%a.out"), filepath.Join(testtool.RepoRoot(), "docs", "slurm", "sweep.sbatch")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sbatch, args...)
	cmd.Env = append(os.Environ(), "LENETKIT="+lenetkitBin, "LENETKIT_DATA="+data,
		"LENETKIT_SWEEP_ARGS="+strings.Join(grid, " "))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		err := cmd.Wait()
		t.Fatalf("sbatch %s: no job id: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	job := strings.Split(strings.TrimSpace(lines.Text()), ";")[0]
	t.Logf("sbatch %s: job %s", strings.Join(args, " "), job)
	go func() {
		for lines.Scan() {
		}
		done <- cmd.Wait()
	}()
	waited := false
	defer func() {
		if !waited || ctx.Err() != nil { // a job left behind would hold the node
			exec.Command("scancel", job).Run()
		}
	}()
	squeue := func() string {
		out, _ := exec.Command("squeue", "-r", "-j", job, "-o", "%.10i %.9T %.8M %R").CombinedOutput()
		return strings.TrimRight(string(out), "\n")
	}
	t.Logf("squeue:\n%s", squeue())

	// The whole sweep trains while the tasks wait or run.
	whole := run(t, append(append([]string{"sweep", "--data", data}, grid...), "--out", filepath.Join(dir, "whole"), "--format", "json")...)
	if whole.code != 0 {
		t.Fatalf("whole sweep: exit %d:\n%s", whole.code, whole.stderr)
	}

	last := ""
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for !waited {
		select {
		case err = <-done:
			waited = true
		case <-tick.C:
			if q := squeue(); q != last {
				t.Logf("squeue:\n%s", q)
				last = q
			}
		}
	}
	outputs, _ := filepath.Glob(filepath.Join(dir, "slurm-*.out"))
	var logs strings.Builder
	var finished []string // each task's line for its run
	for _, o := range outputs {
		b, _ := os.ReadFile(o)
		fmt.Fprintf(&logs, "%s:\n%s\n", filepath.Base(o), b)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "run ") && strings.Contains(line, "accuracy") {
				finished = append(finished, filepath.Base(o)+": "+line)
			}
		}
	}
	if err != nil {
		t.Fatalf("sbatch --wait: %v (%v)\n%s\n%s", err, ctx.Err(), stderr.String(), logs.String())
	}
	t.Logf("job %s done:\n%s", job, strings.Join(finished, "\n"))

	shards := make([]string, 3)
	for i := range shards {
		shards[i] = filepath.Join(dir, "study", fmt.Sprintf("shard-%d", i))
		if runs, _ := filepath.Glob(filepath.Join(shards[i], "runs", "*", "result.json")); len(runs) != 1 {
			t.Fatalf("task %d: want one finished run in %s, got %d\n%s", i, shards[i], len(runs), logs.String())
		}
	}
	merged := run(t, append(append([]string{"sweep", "collect"}, shards...), "--out", filepath.Join(dir, "merged"), "--format", "json")...)
	if merged.code != 0 {
		t.Fatalf("collect: exit %d:\n%s", merged.code, merged.stderr)
	}
	sameSweepTable(t, dir, whole, merged, 3)
}

// TestSlurmScriptInREADME: the README shows the array script that
// TestSlurmSweep submits, as it is.
func TestSlurmScriptInREADME(t *testing.T) {
	t.Parallel()
	script, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "docs", "slurm", "sweep.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append([]byte("```sh\n"), append(script, "```\n"...)...)) {
		t.Errorf("README.md's Slurm block is not docs/slurm/sweep.sbatch; copy the file into it:\n%s", script)
	}
}
