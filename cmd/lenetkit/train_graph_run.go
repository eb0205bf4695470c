package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/train"
)

// graphJob is a --model run as the command sets it up: every check of the
// flags, the model, the data and (resuming) the checkpoint is made while
// it is built, before anything is written.
type graphJob struct {
	c                         *cli.Context
	res                       *graphResume // nil for a new run
	status                    *os.File
	path, out, extra          string // the model file, the graph and state dict written
	builtin                   bool   // path names the built-in LeNet (builtinLeNet)
	auto                      string // the --data that makes the run train the built-in unasked; "" when asked
	logDir, ckpt              string // ckpt "": the run keeps no checkpoint
	m                         *onnx.Model
	cfg                       train.GraphConfig
	data                      *dataset.Data
	trainSet, valSet, testSet *dataset.Set
}

// runTrainGraph is lenetkit train --model: the graph trained on --data
// (MNIST by default) with Adam under OneCycleLR, written as the same graph
// with the new weights. With res it resumes the run res's checkpoint
// holds (train.ResumeGraph), on the graph and data it trained. auto, when
// not empty, is the --data that the seed's recipe cannot read, which
// makes the run train the built-in LeNet without --model.
func runTrainGraph(c *cli.Context, res *graphResume, auto string) error {
	j, err := newGraphJob(c, res, auto)
	if err != nil {
		return err
	}
	stopping := "then writing the checkpoint " + j.ckpt
	if j.ckpt == "" {
		stopping = "without writing the model"
	}
	ctx, stop := stopContext(c.Context, j.status, stopping)
	defer stop()
	start := time.Now()
	var log *runLog
	defer func() { log.Close() }()
	prog := newProgress(j.status)
	hooks := j.hooks(prog, &log, start)
	var r *train.GraphResult
	if res != nil {
		r, err = train.ResumeGraph(ctx, j.m, res.st, j.trainSet, j.valSet, j.testSet, hooks)
	} else {
		r, err = train.TrainGraph(ctx, j.m, j.cfg, j.trainSet, j.valSet, j.testSet, hooks)
	}
	if err != nil {
		return graphRunError(err, j.cfg, j.out, j.ckpt)
	}
	if r.Stopped {
		prog.finish()
		return j.stopped(r.StoppedAt)
	}
	trainedMetadata(j.m, r.Steps)
	if err := writeGraph(j.m, j.cfg.Prep, j.data.Classes, j.out, j.extra, c.Bool("force")); err != nil {
		return err
	}
	if r.Test.Images > 0 {
		log.graphTest(r)
	}
	if err := log.Close(); err != nil {
		return fmt.Errorf("--log-dir: %w", err)
	}
	return printGraphSummary(c.App.Writer, c.String("format"), j.out, j.extra, j.data, r, time.Since(start))
}

