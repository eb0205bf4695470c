// Package train trains the seed's LeNet natively in Go: a Gorgonia graph of
// the network with its symbolic gradients, Adam with coupled L2 weight
// decay, OneCycleLR with cycled beta1, and the notebook's loop over the
// seeded 55k/5k split of MNIST, validating after every epoch and testing
// with the notebook's protocol at the end.
package train

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// evalPlan is what the validation and test sets go through: the plan
// eval runs for these weights (backend.OpenStateDict), so that train's
// figures are eval's to the last bit, in half the time of lenet's own
// forward pass.
func evalPlan(sd lenet.StateDict) (*backend.Plan, error) {
	return backend.OpenStateDict(sd, "the trained weights", backend.Options{})
}

// Config is the recipe. DefaultConfig is the seed's.
type Config struct {
	Epochs      int
	BatchSize   int
	LR          float64 // given to Adam; OneCycleLR overrides it from step 0, as in PyTorch
	MaxLR       float64
	WeightDecay float64
	Dropout     float64
	DropoutMode DropoutMode
	ValSize     int
	Limit       int // use only the first Limit images of the training split; 0: all
	Seed        uint64
	// Recipe says when training leaves train mode; FreezeBNAfter moves
	// that point for RecipeNotebook and RecipePublished (-1: the recipe's).
	Recipe        Recipe
	FreezeBNAfter int
}

// DefaultConfig returns the recipe behind 99.16 %.
func DefaultConfig() Config {
	return Config{Epochs: 10, BatchSize: 128, LR: 1e-4, MaxLR: 1e-2, WeightDecay: 0.002,
		Dropout: lenet.DefaultDropout, DropoutMode: DropoutRow, ValSize: 5000, Seed: 0,
		Recipe: DefaultRecipe, FreezeBNAfter: -1}
}

// StepEvent reports one finished training step.
type StepEvent struct {
	Epoch, Step, StepsPerEpoch int // Epoch and Step count from 1
	GlobalStep, TotalSteps     int
	Loss, LR, Beta1            float64
	Eval                       bool          // trained in eval mode (see Recipe)
	Duration                   time.Duration // of this step: batch, forward, backward, update
}

// EpochEvent reports one finished epoch and its validation.
type EpochEvent struct {
	Epoch     int
	TrainLoss float64 // mean of the epoch's step losses
	Val       mnist.Metrics
	Duration  time.Duration // training steps only, validation excluded
	Images    int
}

// Hooks receive progress; any may be nil. They run on the training
// goroutine, between steps.
type Hooks struct {
	Step  func(StepEvent)
	Epoch func(EpochEvent)
	// Checkpoint gets the run's State at every epoch's end, after Epoch,
	// and when ctx stops the run; an error from it ends the run. The State
	// shares the network's tensors: save it before returning.
	Checkpoint func(*State) error
}

// Result is what a run produced.
type Result struct {
	StateDict lenet.StateDict
	Epochs    []EpochEvent
	// Test is measured with the notebook's protocol (batches of the
	// training batch size, last partial batch dropped, mean of batch
	// means); TestFull on every test image. Zero when the run stopped early.
	Test, TestFull mnist.Metrics
	// Stopped is set when ctx ended the run; StoppedAt says after which step.
	Stopped   bool
	StoppedAt StepEvent
}

