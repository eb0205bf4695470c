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
	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/report"
	"github.com/lenetkit/lenetkit/runlog"
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

Run again, sweep goes on where it stopped: a finished run (result.json) is
kept, and a run stopped part way goes on from the checkpoint its directory
holds (written at every epoch's end and when the sweep is stopped), as
train --resume does, ending with the weights an uninterrupted run ends with.

A run in OUT counts only if it was trained with the settings asked for now:
its config.json, result.json and checkpoint are checked against every
setting that changes the result (epochs, batch size, limit, val size,
recipe and switch point, dropout mode, learning rates, the data's SHA-256).
One that differs is an error naming the setting, and --force trains it
again in its place. The table holds only the grid asked for, whatever else
OUT holds.

The recipe is standard by default: under published or notebook, dropout is
off once training switches to eval mode (after 79 steps, or the first epoch),
so a dropout study there would measure only the first steps.

Beyond one machine, --shard I/N runs the I-th (from 0) of N slices of the
grid: an array job's index (Slurm's SLURM_ARRAY_TASK_ID, a Kubernetes
Indexed Job's JOB_COMPLETION_INDEX). Each slice writes its own OUT; then
"lenetkit sweep collect" merges them into the table one whole sweep gives,
refusing runs trained with other settings than the rest.

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
			&cli.BoolFlag{Name: "force", Usage: "train again, in place, the runs in OUT trained with other settings"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json (the table on stdout)"},
		},
		Action: runSweep,
		Subcommands: []*cli.Command{{
			Name:      "collect",
			Usage:     "merge the slices of a sharded sweep into one table",
			ArgsUsage: "DIR...",
			Description: `Reads every finished run under each DIR/runs and writes the table, CSV, JSON
and chart a whole sweep writes, into --out. A run found twice is an error,
and so is one trained with other settings than the rest (epochs, limit,
recipe, data, ...): the slices must be of one sweep.

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
		return unknownCommand("sweep", c.Args().First(), c.Command.Subcommands)
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

	// Before the data is read and the first run trained, not after.
	if err := flagError("--out", atomicfile.CheckDir(out)); err != nil {
		return err
	}
	status := statusOut(c)
	ctx, stop := stopContext(c.Context, status, "the run under way goes on from its checkpoint when the sweep is resumed")
	defer stop()
	// The data is part of what a finished run is checked against, so it is
	// read even when nothing is left to train.
	_, trainSet, testSet, err := loadMNIST(ctx, c.String("data"), c.Bool("skip-checksum"))
	if err != nil {
		return err
	}
	data := train.DataDigest(trainSet, testSet)
	steps, err := train.Steps(base, trainSet.N)
	if err != nil {
		return err
	}
	runs := make([]runState, len(cells))
	var conflicts []string
	for i, cell := range cells {
		dir := filepath.Join(out, "runs", cell.Name())
		cfg := cellConfig(base, cell)
		if runs[i], err = inspectRun(dir, cell, append(cfg.Settings(steps), dataSetting(data)), steps); err != nil {
			return err
		}
		if runs[i].conflict != "" {
			conflicts = append(conflicts, runs[i].conflict)
		}
	}
	if len(conflicts) > 0 && !c.Bool("force") {
		more := ""
		if len(conflicts) > 1 {
			more = fmt.Sprintf(" (%s more of this grid in %s differ)", nouns(len(conflicts)-1, "run"), out)
		}
		return fmt.Errorf("%s%s: use another --out, or --force to retrain", conflicts[0], more)
	}
	var todo []int
	resumed := 0
	for i := range runs {
		if runs[i].conflict != "" {
			fmt.Fprintf(status, "sweep: --force: %s; training it again\n", runs[i].conflict)
			runs[i] = runState{}
		}
		if runs[i].result == nil {
			todo = append(todo, i)
		}
		if runs[i].from != nil {
			resumed++
		}
	}
	from := ""
	if resumed > 0 {
		from = fmt.Sprintf(", %d of them from a checkpoint", resumed)
	}
	fmt.Fprintf(status, "sweep: %s in this slice, %d finished already, %d to train%s (recipe %s, %s)\n",
		nouns(len(cells), "run"), len(cells)-len(todo), len(todo), from, base.Recipe, nouns(base.Epochs, "epoch"))
	for k, i := range todo {
		cell, st := cells[i], runs[i].from
		if st != nil {
			fmt.Fprintf(status, "run %d/%d: resuming %s %s\n", k+1, len(todo), cell.Name(), resumePoint(st, steps))
		} else {
			fmt.Fprintf(status, "run %d/%d: %s\n", k+1, len(todo), cell.Name())
		}
		r, err := sweepOne(ctx, c, status, cellConfig(base, cell), cell, st, data, trainSet, testSet, steps, filepath.Join(out, "runs", cell.Name()))
		if errors.Is(err, errStopped) {
			return cli.Exit(fmt.Sprintf("stopped by signal during %s; %d of %s of this slice finished; run the same command to resume (that run goes on from its checkpoint)",
				cell.Name(), len(cells)-len(todo)+k, nouns(len(cells), "run")), 130)
		}
		if err != nil {
			return err
		}
		runs[i].result = &r
		fmt.Fprintf(status, "run %d/%d: %s: accuracy %.2f%%, loss %.4f, %.0f s\n", k+1, len(todo), cell.Name(), r.Accuracy, r.Loss, r.Seconds)
	}
	// Only the grid asked for: OUT may hold other runs, from a larger grid
	// or other settings, which this table is not about.
	results := make([]train.CellResult, len(runs))
	for i := range runs {
		results[i] = *runs[i].result
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

// dataSetting is the data among a run's settings; the digest is cut short,
// as git's are, to keep the message that shows it one readable line.
func dataSetting(digest string) train.Setting {
	return train.Setting{Name: "data", Value: "sha256 " + digest[:min(12, len(digest))]}
}

func resumePoint(st *train.State, steps int) string {
	switch {
	case st.Epoch > st.Config.Epochs:
		return fmt.Sprintf("after its last epoch (%d): the test is left", st.Config.Epochs)
	case st.Step == 0:
		return fmt.Sprintf("from epoch %d", st.Epoch)
	}
	return fmt.Sprintf("from epoch %d, step %d of %d", st.Epoch, st.Step, steps)
}

// runResult is a run's result.json: its figures, and the data it was
// trained and tested on (config.json has its other settings).
type runResult struct {
	train.CellResult
	Data string `json:"data_sha256,omitempty"`
}

// A runState is what a run's directory holds for the run a sweep asks for.
type runState struct {
	result *train.CellResult // finished
	from   *train.State      // stopped, with a checkpoint to go on from
	// conflict says why the directory is no part of this sweep: what
	// differs from the run asked for, or what could not be read.
	conflict string
}

// inspectRun reads dir, the directory of cell, against want, the settings
// of the run the sweep asks for. Every record the directory keeps
// (config.json, result.json, checkpoint.pth) must agree with want, or it
// counts for nothing: a run of other settings is neither finished nor to
// be continued, whatever it holds.
func inspectRun(dir string, cell train.Cell, want []train.Setting, steps int) (runState, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return runState{}, nil
	} else if err != nil {
		return runState{}, err
	}
	unreadable := func(err error) (runState, error) {
		return runState{conflict: fmt.Sprintf("%s cannot be read (%v)", dir, err)}, nil
	}
	var records [][]train.Setting
	cfg, err := runConfig(filepath.Join(dir, runlog.ConfigName))
	if err == nil {
		records = append(records, cfg.Settings(steps))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return unreadable(err)
	}
	var st runState
	r, err := readResult(dir)
	switch {
	case err == nil:
		if r.Data != "" {
			records = append(records, []train.Setting{dataSetting(r.Data)})
		}
		if r.Cell.Name() != cell.Name() {
			return runState{conflict: fmt.Sprintf("%s holds run %s", dir, r.Cell.Name())}, nil
		}
		if len(records) == 0 {
			return runState{conflict: fmt.Sprintf("%s has no config.json: the settings it was trained with are unknown", dir)}, nil
		}
		st.result = &r.CellResult
	case !errors.Is(err, fs.ErrNotExist):
		return unreadable(err)
	default:
		from, err := train.LoadCheckpoint(filepath.Join(dir, checkpointName))
		if err == nil {
			rec := from.Config.Settings(steps)
			if d := from.Caller["data"]; d != "" {
				rec = append(rec, dataSetting(d))
			}
			records = append(records, rec)
			// Checked here, before sweepOne rewrites the run's log.
			if err := from.Fits(steps); err != nil {
				return unreadable(err)
			}
			st.from = from
		} else if !errors.Is(err, fs.ErrNotExist) {
			return unreadable(err)
		}
	}
	for _, rec := range records {
		if d := train.Diff(rec, want); len(d) > 0 {
			return runState{conflict: describeDiff(dir+" was trained with", "this sweep asks for", d)}, nil
		}
	}
	return st, nil
}

// describeDiff says what differs in one phrase: "A epochs 1, B 2" for one
// setting, "A epochs 1 and limit 320, B epochs 2 and limit 640" for more.
func describeDiff(was, want string, ds []train.Difference) string {
	var a, b []string
	for _, d := range ds {
		a = append(a, d.Name+" "+d.Was)
		b = append(b, d.Name+" "+d.Want)
	}
	if len(ds) == 1 {
		b[0] = ds[0].Want
	}
	return fmt.Sprintf("%s %s, %s %s", was, strings.Join(a, " and "), want, strings.Join(b, " and "))
}

// runConfig reads the configuration a run's config.json records (newRunLog
// writes it; train.ConfigFromRecord says how it reads).
func runConfig(path string) (train.Config, error) {
	rec, err := runlog.ReadConfig(path)
	if err != nil {
		return train.Config{}, err
	}
	cfg, err := train.ConfigFromRecord(rec)
	if err != nil {
		return train.Config{}, fmt.Errorf("%s: %v", path, err)
	}
	return cfg, nil
}

func readResult(dir string) (runResult, error) {
	path := filepath.Join(dir, resultFile)
	b, err := safeio.ReadFile(path, modelfile.MaxRunRecordBytes)
	if err != nil {
		return runResult{}, err
	}
	var r runResult
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %v", path, err)
	}
	if err := r.CellResult.Validate(); err != nil {
		return r, fmt.Errorf("%s: %v", path, err)
	}
	return r, nil
}

// sweepOne trains one cell into dir: from the checkpoint from when it is
// not nil, as train --resume does, else afresh in a directory it empties.
// steps is an epoch's, the same for every cell (train.Steps of the grid's
// base settings).
func sweepOne(ctx context.Context, c *cli.Context, status *os.File, cfg train.Config, cell train.Cell, from *train.State,
	data string, trainSet, testSet *mnist.Set, steps int, dir string) (train.CellResult, error) {
	var log *runLog
	var err error
	if from != nil {
		log, err = resumeRunLog(dir, from.GlobalStep, from.Epoch)
	} else {
		if err := os.RemoveAll(dir); err != nil {
			return train.CellResult{}, err
		}
		log, err = newRunLog(dir, cfg, steps)
	}
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
		Checkpoint: runCheckpoint(dir, data),
	}
	start := time.Now()
	var res *train.Result
	if from != nil {
		res, err = train.Resume(ctx, from, trainSet, testSet, hooks)
	} else {
		res, err = train.Run(ctx, cfg, trainSet, testSet, hooks)
	}
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
	b, err := json.MarshalIndent(runResult{r, data}, "", "  ")
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

// runCheckpoint saves a sweep run's checkpoint in its directory, as train
// --log-dir does, with the digest of its data, which a resumed sweep
// checks; out and log_dir let train --resume DIR go on with it too.
func runCheckpoint(dir, data string) func(*train.State) error {
	path := filepath.Join(dir, checkpointName)
	return func(st *train.State) error {
		st.Caller = map[string]string{train.CallerOut: filepath.Join(dir, "parameter.pth"), train.CallerLogDir: dir, "data": data}
		return train.SaveCheckpoint(path, st)
	}
}

// cellSettings are the settings that tell the cells of a grid apart.
var cellSettings = map[string]bool{"dropout": true, "weight-decay": true, "seed": true}

// readResults reads every finished run under dir/runs, and checks that
// they were all trained alike, but for their cells: slices of one sweep.
func readResults(dirs ...string) ([]train.CellResult, error) {
	var out []train.CellResult
	var first []train.Setting
	var firstDir string
	for _, dir := range dirs {
		entries, err := os.ReadDir(filepath.Join(dir, "runs"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: not a sweep's directory (no runs/ in it)", dir)
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			run := filepath.Join(dir, "runs", e.Name())
			r, err := readResult(run)
			if errors.Is(err, fs.ErrNotExist) {
				continue // unfinished
			}
			if err != nil {
				return nil, err
			}
			if r.Cell.Name() != e.Name() {
				return nil, fmt.Errorf("%s: holds run %s, not %s", filepath.Join(run, resultFile), r.Cell.Name(), e.Name())
			}
			// The switch point config.json records is a step already: no
			// steps per epoch are needed to compare it.
			cfg, err := runConfig(filepath.Join(run, runlog.ConfigName))
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s has no config.json: the settings it was trained with cannot be checked against the other runs'", run)
			}
			if err != nil {
				return nil, err
			}
			var rec []train.Setting
			for _, s := range cfg.Settings(0) {
				if !cellSettings[s.Name] {
					rec = append(rec, s)
				}
			}
			if r.Data != "" {
				rec = append(rec, dataSetting(r.Data))
			}
			if first == nil {
				first, firstDir = rec, run
			} else if d := train.Diff(rec, first); len(d) > 0 {
				return nil, fmt.Errorf("%s: collect the slices of one sweep only",
					describeDiff(run+" was trained with", firstDir+" with", d))
			}
			out = append(out, r.CellResult)
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
	if err := flagError("--out", atomicfile.CheckDir(out)); err != nil {
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
	most, least := 0, -1
	for i, s := range sum {
		points[i] = report.SweepPoint{Dropout: s.Dropout, WeightDecay: s.WeightDecay,
			AccuracyMean: s.AccuracyMean, AccuracySD: s.AccuracySD, LossMean: s.LossMean, LossSD: s.LossSD}
		most = max(most, len(s.Seeds))
		if least < 0 || len(s.Seeds) < least {
			least = len(s.Seeds)
		}
	}
	over := "one run each"
	switch {
	case least != most:
		over = fmt.Sprintf("mean ± sd over %d to %d seeds", least, most)
	case most > 1:
		over = fmt.Sprintf("mean ± sd over %d seeds", most)
	}
	png, err := report.SweepChart(points, "Dropout x weight decay: test figures, "+over)
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(png); return err })
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