// newGraphJob checks the flags, reads the model (the run's, resuming) and
// the data, and makes the graph the run trains.
func newGraphJob(c *cli.Context, res *graphResume, auto string) (*graphJob, error) {
	for _, f := range seedOnlyFlags {
		if c.IsSet(f) && res != nil {
			return nil, usageError("--%s with --resume: a resumed run keeps its checkpoint's configuration", f)
		}
		if c.IsSet(f) && auto != "" {
			return nil, usageError("--%s belongs to the seed's recipe, which reads MNIST's IDX files, not --data %s: the seed's LeNet trains on that as a graph (--model %s), "+
				"which takes --epochs, --batch-size, --max-lr, --weight-decay, --limit, --seed and the data flags", f, auto, builtinLeNet)
		}
		if c.IsSet(f) {
			return nil, usageError("--%s with --model: it belongs to the seed's recipe; a --model run takes --epochs, --batch-size, --max-lr, --weight-decay, --limit, --seed and the data flags", f)
		}
	}
	if err := checkFormat(c.String("format"), "text", "json"); err != nil {
		return nil, err
	}
	j := &graphJob{c: c, res: res, status: statusOut(c), path: c.String("model"), auto: auto}
	if auto != "" {
		j.path = builtinLeNet
	}
	var err error
	if res != nil {
		if j.path, err = applyResume(c, res, j.status); err != nil {
			return nil, err
		}
	}
	j.builtin = auto != "" || isBuiltin(j.path)
	var m *onnx.Model
	var sum string
	if j.builtin {
		seed := c.Uint64("seed")
		if res != nil {
			seed = res.st.Config.Seed
		}
		m, sum, err = builtinGraph(seed)
	} else {
		m, sum, err = loadTrainableSum(j.path)
	}
	if err != nil && res != nil && !c.IsSet("model") {
		return nil, fmt.Errorf("--resume: the run's model: %w: give it with --model", err)
	}
	if err != nil {
		return nil, err
	}
	if res != nil {
		if err := checkResumedModel(c, res, j.path, sum); err != nil {
			return nil, err
		}
		if out := c.String("out"); !c.Bool("force") && errors.Is(train.CheckUnfinished(res.st, out), train.ErrFinished) {
			return nil, fmt.Errorf("--resume %s: the run is finished already: its model is %s (lenetkit eval %s); nothing to resume", c.String("resume"), out, out)
		}
	}
	j.m = m
	if j.out, j.extra, err = graphOutputs(c, j.path); err != nil {
		return nil, err
	}
	if j.cfg, err = graphSetup(c, res, m, j.path, sum, j.builtin, j.status); err != nil {
		return nil, err
	}
	j.logDir, j.ckpt = c.String("log-dir"), train.CheckpointPath(j.out, c.String("log-dir"))
	if res != nil {
		j.ckpt = res.ckpt
	}
	for _, out := range []string{j.out, j.extra} {
		if err := outIsCheckpoint(out, j.ckpt); out != "" && err != nil {
			return nil, err
		}
	}
	if err := j.openData(); err != nil {
		return nil, err
	}
	if err := train.CheckpointFits(m); err != nil {
		// Training goes on as before checkpoints were kept, and says so.
		fmt.Fprintf(j.status, "note: no checkpoint: %v; a stopped run cannot be resumed\n", strings.TrimPrefix(err.Error(), "train: "))
		j.ckpt = ""
	}
	return j, nil
}

// hooks report the run's progress, keep its log in *log (created, or
// rewound when resuming, once the run has started) and its checkpoint.
func (j *graphJob) hooks(prog *progress, log **runLog, start time.Time) train.GraphHooks {
	h := train.GraphHooks{
		Start: func() (err error) {
			if st := j.res.state(); st != nil {
				fmt.Fprintf(j.status, "resuming from %s: epoch %d after step %d (step %d overall)\n", j.ckpt, st.Epoch, st.Step, st.GlobalStep)
				if j.logDir != "" {
					*log, err = resumeRunLog(j.logDir, st.GlobalStep, st.Epoch)
				}
				return err
			}
			*log, err = graphRunLog(j.c, j.cfg, j.path, j.data, lenOf(j.valSet), start)
			return err
		},
		Step: func(e train.StepEvent) {
			prog.step(e, j.cfg.BatchSize)
			(*log).step(e)
		},
		Epoch: func(e train.GraphEpoch) {
			prog.finish()
			fmt.Fprintf(j.status, "epoch %d: train loss %.4f, validation accuracy %.2f %%, loss %.4f (%.1f s)\n",
				e.Epoch, e.TrainLoss, e.Val.Accuracy, e.Val.Loss, e.Duration.Seconds())
			(*log).graphEpoch(e)
		},
	}
	if j.ckpt != "" {
		h.Checkpoint = func(st *train.GraphState) error {
			asked := j.out // the name graphOutputs makes out and extra from again
			if j.extra != "" {
				asked = j.extra
			}
			st.Caller = graphCaller(j.c, asked, j.logDir)
			return train.SaveGraphCheckpoint(j.ckpt, st)
		}
	}
	return h
}

// stopped is how a run stopped by a signal ends: where its checkpoint is
// and how to go on.
func (j *graphJob) stopped(s train.StepEvent) error {
	if j.ckpt == "" {
		return cli.Exit(fmt.Sprintf("stopped by signal; %s not written", j.out), 130)
	}
	again := j.ckpt
	if j.logDir != "" {
		again = j.logDir
	}
	return cli.Exit(fmt.Sprintf("stopped by signal after epoch %d, step %d of %d (step %d of %d overall); %s not written; the run is in %s: continue it with lenetkit train --resume %s",
		s.Epoch, s.Step, s.StepsPerEpoch, s.GlobalStep, s.TotalSteps, j.out, j.ckpt, again), 130)
}
