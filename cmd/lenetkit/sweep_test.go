package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSweepShardsCollect: a sweep run whole and the same sweep run as two
// shards, then collected, give the same table; a finished sweep resumes
// without training, and a run left without its result goes on from its
// checkpoint (its last: only the test is left).
func TestSweepShardsCollect(t *testing.T) {
	t.Parallel()
	skipShort(t)
	data := smallData(t, 420, 500) // the 320 trained on and 100 validated, raw: each run reads it
	dir := t.TempDir()
	grid := []string{"sweep", "--data", data, "--skip-checksum", "--dropout", "0,0.5", "--weight-decay", "0.002",
		"--seeds", "0", "--epochs", "1", "--batch-size", "16", "--limit", "320", "--val-size", "100"}
	sweep := func(out string, extra ...string) result {
		t.Helper()
		r := run(t, append(append(append([]string{}, grid...), "--out", filepath.Join(dir, out)), extra...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d:\n%s", out, r.code, r.stderr)
		}
		return r
	}
	whole := sweep("whole", "--format", "json")
	sweep("shard0", "--shard", "0/2")
	sweep("shard1", "--shard", "1/2")
	merged := run(t, "sweep", "collect", filepath.Join(dir, "shard0"), filepath.Join(dir, "shard1"),
		"--out", filepath.Join(dir, "merged"), "--format", "json")
	if merged.code != 0 {
		t.Fatalf("collect: exit %d:\n%s", merged.code, merged.stderr)
	}
	sameSweepTable(t, dir, whole, merged, 2)
	f, err := os.Open(filepath.Join(dir, "merged", "sweep.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() < 600 {
		t.Errorf("sweep.png does not decode as a chart: %v", err)
	}

	// Resume: nothing to train; then a run whose result is gone is tested again.
	if r := sweep("whole"); !strings.Contains(r.stderr, "2 finished already, 0 to train") {
		t.Errorf("second sweep did not skip the finished runs:\n%s", r.stderr)
	}
	if err := os.Remove(filepath.Join(dir, "whole", "runs", "dropout0.5-wd0.002-seed0", "result.json")); err != nil {
		t.Fatal(err)
	}
	if r := sweep("whole"); !strings.Contains(r.stderr, "1 finished already, 1 to train, 1 of them from a checkpoint") ||
		!strings.Contains(r.stderr, "resuming dropout0.5-wd0.002-seed0 after its last epoch") || !strings.Contains(r.stdout, "0.5 ") {
		t.Errorf("sweep did not redo the unfinished run:\n%s\n%s", r.stderr, r.stdout)
	}

	// Overlapping slices are refused rather than counted twice.
	if r := run(t, "sweep", "collect", filepath.Join(dir, "whole"), filepath.Join(dir, "shard0"), "--out", filepath.Join(dir, "x")); r.code != 1 ||
		!strings.Contains(r.stderr, "appears twice") {
		t.Errorf("overlapping slices: exit %d:\n%s", r.code, r.stderr)
	}
}

func TestSweepUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"sweep"}, // no --out
		{"sweep", "--out", "x", "--shard", "2/2"},
		{"sweep", "--out", "x", "--dropout", "0,abc"},
		{"sweep", "--out", "x", "--dropout", "1.5"},
		{"sweep", "--out", "x", "--seeds", "-1"},
		{"sweep", "--out", "x", "--format", "yaml"},
		{"sweep", "collect", "--out", "x"}, // no directories
	} {
		r := run(t, args...)
		if r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, want 2 and one line:\n%s", args, r.code, r.stderr)
		}
	}
	if r := run(t, "sweep", "collect", t.TempDir(), "--out", t.TempDir()); r.code != 1 || !strings.Contains(r.stderr, "not a sweep's directory") {
		t.Errorf("collect of an empty directory: exit %d:\n%s", r.code, r.stderr)
	}
	// An image folder: the sweep is the seed's recipe; train takes it.
	folder, _ := bandFolder(t)
	out := filepath.Join(t.TempDir(), "sweep")
	wantOnlyError(t, run(t, "sweep", "--data", folder, "--out", out), "--data "+folder+": the seed's recipe reads MNIST's IDX files",
		"lenetkit train --data "+folder+" trains the seed's LeNet on it as a graph")
	if _, err := os.Stat(out); err == nil {
		t.Errorf("the refused sweep made %s", out)
	}
}

// sameSweepTable checks that a whole sweep of n cells (the last of dropout
// 0.5), written to dir/whole, and its slices collected into dir/merged
// print the same JSON table, every figure of every cell, and write the same
// sweep.csv.
func sameSweepTable(t *testing.T, dir string, whole, merged result, n int) {
	t.Helper()
	type table struct {
		Configurations []struct {
			Dropout      float64  `json:"dropout"`
			WeightDecay  float64  `json:"weight_decay"`
			Seeds        []uint64 `json:"seeds"`
			AccuracyMean float64  `json:"accuracy_mean"`
			AccuracySD   float64  `json:"accuracy_sd"`
			LossMean     float64  `json:"loss_mean"`
			LossSD       float64  `json:"loss_sd"`
		} `json:"configurations"`
		Runs []json.RawMessage `json:"runs"`
	}
	var a, b table
	if err := json.Unmarshal([]byte(whole.stdout), &a); err != nil {
		t.Fatalf("%v:\n%s", err, whole.stdout)
	}
	if err := json.Unmarshal([]byte(merged.stdout), &b); err != nil {
		t.Fatalf("%v:\n%s", err, merged.stdout)
	}
	if len(a.Configurations) != n || len(a.Runs) != n || a.Configurations[n-1].Dropout != 0.5 || a.Configurations[0].LossMean <= 0 {
		t.Fatalf("whole sweep's table: %+v", a)
	}
	if !reflect.DeepEqual(a.Configurations, b.Configurations) {
		t.Errorf("configurations differ:\nwhole:     %+v\ncollected: %+v", a.Configurations, b.Configurations)
	}
	csvWhole, _ := os.ReadFile(filepath.Join(dir, "whole", "sweep.csv"))
	csvMerged, _ := os.ReadFile(filepath.Join(dir, "merged", "sweep.csv"))
	if len(csvWhole) == 0 || string(csvWhole) != string(csvMerged) {
		t.Errorf("sweep.csv differs:\nwhole:\n%s\ncollected:\n%s", csvWhole, csvMerged)
	}
}
