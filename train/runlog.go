package train

import (
	"time"

	"github.com/lenetkit/lenetkit/runlog"
)

// What a run is in its run log (package runlog): the records a program
// writes for the events and result of Run, and the settings its
// config.json holds. Both directions live here, beside Config, so that a
// setting added to Config is added to the log in the same place.

// Optimizer and scheduler as config.json names them.
const (
	logOptimizer = "Adam(betas=(0.9, 0.999), eps=1e-8, coupled L2)"
	logScheduler = "OneCycleLR(defaults, cycle_momentum)"
)

// Record is the step's line in metrics.jsonl.
func (e StepEvent) Record() runlog.Step {
	return runlog.Step{Step: e.GlobalStep, Epoch: e.Epoch, TrainLoss: e.Loss, LearningRate: e.LR, Beta1: e.Beta1, EvalMode: e.Eval}
}

// Record is the epoch's line in metrics.jsonl.
func (e EpochEvent) Record() runlog.Epoch {
	return runlog.Epoch{Epoch: e.Epoch, TrainLoss: e.TrainLoss, ValLoss: e.Val.Loss, ValAcc: e.Val.Accuracy, Seconds: e.Duration.Seconds()}
}

// TestRecord is the finished run's test line in metrics.jsonl.
func (r *Result) TestRecord() runlog.Test {
	return runlog.Test{Acc: r.Test.Accuracy, Loss: r.Test.Loss, Images: r.Test.Images,
		AccFull: r.TestFull.Accuracy, LossFull: r.TestFull.Loss}
}

// Record is config.json for a run of c with stepsPerEpoch steps an epoch,
// started at started: the switch point it records is a step (null for
// train mode throughout), whatever way c asked for it.
func (c Config) Record(stepsPerEpoch int, started time.Time) runlog.Config {
	var freeze *int
	if n, ok := c.FreezePoint(stepsPerEpoch); ok {
		freeze = &n
	}
	return runlog.Config{Epochs: c.Epochs, BatchSize: c.BatchSize, LR: c.LR, MaxLR: c.MaxLR, WeightDecay: c.WeightDecay,
		Dropout: c.Dropout, DropoutMode: string(c.DropoutMode), ValSize: c.ValSize, Limit: c.Limit, Seed: c.Seed,
		Recipe: string(c.Recipe), FreezeBNAfter: freeze, RecipeDescription: c.Describe(stepsPerEpoch),
		Optimizer: logOptimizer, Scheduler: logScheduler, Started: started.UTC().Format(time.RFC3339)}
}

// ConfigFromRecord is the configuration a run's config.json records. Its
// switch point is the step recorded, which compares with any way of
// asking for the same step (Config.Settings); the rest must make a run.
func ConfigFromRecord(r runlog.Config) (Config, error) {
	cfg := Config{Epochs: r.Epochs, BatchSize: r.BatchSize, LR: r.LR, MaxLR: r.MaxLR, WeightDecay: r.WeightDecay,
		Dropout: r.Dropout, DropoutMode: DropoutMode(r.DropoutMode), ValSize: r.ValSize, Limit: r.Limit, Seed: r.Seed,
		Recipe: Recipe(r.Recipe), FreezeBNAfter: -1}
	if r.FreezeBNAfter != nil {
		cfg.FreezeBNAfter = *r.FreezeBNAfter
	}
	// The switch point recorded is a step, not a flag's value: standard
	// runs record none, and the rest check as their recipe's own.
	check := cfg
	check.FreezeBNAfter = -1
	if err := check.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
