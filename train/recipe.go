package train

import "fmt"

// Recipe says which steps train in PyTorch's train mode and which in eval
// mode (BatchNorm normalising with frozen running statistics, dropout off,
// Adam still updating every parameter). The recipes differ in nothing else.
type Recipe string

const (
	// RecipeStandard trains in train mode every step, as the seed's text
	// describes a training run.
	RecipeStandard Recipe = "standard"
	// RecipeNotebook is the notebook's code as it ran: train() calls
	// model.train() once, before the epoch loop, and the accuracy() it
	// calls after every epoch leaves the model in eval mode, so every epoch
	// after the first trains in eval mode.
	RecipeNotebook Recipe = "notebook"
	// RecipePublished is what the published parameter.pth shows: its
	// num_batches_tracked is 79 in every BatchNorm, so its statistics froze
	// after 79 train-mode steps.
	RecipePublished Recipe = "published"
)

// PublishedFreezeStep is num_batches_tracked in the seed's published
// parameter.pth.
const PublishedFreezeStep = 79

// DefaultRecipe is the recipe `lenetkit train` uses unless told otherwise:
// the one the reproduction study (docs/reproduction.md) found to give the
// seed's figures.
const DefaultRecipe = RecipePublished

// FreezePoint returns the number of train-mode steps before the run
// switches to eval mode for good, for a run of stepsPerEpoch steps an
// epoch; ok is false when it never does.
func (c Config) FreezePoint(stepsPerEpoch int) (step int, ok bool) {
	switch {
	case c.Recipe == RecipeStandard:
		return 0, false
	case c.FreezeBNAfter >= 0:
		return c.FreezeBNAfter, true
	case c.Recipe == RecipeNotebook:
		return stepsPerEpoch, true
	default:
		return PublishedFreezeStep, true
	}
}

// Describe says in one line what the recipe does and why, for a run of
// stepsPerEpoch steps an epoch.
func (c Config) Describe(stepsPerEpoch int) string {
	total := c.Epochs * stepsPerEpoch
	freeze, ok := c.FreezePoint(stepsPerEpoch)
	if !ok {
		return fmt.Sprintf("recipe standard: train mode for all %d steps, as the seed's text describes", total)
	}
	var why string
	switch {
	case c.Recipe == RecipeNotebook && c.FreezeBNAfter < 0:
		why = "as the notebook's code ran: its accuracy() calls model.eval() after epoch 1 and nothing switches back"
	case c.Recipe == RecipePublished && c.FreezeBNAfter < 0:
		why = fmt.Sprintf("as the published parameter.pth shows: num_batches_tracked = %d", PublishedFreezeStep)
	default:
		why = fmt.Sprintf("switch point set by --freeze-bn-after %d", freeze)
	}
	return fmt.Sprintf("recipe %s: train mode for the first %d of %d steps, then eval mode (BatchNorm statistics frozen, dropout off), %s",
		c.Recipe, min(freeze, total), total, why)
}

// mnistTrainImages is the size of MNIST's training file.
const mnistTrainImages = 60000

// FullRunSteps is the number of steps of a full run of the configuration on
// MNIST's 60,000 training images: 4,290 for the seed's recipe.
func (c Config) FullRunSteps() int {
	return c.Epochs * ((mnistTrainImages - c.ValSize) / c.BatchSize)
}

// ExplainBatchesTracked says what a state dict's num_batches_tracked tells
// about how it was trained, against a full run of the seed's recipe.
func ExplainBatchesTracked(n int64) string {
	d := DefaultConfig()
	full, perEpoch := d.FullRunSteps(), d.FullRunSteps()/d.Epochs
	switch {
	case n == int64(full):
		return fmt.Sprintf("BatchNorm statistics from %d train-mode batches: a full %d-epoch train-mode run (recipe standard)", n, d.Epochs)
	case n == PublishedFreezeStep:
		return fmt.Sprintf("BatchNorm statistics from %d train-mode batches of a full run's %d: frozen after step %d, as in the seed's published parameter.pth (recipe published)", n, full, n)
	case n == int64(perEpoch) || n == int64(perEpoch)+1:
		return fmt.Sprintf("BatchNorm statistics from %d train-mode batches of a full run's %d: frozen after the first epoch, as the notebook's code ran (recipe notebook; +1 for torchsummary's forward pass)", n, full)
	case n == 0:
		return "BatchNorm statistics never updated in train mode (num_batches_tracked 0): the initial running mean 0 and variance 1"
	case n < int64(full):
		return fmt.Sprintf("BatchNorm statistics from %d train-mode batches of a full run's %d: a shorter run, or statistics frozen early", n, full)
	}
	return fmt.Sprintf("BatchNorm statistics from %d train-mode batches, more than a full run's %d", n, full)
}
