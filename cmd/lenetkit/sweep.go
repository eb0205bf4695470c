package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/atomicfile"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/report"
	"github.com/lenetkit/lenetkit/train"
)

func sweepCommand() *cli.Command {
	d := train.DefaultConfig()
	onUsage := func(_ *cli.Context, err error, _ bool) error { return cli.Exit(err.Error(), exitUsage) }
	return &cli.Command{
		Name:      "sweep",
		Usage:     "train every combination of dropout and weight decay: the seed's study",
		ArgsUsage: " ",
		Description: `The seed set out to "analyze the performance under different configurations of
dropout and weight decay". sweep trains every combination, once per seed,
and writes a table of the test figures (mean and sd over the seeds) as text,
CSV and JSON, and a chart:
   OUT/runs/dropoutD-wdW-seedS/   each run: config.json, metrics.jsonl,
                                  report.html, parameter.pth, result.json
   OUT/sweep.txt, sweep.csv, sweep.json, sweep.png

A run whose result.json exists is skipped, so an interrupted sweep resumes.
The recipe is standard by default: under published or notebook, dropout is
off once training switches to eval mode (after 79 steps, or the first epoch),
so a dropout study there would measure only the first steps.

Beyond one machine, --shard I/N runs the I-th (from 0) of N slices of the
grid: an array job's index (Slurm's SLURM_ARRAY_TASK_ID, a Kubernetes
Indexed Job's JOB_COMPLETION_INDEX). Each slice writes its own OUT; then
"lenetkit sweep collect" merges them into the table one whole sweep gives.

Examples:
   lenetkit sweep --out study                      # 3 x 3 grid, 3 seeds, 10 epochs
   lenetkit sweep --epochs 1 --limit 6400 --seeds 0 --out quick
   lenetkit sweep --shard $JOB_COMPLETION_INDEX/4 --out study/shard-$JOB_COMPLETION_INDEX
   lenetkit sweep collect study/shard-* --out study`,
		Flags: []cli.Flag{
			dataFlag, skipChecksumFlag,
			&cli.StringFlag{Name: "dropout", Value: "0,0.3,0.5", Usage: "dropout probabilities, comma-separated"},
			&cli.StringFlag{Name: "weight-decay", Value: "0,0.002,0.01", Usage: "Adam's coupled weight decays, comma-separated"},
			&cli.StringFlag{Name: "seeds", Value: "0,1,2", Usage: "seeds, comma-separated"},
			&cli.IntFlag{Name: "epochs", Value: d.Epochs},
			&cli.IntFlag{Name: "batch-size", Value: d.BatchSize},
			&cli.IntFlag{Name: "limit", Usage: "train on only the first N images of the training split (quick sweeps)"},
			&cli.IntFlag{Name: "val-size", Value: d.ValSize, Usage: "images of the training set held out for validation"},
			&cli.StringFlag{Name: "recipe", Value: string(train.RecipeStandard), Usage: "standard, published or notebook (see lenetkit train --help)"},
			&cli.StringFlag{Name: "dropout-mode", Value: string(d.DropoutMode), Usage: "row (Dropout1d, as the seed) or element"},
			&cli.StringFlag{Name: "shard", Usage: "run only slice I of N (I/N, I from 0) of the grid"},
			&cli.StringFlag{Name: "out", Usage: "directory for the runs and the table (required)"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json (the table on stdout)"},
		},
		Action: runSweep,
		Subcommands: []*cli.Command{{
			Name:      "collect",
			Usage:     "merge the slices of a sharded sweep into one table",
			ArgsUsage: "DIR...",
			Description: `Reads every finished run under each DIR/runs and writes the table, CSV, JSON
and chart a whole sweep writes, into --out. A run found twice is an error.

Example:
   lenetkit sweep collect study/shard-0 study/shard-1 --out study`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Usage: "directory for the merged table (required)"},
				&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json (the table on stdout)"},
				quietFlag,
			},
			OnUsageError: onUsage,
			Action:       runSweepCollect,
		}},
	}
}