// Validate checks a configuration before any work is done.
func (c Config) Validate() error {
	// Every comparison below is false for NaN: ranges are written so that
	// NaN falls outside them.
	switch {
	case c.Epochs < 1 || c.Epochs > modelfile.MaxEpochs:
		return fmt.Errorf("train: epochs %d, want 1 to %d", c.Epochs, modelfile.MaxEpochs)
	case c.BatchSize < 2 || c.BatchSize > modelfile.MaxBatchSize:
		return fmt.Errorf("train: batch size %d, want 2 (BatchNorm) to %d", c.BatchSize, modelfile.MaxBatchSize)
	case !(c.LR > 0 && c.LR <= modelfile.MaxLearningRate):
		return fmt.Errorf("train: lr %g, want a number in (0, %d]", c.LR, modelfile.MaxLearningRate)
	case !(c.MaxLR > 0 && c.MaxLR <= modelfile.MaxLearningRate):
		return fmt.Errorf("train: max-lr %g, want a number in (0, %d]", c.MaxLR, modelfile.MaxLearningRate)
	case !(c.WeightDecay >= 0 && c.WeightDecay <= modelfile.MaxWeightDecay):
		return fmt.Errorf("train: weight decay %g, want a number in [0, %d]", c.WeightDecay, modelfile.MaxWeightDecay)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("train: dropout %g outside [0, 1)", c.Dropout)
	case c.DropoutMode != DropoutRow && c.DropoutMode != DropoutElement:
		return fmt.Errorf("train: dropout mode %q, want %q or %q", c.DropoutMode, DropoutRow, DropoutElement)
	case c.ValSize < 0:
		return fmt.Errorf("train: validation size %d is negative", c.ValSize)
	case c.Limit < 0:
		return fmt.Errorf("train: limit %d is negative", c.Limit)
	case c.Recipe != RecipeStandard && c.Recipe != RecipeNotebook && c.Recipe != RecipePublished:
		return fmt.Errorf("train: recipe %q, want %s, %s or %s", c.Recipe, RecipeStandard, RecipeNotebook, RecipePublished)
	case c.FreezeBNAfter < -1:
		return fmt.Errorf("train: freeze-bn-after %d is negative", c.FreezeBNAfter)
	case c.Recipe == RecipeStandard && c.FreezeBNAfter >= 0:
		return fmt.Errorf("train: recipe %s trains in train mode throughout; a switch point (%d) needs recipe %s or %s",
			c.Recipe, c.FreezeBNAfter, RecipeNotebook, RecipePublished)
	}
	return nil
}

// Steps is the number of steps an epoch of cfg takes on a training set of
// trainN images. It refuses, before anything is allocated, a validation
// set that leaves no training images, a batch larger than them, and a
// schedule longer than modelfile.MaxTotalSteps.
func Steps(cfg Config, trainN int) (int, error) {
	if cfg.ValSize >= trainN {
		return 0, fmt.Errorf("train: validation size %d leaves no training images of %d", cfg.ValSize, trainN)
	}
	n := trainN - cfg.ValSize
	if cfg.Limit > 0 {
		n = min(n, cfg.Limit)
	}
	steps := n / max(cfg.BatchSize, 1)
	if steps == 0 {
		return 0, fmt.Errorf("train: %d training images make no full batch of %d", n, cfg.BatchSize)
	}
	if cfg.Epochs > modelfile.MaxTotalSteps/steps {
		return 0, fmt.Errorf("train: %d epochs of %d steps is more than %d steps", cfg.Epochs, steps, modelfile.MaxTotalSteps)
	}
	return steps, nil
}

// A DivergedError ends a run whose loss, or weights, turned NaN or
// infinite; no checkpoint holding them was written.
type DivergedError struct {
	Epoch, Step, StepsPerEpoch, GlobalStep int
	Loss                                   float64
	LR, MaxLR                              float64
	// Weights is set when the weights went non-finite at an epoch's end
	// while the loss had not.
	Weights bool
}

func (e *DivergedError) Error() string {
	what := fmt.Sprintf("the loss turned %g", e.Loss)
	if e.Weights {
		what = "the weights turned non-finite"
	}
	return fmt.Sprintf("train: %s at step %d (epoch %d, step %d of %d; learning rate %.3g): the run diverged; lower the peak learning rate (now %g)",
		what, e.GlobalStep, e.Epoch, e.Step, e.StepsPerEpoch, e.LR, e.MaxLR)
}

