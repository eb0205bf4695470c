package train

import (
	"time"

	"github.com/lenetkit/lenetkit/runlog"
)

// Record is the epoch's line in metrics.jsonl, as the seed's runs write it.
func (e GraphEpoch) Record() runlog.Epoch {
	return runlog.Epoch{Epoch: e.Epoch, TrainLoss: e.TrainLoss, ValLoss: e.Val.Loss, ValAcc: e.Val.Accuracy, Seconds: e.Duration.Seconds()}
}

// TestRecord is the finished run's test line in metrics.jsonl: every test
// image counts, so the seed's protocol and the full one agree.
func (r *GraphResult) TestRecord() runlog.Test {
	return runlog.Test{Acc: r.Test.Accuracy, Loss: r.Test.Loss, Images: r.Test.Images, AccFull: r.Test.Accuracy, LossFull: r.Test.Loss}
}

// Record is config.json for a run of the graph in the file model: the
// seed's fields that apply, and the graph's own (model, freeze, data,
// preprocessing, augmentation) as extra fields.
func (c GraphConfig) Record(model, data string, valSize int, started time.Time) (runlog.Config, error) {
	r := runlog.Config{Epochs: c.Epochs, BatchSize: c.BatchSize, LR: c.MaxLR / 25, MaxLR: c.MaxLR, WeightDecay: c.WeightDecay,
		ValSize: valSize, Limit: c.Limit, Seed: c.Seed, Recipe: "graph", RecipeDescription: "train mode throughout (BatchNorm on batch statistics, dropout on)",
		Optimizer: logOptimizer, Scheduler: logScheduler, Started: started.UTC().Format(time.RFC3339)}
	prep := map[string]any{"pad": c.Prep.Pad, "mean": c.Prep.Mean, "std": c.Prep.Std}
	if c.Prep.Resize != "" {
		prep["resize"] = c.Prep.Resize
	}
	if c.Prep.Orient != "" {
		prep["orient"] = c.Prep.Orient
	}
	extra := map[string]any{"model": model, "freeze": c.Freeze, "data": data, "augment": c.Augment.String(), "preprocess": prep}
	for k, v := range extra {
		if err := r.Set(k, v); err != nil {
			return r, err
		}
	}
	return r, nil
}