func runSweep(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError("sweep takes no arguments, got %q (did you mean lenetkit sweep collect?)", c.Args().First())
	}
	out, format := c.String("out"), c.String("format")
	if out == "" {
		return usageError("sweep needs --out DIR")
	}
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	var grid train.Grid
	var err error
	if grid.Dropouts, err = parseFloats("--dropout", c.String("dropout")); err != nil {
		return err
	}
	if grid.WeightDecays, err = parseFloats("--weight-decay", c.String("weight-decay")); err != nil {
		return err
	}
	if grid.Seeds, err = parseSeeds(c.String("seeds")); err != nil {
		return err
	}
	if err := grid.Validate(); err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	cells := grid.Cells()
	if s := c.String("shard"); s != "" {
		i, n, err := train.ParseShard(s)
		if err != nil {
			return usageError("--shard: %v", err)
		}
		cells, _ = train.Shard(cells, i, n)
	}
	base := train.DefaultConfig()
	base.Epochs, base.BatchSize, base.Limit, base.ValSize = c.Int("epochs"), c.Int("batch-size"), c.Int("limit"), c.Int("val-size")
	base.Recipe, base.DropoutMode = train.Recipe(c.String("recipe")), train.DropoutMode(c.String("dropout-mode"))
	for _, cell := range cells {
		if err := cellConfig(base, cell).Validate(); err != nil {
			return cli.Exit(err.Error(), exitUsage)
		}
	}

	status := statusOut(c)
	ctx, stop := stopContext(c.Context, status, "the run under way starts again when the sweep is resumed")
	defer stop()
	var todo []train.Cell
	for _, cell := range cells {
		if _, err := os.Stat(filepath.Join(out, "runs", cell.Name(), resultFile)); err != nil {
			todo = append(todo, cell)
		}
	}
	fmt.Fprintf(status, "sweep: %d runs in this slice, %d finished already, %d to train (recipe %s, %d epochs)\n",
		len(cells), len(cells)-len(todo), len(todo), base.Recipe, base.Epochs)
	if len(todo) > 0 {
		_, trainSet, testSet, err := loadMNIST(ctx, c)
		if err != nil {
			return err
		}
		for k, cell := range todo {
			fmt.Fprintf(status, "run %d/%d: %s\n", k+1, len(todo), cell.Name())
			r, err := sweepOne(ctx, c, status, cellConfig(base, cell), cell, trainSet, testSet, filepath.Join(out, "runs", cell.Name()))
			if errors.Is(err, errStopped) {
				return cli.Exit(fmt.Sprintf("stopped by signal during %s; %d of %d runs of this slice finished; run the same command to resume",
					cell.Name(), len(cells)-len(todo)+k, len(cells)), 130)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(status, "run %d/%d: %s: accuracy %.2f%%, loss %.4f, %.0f s\n", k+1, len(todo), cell.Name(), r.Accuracy, r.Loss, r.Seconds)
		}
	}
	results, err := readResults(out)
	if err != nil {
		return err
	}
	return writeSweepTable(c, out, format, results)
}

// errStopped is a run ended by a signal.
var errStopped = errors.New("stopped")

// resultFile marks a finished run; it is written last.
const resultFile = "result.json"

func cellConfig(base train.Config, c train.Cell) train.Config {
	cfg := base
	cfg.Dropout, cfg.WeightDecay, cfg.Seed = c.Dropout, c.WeightDecay, c.Seed
	return cfg
}

// sweepOne trains one cell into dir, which it replaces: a run without its
// result.json was interrupted and starts again.
func sweepOne(ctx context.Context, c *cli.Context, status *os.File, cfg train.Config, cell train.Cell,
	trainSet, testSet *mnist.Set, dir string) (train.CellResult, error) {
	if err := os.RemoveAll(dir); err != nil {
		return train.CellResult{}, err
	}
	steps := min(trainSet.N-cfg.ValSize, limitOr(cfg.Limit, trainSet.N)) / cfg.BatchSize
	log, err := newRunLog(dir, cfg, steps)
	if err != nil {
		return train.CellResult{}, err
	}
	defer log.Close()
	defer log.finalReport(io.Discard, c.App.ErrWriter)
	prog := newProgress(status)
	hooks := train.Hooks{
		Step: func(e train.StepEvent) { prog.step(e, cfg.BatchSize); log.step(e) },
		Epoch: func(e train.EpochEvent) {
			prog.epoch(e)
			log.epoch(e)
		},
	}
	start := time.Now()
	res, err := train.Run(ctx, cfg, trainSet, testSet, hooks)
	if err != nil {
		return train.CellResult{}, err
	}
	if res.Stopped {
		prog.finish()
		return train.CellResult{}, errStopped
	}
	if err := convert.SavePTH(filepath.Join(dir, "parameter.pth"), res.StateDict); err != nil {
		return train.CellResult{}, err
	}
	log.test(res)
	r := train.CellResult{Cell: cell, Accuracy: res.Test.Accuracy, Loss: res.Test.Loss, Seconds: time.Since(start).Seconds()}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return r, err
	}
	path := filepath.Join(dir, resultFile)
	err = atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return r, fmt.Errorf("write %s: %w", path, err)
	}
	return r, nil
}