// Run trains a freshly initialised network on trainSet (split into training
// and validation by cfg.Seed) and tests it on testSet. When ctx ends, Run
// stops after the current step and returns what it has, with Stopped set.
func Run(ctx context.Context, cfg Config, trainSet, testSet *mnist.Set, hooks Hooks) (*Result, error) {
	return run(ctx, cfg, nil, trainSet, testSet, hooks)
}

// Resume goes on with the run st was taken from, on the same data, and
// ends where that run would have ended, with the same weights bit for bit.
func Resume(ctx context.Context, st *State, trainSet, testSet *mnist.Set, hooks Hooks) (*Result, error) {
	return run(ctx, st.Config, st, trainSet, testSet, hooks)
}

func run(ctx context.Context, cfg Config, from *State, trainSet, testSet *mnist.Set, hooks Hooks) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	steps, err := Steps(cfg, trainSet.N)
	if err != nil {
		return nil, err
	}
	trainIdx, valIdx, err := mnist.Split(trainSet.N, cfg.ValSize, cfg.Seed)
	if err != nil {
		return nil, err
	}
	if cfg.Limit > 0 && cfg.Limit < len(trainIdx) {
		trainIdx = trainIdx[:cfg.Limit]
	}
	// The notebook asked OneCycleLR for steps_per_epoch=128, but its loader
	// has len(trainIdx)/batch steps; PyTorch raises past 128*epochs. The
	// schedule here spans the steps the loop really takes.
	sched := NewOneCycle(cfg.MaxLR, cfg.Epochs*steps)
	freeze, freezes := cfg.FreezePoint(steps)

	sd := lenet.Init(cfg.Seed)
	net, err := NewNet(sd, cfg.BatchSize, cfg.Dropout, cfg.DropoutMode, cfg.Seed)
	if err != nil {
		return nil, err
	}
	defer net.Close()
	opt := NewAdam(cfg.WeightDecay)
	params := make([][]float32, len(net.Params()))
	grads := make([][]float32, len(params))
	sizes := make([]int, len(params))
	for i, p := range net.Params() {
		params[i] = p.F32
		sizes[i] = len(p.F32)
	}

	res := &Result{StateDict: sd}
	global, firstEpoch, firstStep := 0, 1, 0
	var lossSum float64
	var trainTime time.Duration
	if from != nil {
		if err := from.Fits(steps); err != nil {
			return nil, err
		}
		// The network reads its tensors in place: copy the values in.
		for _, t := range sd {
			src := from.Model.Lookup(t.Name)
			if src == nil || len(src.F32) != len(t.F32) || len(src.I64) != len(t.I64) {
				return nil, fmt.Errorf("train: checkpoint's model lacks %s", t.Name)
			}
			copy(t.F32, src.F32)
			copy(t.I64, src.I64)
		}
		if err := opt.restore(from.AdamStep, from.AdamM, from.AdamV, sizes); err != nil {
			return nil, err
		}
		if err := net.setRNGState(from.DropoutRNG); err != nil {
			return nil, err
		}
		global, firstEpoch, firstStep = from.GlobalStep, from.Epoch, from.Step
		lossSum, trainTime = from.LossSum, from.TrainTime
		res.Epochs = append(res.Epochs, from.Epochs...)
	}
	checkpoint := func(epoch, step int) error {
		if hooks.Checkpoint == nil {
			return nil
		}
		// A finite loss can come from weights an update just made
		// infinite; a checkpoint keeps the last good ones instead.
		for _, p := range params {
			for _, v := range p {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return &DivergedError{Epoch: epoch, Step: step, StepsPerEpoch: steps, GlobalStep: global, Loss: math.NaN(), MaxLR: cfg.MaxLR, Weights: true}
				}
			}
		}
		rng, err := net.rngState()
		if err != nil {
			return err
		}
		adamStep, m, v := opt.moments()
		st := &State{Config: cfg, Epoch: epoch, Step: step, GlobalStep: global, LossSum: lossSum, TrainTime: trainTime,
			Epochs: res.Epochs, Model: sd, AdamStep: adamStep, AdamM: m, AdamV: v, DropoutRNG: rng}
		if from != nil {
			st.Caller = from.Caller
		}
		return hooks.Checkpoint(st)
	}

	x := make([]float32, cfg.BatchSize*mnist.PixelCount)
	y := make([]int64, cfg.BatchSize)
	order := make([]int, len(trainIdx))
	for epoch := firstEpoch; epoch <= cfg.Epochs; epoch++ {
		copy(order, trainIdx)
		mnist.Shuffle(order, cfg.Seed, epoch)
		start := 0
		if epoch == firstEpoch {
			start = firstStep
		}
		for step := start; step < steps; step++ {
			begin := time.Now()
			if err := trainSet.Fill(order[step*cfg.BatchSize:(step+1)*cfg.BatchSize], x, y); err != nil {
				return nil, err
			}
			lr, beta1, err := sched.At(global, 0.9)
			if err != nil {
				return nil, err
			}
			eval := freezes && global >= freeze
			net.SetEval(eval)
			loss, err := net.Step(x, y)
			if err != nil {
				return nil, err
			}
			// Before Adam steps on it: the weights, and so every
			// checkpoint written so far, stay as they were.
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, &DivergedError{Epoch: epoch, Step: step + 1, StepsPerEpoch: steps, GlobalStep: global + 1, Loss: loss, MaxLR: cfg.MaxLR, LR: lr}
			}
			for i := range grads {
				grads[i] = net.Grad(i)
			}
			opt.Step(params, grads, lr, beta1)
			global++
			d := time.Since(begin)
			trainTime += d
			lossSum += loss
			ev := StepEvent{Epoch: epoch, Step: step + 1, StepsPerEpoch: steps, GlobalStep: global,
				TotalSteps: sched.TotalSteps, Loss: loss, LR: lr, Beta1: beta1, Eval: eval, Duration: d}
			if hooks.Step != nil {
				hooks.Step(ev)
			}
			if ctx.Err() != nil {
				res.Stopped, res.StoppedAt = true, ev
				// After an epoch's last step, Step = steps: resuming
				// runs no step of it, only its validation.
				if err := checkpoint(epoch, step+1); err != nil {
					return nil, err
				}
				return res, nil
			}
		}
		ep := EpochEvent{Epoch: epoch, TrainLoss: lossSum / float64(steps), Duration: trainTime, Images: steps * cfg.BatchSize}
		if len(valIdx) > 0 {
			plan, err := evalPlan(sd)
			if err != nil {
				return nil, err
			}
			if ep.Val, err = mnist.Evaluate(plan, trainSet, valIdx, cfg.BatchSize, len(valIdx) >= cfg.BatchSize); err != nil {
				return nil, err
			}
		}
		res.Epochs = append(res.Epochs, ep)
		if hooks.Epoch != nil {
			hooks.Epoch(ep)
		}
		lossSum, trainTime = 0, 0 // the next epoch's sums, which its checkpoint holds
		if err := checkpoint(epoch+1, 0); err != nil {
			return nil, err
		}
	}
	plan, err := evalPlan(sd)
	if err != nil {
		return nil, err
	}
	all := make([]int, testSet.N)
	for i := range all {
		all[i] = i
	}
	// One pass of the model for both protocols: its logits do not depend
	// on the batch (backend's TestSeedLogitsWhateverTheBatch).
	scored, err := mnist.Score(plan, testSet, all, 1000)
	if err != nil {
		return nil, err
	}
	if res.Test, err = scored.Metrics(cfg.BatchSize, true); err != nil {
		return nil, err
	}
	if res.TestFull, err = scored.Metrics(mnist.EvalBatch, false); err != nil {
		return nil, err
	}
	return res, nil
}
