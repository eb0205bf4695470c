package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/internal/safeio"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnxtrain"
	"github.com/lenetkit/lenetkit/train"
)

// graphResume is a --model run's checkpoint that --resume names.
type graphResume struct {
	ckpt string
	st   *train.GraphState
}

// findResume reads the checkpoint --resume names when it is a --model
// run's: nil, nil for the seed's, which runTrain resumes as it always has.
func findResume(c *cli.Context) (*graphResume, error) {
	r := c.String("resume")
	if r == "" {
		return nil, nil
	}
	ckpt, err := resumeCheckpoint(r)
	if err != nil {
		return nil, err
	}
	st, err := train.LoadGraphCheckpoint(ckpt)
	switch {
	case err == nil:
		return &graphResume{ckpt, st}, nil
	case errors.Is(err, train.ErrSeedCheckpoint) && c.IsSet("model"):
		return nil, usageError("--resume %s: %s is a checkpoint of the seed's LeNet, not of a --model run: resume it without --model", r, ckpt)
	case errors.Is(err, train.ErrSeedCheckpoint):
		return nil, nil
	case errors.Is(err, convert.ErrNotCheckpoint):
		return nil, fmt.Errorf("--resume %s: %s is not a lenetkit checkpoint: name a run's --log-dir, or the checkpoint.pth in it", r, ckpt)
	}
	if errors.Is(err, safeio.ErrNotRegular) || errors.Is(err, modelfile.ErrLimit) {
		return nil, fmt.Errorf("--resume %s: %w", r, err) // what it is says what to do
	}
	return nil, fmt.Errorf("--resume %s: %s is damaged (%v): resume from an intact copy, or start the run again", r, ckpt, err)
}

// graphConfigFlags are the flags a --model run's checkpoint fixes: a
// resumed run keeps them (--data may name a moved copy of the data).
var graphConfigFlags = []string{"epochs", "batch-size", "max-lr", "weight-decay", "limit", "seed",
	"freeze", "classes", "init", "augment", "val", "mean", "std", "prep", "labels"}

// The GraphState.Caller entries beside train's own (CallerOut,
// CallerLogDir): how the data was opened, as its flags were given, so that
// --resume reads the same data the same way.
var graphCallerFlags = map[string]string{"data": "data", "prep": "prep", "labels": "labels", "val": "val", "skip-checksum": "skip_checksum"}

// graphCaller records the data flags of a run, paths made absolute.
func graphCaller(c *cli.Context, out, logDir string) map[string]string {
	m := map[string]string{train.CallerOut: out, train.CallerLogDir: logDir}
	for flag, key := range graphCallerFlags {
		if !c.IsSet(flag) {
			continue
		}
		v := c.String(flag)
		if flag == "skip-checksum" {
			v = strconv.FormatBool(c.Bool(flag))
		}
		if (flag == "data" || flag == "labels") && v != "" {
			v = dataPath(v)
		}
		m[key] = v
	}
	return m
}

// applyResume sets the flags of the run res resumes that the command line
// left out: the data flags as the run gave them, --out and --log-dir
// beside the checkpoint (train.ResumeGraphOutputs). It refuses the flags
// the checkpoint fixes, and returns the model file to read.
func applyResume(c *cli.Context, res *graphResume, status io.Writer) (model string, err error) {
	for _, f := range graphConfigFlags {
		if c.IsSet(f) {
			return "", usageError("--%s with --resume: a resumed run keeps its checkpoint's configuration", f)
		}
	}
	for flag, key := range graphCallerFlags {
		v, ok := res.st.Caller[key]
		if !ok || c.IsSet(flag) {
			continue
		}
		if err := c.Set(flag, v); err != nil {
			return "", fmt.Errorf("--resume %s: the run's --%s %q: %w", c.String("resume"), flag, v, err)
		}
	}
	o := train.ResumeGraphOutputs(res.ckpt, res.st)
	if !c.IsSet("out") {
		if err := c.Set("out", o.Model); err != nil {
			return "", err
		}
		if o.Ignored != "" {
			fmt.Fprintf(status, "note: the checkpoint names %s for the model, outside its run's folder; writing %s instead (--out %s writes there)\n",
				o.Ignored, o.Model, o.Ignored)
		}
	}
	if !c.IsSet("log-dir") && o.LogDir != "" {
		if err := c.Set("log-dir", o.LogDir); err != nil {
			return "", err
		}
	}
	model = res.st.Config.Source.Model
	if c.IsSet("model") {
		model = c.String("model")
	}
	return model, nil
}

// checkResumedModel refuses a model file that is not the one the run
// trained: --model names another, or the run's own file has changed.
func checkResumedModel(c *cli.Context, res *graphResume, path, sum string) error {
	err := res.st.SameModel(sum)
	switch {
	case err == nil:
		return nil
	case c.IsSet("model"):
		return fmt.Errorf("--model %s is not the model the run in %s trained (%s): give that file, or resume without --model", path, res.ckpt, res.st.Config.Source.Model)
	}
	return fmt.Errorf("--resume: the run's model %s has changed since the run started (its SHA-256 differs from the checkpoint's): give the original with --model", path)
}

// rebuildGraph makes m the graph the run trained, as its first start made
// it: the last layer replaced, the weights drawn afresh (ResumeGraph then
// sets them from the checkpoint).
func rebuildGraph(m *onnx.Model, src train.GraphSource, seed uint64) error {
	if src.Init {
		onnxtrain.Reinit(m, seed)
	}
	if src.Classes > 0 {
		if _, err := onnxtrain.ReplaceHead(m, src.Classes, seed); err != nil {
			return fmt.Errorf("--resume: the run's --classes %d: %w", src.Classes, err)
		}
	}
	return nil
}

// state is the checkpoint's state; nil for a new run.
func (r *graphResume) state() *train.GraphState {
	if r == nil {
		return nil
	}
	return r.st
}