// readResults reads every finished run under dir/runs.
func readResults(dirs ...string) ([]train.CellResult, error) {
	var out []train.CellResult
	for _, dir := range dirs {
		entries, err := os.ReadDir(filepath.Join(dir, "runs"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: not a sweep's directory (no runs/ in it)", dir)
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			path := filepath.Join(dir, "runs", e.Name(), resultFile)
			b, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue // unfinished
			}
			if err != nil {
				return nil, err
			}
			var r train.CellResult
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
			if r.Cell.Name() != e.Name() {
				return nil, fmt.Errorf("%s: holds run %s, not %s", path, r.Cell.Name(), e.Name())
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func runSweepCollect(c *cli.Context) error {
	out, format := c.String("out"), c.String("format")
	if c.NArg() == 0 {
		return usageError("sweep collect takes the slices' directories, got none")
	}
	if out == "" {
		return usageError("sweep collect needs --out DIR")
	}
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	results, err := readResults(c.Args().Slice()...)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return writeSweepTable(c, out, format, results)
}

// sweepTable is sweep.json: the summary per configuration and every run.
type sweepTable struct {
	Configurations []train.Summary    `json:"configurations"`
	Runs           []train.CellResult `json:"runs"`
	Seed           struct {
		Accuracy float64 `json:"accuracy"`
		Loss     float64 `json:"loss"`
	} `json:"seed_reported"`
	Files []string `json:"files"`
}

func writeSweepTable(c *cli.Context, out, format string, results []train.CellResult) error {
	if len(results) == 0 {
		return fmt.Errorf("%s: no finished runs to summarise", out)
	}
	sum, err := train.Summarize(results)
	if err != nil {
		return err
	}
	t := sweepTable{Configurations: sum, Runs: results}
	t.Seed.Accuracy, t.Seed.Loss = 99.16, 0.0253
	var text, csv strings.Builder
	fmt.Fprintf(&text, "%-8s %-13s %-6s %-18s %-18s\n", "dropout", "weight_decay", "seeds", "test accuracy %", "test loss")
	fmt.Fprintln(&csv, "dropout,weight_decay,seeds,accuracy_mean,accuracy_sd,loss_mean,loss_sd")
	for _, s := range sum {
		fmt.Fprintf(&text, "%-8g %-13g %-6d %6.2f ± %-9.2f %.4f ± %.4f\n", s.Dropout, s.WeightDecay, len(s.Seeds),
			s.AccuracyMean, s.AccuracySD, s.LossMean, s.LossSD)
		fmt.Fprintf(&csv, "%g,%g,%d,%.4f,%.4f,%.6f,%.6f\n", s.Dropout, s.WeightDecay, len(s.Seeds),
			s.AccuracyMean, s.AccuracySD, s.LossMean, s.LossSD)
	}
	fmt.Fprintf(&text, "seed's notebook (dropout 0.3, weight decay 0.002, one run): 99.16%% / 0.0253\n")
	files := map[string][]byte{"sweep.txt": []byte(text.String()), "sweep.csv": []byte(csv.String())}
	for _, name := range []string{"sweep.txt", "sweep.csv", "sweep.json"} {
		t.Files = append(t.Files, filepath.Join(out, name))
	}
	chart := filepath.Join(out, "sweep.png")
	if err := writeSweepChart(chart, sum); err != nil {
		return err
	}
	t.Files = append(t.Files, chart)
	js, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	files["sweep.json"] = append(js, '\n')
	for name, b := range files {
		path := filepath.Join(out, name)
		err := atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(b); return err })
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if format == "json" {
		return printJSON(c.App.Writer, t)
	}
	fmt.Fprint(c.App.Writer, text.String())
	fmt.Fprintf(statusOut(c), "wrote %s\n", strings.Join(t.Files, ", "))
	return nil
}

func parseFloats(flag, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, usageError("%s %q: %q is not a number", flag, s, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, usageError("--seeds %q: %q is not a seed (a non-negative integer)", s, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func writeSweepChart(path string, sum []train.Summary) error {
	points := make([]report.SweepPoint, len(sum))
	seeds := 0
	for i, s := range sum {
		points[i] = report.SweepPoint{Dropout: s.Dropout, WeightDecay: s.WeightDecay,
			AccuracyMean: s.AccuracyMean, AccuracySD: s.AccuracySD, LossMean: s.LossMean, LossSD: s.LossSD}
		seeds = max(seeds, len(s.Seeds))
	}
	png, err := report.SweepChart(points, fmt.Sprintf("Dropout x weight decay: test figures, mean ± sd over up to %d seeds", seeds))
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(png); return err })
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
