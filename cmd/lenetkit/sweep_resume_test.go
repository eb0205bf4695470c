package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/train"
)

// realSets is MNIST, read once for every test that cuts a small copy.
var realSets = sync.OnceValues(func() ([2]*mnist.Set, error) {
	var sets [2]*mnist.Set
	src, err := mnist.Locate(context.Background(), "")
	for i, part := range []string{"train", "test"} {
		if err == nil {
			sets[i], err = mnist.Load(src.Dir, part, mnist.Options{})
		}
	}
	return sets, err
})

// smallData writes the first nTrain training and nTest test images of
// MNIST into a directory of their own, uncompressed: a sweep's every run
// reads the data, and 60,000 gzipped images would cost it more than its
// training does here.
func smallData(t *testing.T, nTrain, nTest int) string {
	t.Helper()
	sets, err := realSets()
	if err != nil {
		testtool.Missing(t, "MNIST not available: "+err.Error())
	}
	dir := t.TempDir()
	for i, prefix := range []string{"train", "t10k"} {
		s, n := sets[i], []int{nTrain, nTest}[i]
		px := s.Rows * s.Cols
		for _, f := range []struct {
			name  string
			magic uint32
			dims  []int
			body  []byte
		}{
			{prefix + "-images-idx3-ubyte", 0x803, []int{n, s.Rows, s.Cols}, s.Images[:n*px]},
			{prefix + "-labels-idx1-ubyte", 0x801, []int{n}, s.Labels[:n]},
		} {
			b := binary.BigEndian.AppendUint32(nil, f.magic)
			for _, d := range f.dims {
				b = binary.BigEndian.AppendUint32(b, uint32(d))
			}
			if err := os.WriteFile(filepath.Join(dir, f.name), append(b, f.body...), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// sweepArgs is a tiny sweep's command line: 10 steps an epoch. over replaces or adds flags; order is kept so that a flag is
// never given twice.
func sweepArgs(data, out string, over map[string]string) []string {
	flags := map[string]string{"--data": data, "--dropout": "0", "--weight-decay": "0", "--seeds": "0", "--epochs": "1",
		"--batch-size": "16", "--limit": "160", "--val-size": "100", "--out": out}
	for k, v := range over {
		flags[k] = v
	}
	args := []string{"sweep", "--skip-checksum"}
	for _, k := range []string{"--data", "--dropout", "--weight-decay", "--seeds", "--epochs", "--batch-size", "--limit",
		"--val-size", "--recipe", "--dropout-mode", "--out", "--format"} {
		if v, ok := flags[k]; ok {
			args = append(args, k, v)
		}
	}
	return args
}

// snapshot is every file under dir with a digest of its contents and its
// modification time: what "left alone" means.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[path] = string(sum[:]) + info.ModTime().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

type sweepJSON struct {
	Configurations []struct {
		Dropout     float64  `json:"dropout"`
		WeightDecay float64  `json:"weight_decay"`
		Seeds       []uint64 `json:"seeds"`
	} `json:"configurations"`
	Runs []train.CellResult `json:"runs"`
}

func readSweepJSON(t *testing.T, out string) sweepJSON {
	t.Helper()
	var s sweepJSON
	b, err := os.ReadFile(filepath.Join(out, "sweep.json"))
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSweepSettingsChanged: a run in OUT counts only if it was trained with
// the settings asked for. A sweep asking for others is refused in one
// line naming the setting, leaving OUT as it was; --force trains the run
// again; the table holds only the grid asked for; collect refuses slices
// of different settings.
func TestSweepSettingsChanged(t *testing.T) {
	t.Parallel()
	data := smallData(t, 1000, 500)
	out := filepath.Join(t.TempDir(), "quick")
	if r := run(t, sweepArgs(data, out, map[string]string{"--dropout": "0,0.5"})...); r.code != 0 {
		t.Fatalf("first sweep: exit %d:\n%s", r.code, r.stderr)
	}
	before := snapshot(t, out)

	cases := []struct {
		name string
		over map[string]string
		want string
	}{
		{"epochs", map[string]string{"--epochs": "2"},
			"runs/dropout0-wd0-seed0 was trained with epochs 1, this sweep asks for 2: use another --out, or --force to retrain"},
		{"limit, second run of the grid", map[string]string{"--dropout": "0.5", "--limit": "320"},
			"runs/dropout0.5-wd0-seed0 was trained with limit 160, this sweep asks for 320:"},
		{"recipe and its switch point", map[string]string{"--recipe": "published"},
			"was trained with recipe standard and freeze-bn-after none, this sweep asks for recipe published and freeze-bn-after 79:"},
		{"data", map[string]string{"--data": smallData(t, 1000, 400)}, "was trained with data sha256 "},
	}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, c := range cases {
		r := run(t, sweepArgs(data, out, c.over)...)
		if r.code != 1 || r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and one line with %q", c.name, r.code, r.stderr, c.want)
		}
	}
	after := snapshot(t, out)
	for path, v := range before {
		if after[path] != v {
			t.Errorf("a refused sweep changed %s", path)
		}
	}
	if len(after) != len(before) {
		t.Errorf("a refused sweep left %d files where there were %d", len(after), len(before))
	}

	// A smaller grid of the same settings: its finished run, and only it.
	r := run(t, sweepArgs(data, out, map[string]string{"--dropout": "0.5"})...)
	if r.code != 0 || !strings.Contains(r.stderr, "1 finished already, 0 to train") {
		t.Fatalf("subset: exit %d:\n%s", r.code, r.stderr)
	}
	if s := readSweepJSON(t, out); len(s.Runs) != 1 || len(s.Configurations) != 1 || s.Configurations[0].Dropout != 0.5 {
		t.Errorf("the subset's table holds %+v, want dropout 0.5 alone", s)
	}

	// --force trains the differing run again, in place.
	if testing.Short() {
		return
	}
	r = run(t, append(sweepArgs(data, out, map[string]string{"--epochs": "2"}), "--force")...)
	if r.code != 0 || !strings.Contains(r.stderr, "0 finished already, 1 to train") || !strings.Contains(r.stderr, "was trained with epochs 1") {
		t.Fatalf("--force: exit %d:\n%s", r.code, r.stderr)
	}
	if cfg, err := runConfig(filepath.Join(out, "runs", "dropout0-wd0-seed0", "config.json")); err != nil || cfg.Epochs != 2 {
		t.Errorf("after --force the run's config.json says %+v (%v), want 2 epochs", cfg, err)
	}
	if s := readSweepJSON(t, out); len(s.Runs) != 1 || len(s.Configurations) != 1 || s.Configurations[0].Dropout != 0 {
		t.Errorf("the forced sweep's table holds %+v, want dropout 0 alone", s)
	}
	// OUT now holds runs of 1 and 2 epochs: not one sweep.
	r = run(t, "sweep", "collect", out, "--out", filepath.Join(t.TempDir(), "merged"))
	if r.code != 1 || !strings.Contains(r.stderr, "with epochs") || !strings.Contains(r.stderr, "collect the slices of one sweep only") {
		t.Errorf("collect of mixed settings: exit %d:\n%s", r.code, r.stderr)
	}
}

// TestSweepResume: a sweep run left part way, its checkpoint in its
// directory as a stopped sweep leaves it, goes on from there and ends with
// the weights, figures and log of an uninterrupted run, bit for bit. The
// interruptions are made with the library, at chosen steps, rather than
// with a signal that may come too late.
func TestSweepResume(t *testing.T) {
	t.Parallel()
	skipShort(t)
	data := smallData(t, 1000, 500)
	dir := t.TempDir()
	over := map[string]string{"--dropout": "0.3", "--weight-decay": "0.002", "--seeds": "1", "--epochs": "3"}
	whole := filepath.Join(dir, "whole")
	if r := run(t, sweepArgs(data, whole, over)...); r.code != 0 {
		t.Fatalf("uninterrupted sweep: exit %d:\n%s", r.code, r.stderr)
	}
	cell := train.Cell{Dropout: 0.3, WeightDecay: 0.002, Seed: 1}
	wantSD, err := convert.ReadPTH(filepath.Join(whole, "runs", cell.Name(), "parameter.pth"))
	if err != nil {
		t.Fatal(err)
	}
	wantRes, err := readResult(filepath.Join(whole, "runs", cell.Name()))
	if err != nil {
		t.Fatal(err)
	}

	trainSet, err := mnist.Load(data, "train", mnist.Options{SkipChecksum: true})
	if err != nil {
		t.Fatal(err)
	}
	testSet, err := mnist.Load(data, "test", mnist.Options{SkipChecksum: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.DefaultConfig()
	cfg.Epochs, cfg.BatchSize, cfg.Limit, cfg.ValSize, cfg.Recipe = 3, 16, 160, 100, train.RecipeStandard
	cfg = cellConfig(cfg, cell)
	errKilled := errors.New("killed")

	for _, c := range []struct {
		name      string
		stopAt    int // cancel after this step
		killAfter int // end the run with an error after this epoch's checkpoint, as kill -9 would
		want      string
	}{
		{"stopped mid-epoch", 17, 0, "run 1/1: resuming dropout0.3-wd0.002-seed1 from epoch 2, step 7 of 10"},
		{"killed after an epoch", 0, 2, "run 1/1: resuming dropout0.3-wd0.002-seed1 from epoch 3\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			runDir := filepath.Join(out, "runs", cell.Name())
			log, err := newRunLog(runDir, cfg, 10)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			save := runCheckpoint(runDir, train.DataDigest(trainSet, testSet))
			hooks := train.Hooks{
				Step: func(e train.StepEvent) {
					log.step(e)
					if e.GlobalStep == c.stopAt {
						cancel()
					}
				},
				Epoch: log.epoch,
				Checkpoint: func(st *train.State) error {
					if err := save(st); err != nil || st.Epoch != c.killAfter+1 || st.Step != 0 {
						return err
					}
					return errKilled
				},
			}
			res, err := train.Run(ctx, cfg, trainSet, testSet, hooks)
			log.Close()
			if c.killAfter > 0 && !errors.Is(err, errKilled) || c.stopAt > 0 && (err != nil || !res.Stopped) {
				t.Fatalf("the interrupted run: %v", err)
			}

			// A checkpoint of other settings is no run of this sweep.
			r := run(t, sweepArgs(data, out, map[string]string{"--dropout": "0.3", "--weight-decay": "0.002", "--seeds": "1", "--epochs": "4"})...)
			if r.code != 1 || !strings.Contains(r.stderr, "was trained with epochs 3, this sweep asks for 4") {
				t.Errorf("a stopped run of other settings: exit %d:\n%s", r.code, r.stderr)
			}

			r = run(t, sweepArgs(data, out, over)...)
			if r.code != 0 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "1 of them from a checkpoint") {
				t.Fatalf("resume: exit %d, want %q in:\n%s", r.code, c.want, r.stderr)
			}
			got, err := convert.ReadPTH(filepath.Join(runDir, "parameter.pth"))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(wantSD) {
				t.Fatalf("%d tensors, uninterrupted run %d", len(got), len(wantSD))
			}
			for i := range got {
				a, b := got[i], wantSD[i]
				same := a.Name == b.Name && len(a.F32) == len(b.F32) && len(a.I64) == len(b.I64)
				for j := 0; same && j < len(a.F32); j++ {
					same = math.Float32bits(a.F32[j]) == math.Float32bits(b.F32[j])
				}
				for j := 0; same && j < len(a.I64); j++ {
					same = a.I64[j] == b.I64[j]
				}
				if !same {
					t.Errorf("%s differs from the uninterrupted run's", a.Name)
				}
			}
			gotRes, err := readResult(runDir)
			if err != nil {
				t.Fatal(err)
			}
			if gotRes.Accuracy != wantRes.Accuracy || gotRes.Loss != wantRes.Loss || gotRes.Data != wantRes.Data {
				t.Errorf("result.json %+v, uninterrupted %+v", gotRes, wantRes)
			}
			// The log reads as one run's: every step once, in order, and
			// every epoch.
			b, _ := os.ReadFile(filepath.Join(runDir, "metrics.jsonl"))
			next, epochs := 1, 0
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var m struct {
					Step    *int     `json:"step"`
					ValLoss *float64 `json:"val_loss"`
				}
				json.Unmarshal([]byte(line), &m)
				if m.Step != nil {
					if *m.Step != next {
						t.Fatalf("metrics.jsonl: step %d where %d was due", *m.Step, next)
					}
					next++
				} else if m.ValLoss != nil {
					epochs++
				}
			}
			if next != 31 || epochs != 3 {
				t.Errorf("metrics.jsonl logs %d steps and %d epochs, want 30 and 3", next-1, epochs)
			}
		})
	}
}
