package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
)

// State is where a run stands between two steps: everything Resume needs to
// go on as if the run had never stopped, so that its final weights equal an
// uninterrupted run's bit for bit.
type State struct {
	Config Config
	// Epoch is the epoch under way (from 1) and Step the steps of it done;
	// at an epoch's end the state is that of the next epoch, at step 0.
	Epoch, Step, GlobalStep int
	// The running sums of the epoch under way.
	LossSum   float64
	TrainTime time.Duration
	// Epochs are the finished epochs' events.
	Epochs []EpochEvent
	// Model is the network's state dict: parameters, running statistics
	// and num_batches_tracked.
	Model lenet.StateDict
	// Adam's step count and moments, one slice per trainable parameter.
	AdamStep int
	AdamM    [][]float32
	AdamV    [][]float32
	// DropoutRNG is dropout's random stream (math/rand/v2's PCG, binary).
	DropoutRNG []byte
	// Caller holds what the program driving the run needs to resume it
	// (where the model goes, say); Run and Resume leave it alone.
	Caller map[string]string
}

// stateJSON is the part of a State that is not tensors.
type stateJSON struct {
	Config     Config            `json:"config"`
	Epoch      int               `json:"epoch"`
	Step       int               `json:"step"`
	GlobalStep int               `json:"global_step"`
	LossSum    float64           `json:"loss_sum"`
	TrainTime  time.Duration     `json:"train_time_ns"`
	Epochs     []EpochEvent      `json:"epochs"`
	AdamStep   int               `json:"adam_step"`
	DropoutRNG []byte            `json:"dropout_rng"`
	Caller     map[string]string `json:"caller,omitempty"`
}

// SaveCheckpoint writes st to path as a torch.load-able dict (see
// convert.Checkpoint): the model under "model", Adam's moments under
// "optimizer" named after their parameters, and the rest as JSON.
func SaveCheckpoint(path string, st *State) error {
	js, err := json.Marshal(stateJSON{st.Config, st.Epoch, st.Step, st.GlobalStep, st.LossSum, st.TrainTime,
		st.Epochs, st.AdamStep, st.DropoutRNG, st.Caller})
	if err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	c := &convert.Checkpoint{Model: st.Model, State: js, Optimizer: map[string]lenet.StateDict{}}
	if len(st.AdamM) > 0 {
		params := trainable(st.Model)
		if len(params) != len(st.AdamM) {
			return fmt.Errorf("train: checkpoint %s: %d Adam moments for %d parameters", path, len(st.AdamM), len(params))
		}
		for _, moments := range []struct {
			name string
			v    [][]float32
		}{{"exp_avg", st.AdamM}, {"exp_avg_sq", st.AdamV}} {
			var sd lenet.StateDict
			for i, p := range params {
				sd = append(sd, &lenet.Tensor{Name: p.Name, Shape: p.Shape, DType: lenet.Float32, F32: moments.v[i]})
			}
			c.Optimizer[moments.name] = sd
		}
	}
	return convert.SaveCheckpoint(path, c)
}

// LoadCheckpoint reads a State SaveCheckpoint wrote, checking that it fits
// the network and its own configuration. Whether it fits the data a run
// resumes on is Fits's to say, before anything is written.
func LoadCheckpoint(path string) (*State, error) { return loadCheckpoint(path, stateFrom) }

// DecodeCheckpoint is LoadCheckpoint for a checkpoint's bytes.
func DecodeCheckpoint(b []byte) (*State, error) { return decodeCheckpoint(b, stateFrom) }

// loadCheckpoint reads the checkpoint at path as from makes its state of.
func loadCheckpoint[T any](path string, from func(*convert.Checkpoint) (T, error)) (T, error) {
	var zero T
	c, err := convert.ReadCheckpoint(path)
	if err != nil {
		return zero, err
	}
	st, err := from(c)
	if err != nil {
		return zero, fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	return st, nil
}

// decodeCheckpoint is loadCheckpoint for a checkpoint's bytes.
func decodeCheckpoint[T any](b []byte, from func(*convert.Checkpoint) (T, error)) (T, error) {
	c, err := convert.DecodeCheckpoint(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		var zero T
		return zero, err
	}
	return from(c)
}

// checkpointKind is the "kind" of a checkpoint's state: kindGraph for a
// graph run's, "" for the seed's, which has none.
func checkpointKind(c *convert.Checkpoint) string {
	var kind struct {
		Kind string `json:"kind"`
	}
	json.Unmarshal(c.State, &kind)
	return kind.Kind
}

func stateFrom(c *convert.Checkpoint) (*State, error) {
	if checkpointKind(c) == kindGraph {
		return nil, ErrGraphCheckpoint
	}
	var js stateJSON
	if err := json.Unmarshal(c.State, &js); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	st := &State{Config: js.Config, Epoch: js.Epoch, Step: js.Step, GlobalStep: js.GlobalStep, LossSum: js.LossSum,
		TrainTime: js.TrainTime, Epochs: js.Epochs, Model: c.Model, AdamStep: js.AdamStep, DropoutRNG: js.DropoutRNG, Caller: js.Caller}
	if err := st.Config.Validate(); err != nil {
		return nil, err
	}
	if err := lenet.Check(st.Model); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if err := st.checkNumbers(); err != nil {
		return nil, err
	}
	if st.AdamStep > 0 {
		params := trainable(st.Model)
		for _, m := range []struct {
			name string
			dst  *[][]float32
		}{{"exp_avg", &st.AdamM}, {"exp_avg_sq", &st.AdamV}} {
			sd := c.Optimizer[m.name]
			if len(sd) != len(params) {
				return nil, fmt.Errorf("optimizer %s has %d tensors for %d parameters", m.name, len(sd), len(params))
			}
			for _, p := range params {
				t := sd.Lookup(p.Name)
				if t == nil || t.DType != lenet.Float32 || len(t.F32) != len(p.F32) {
					return nil, fmt.Errorf("optimizer %s lacks a float tensor like %s", m.name, p.Name)
				}
				*m.dst = append(*m.dst, t.F32)
			}
		}
	}
	return st, nil
}

// checkNumbers refuses counters and figures no run writes: a checkpoint is
// input, and a NaN loss sum would break the next checkpoint's JSON.
func (st *State) checkNumbers() error {
	if err := checkCounters(st.Epoch, st.Step, st.GlobalStep, st.AdamStep, st.LossSum, st.TrainTime, len(st.Epochs)); err != nil {
		return err
	}
	for _, e := range st.Epochs {
		if err := checkEpochFigures(e.Epoch, e.TrainLoss, e.Val.Loss, e.Val.Accuracy); err != nil {
			return err
		}
	}
	return nil
}

// checkCounters refuses the counters and running sums of a checkpoint, of
// either kind, that no run writes.
func checkCounters(epoch, step, global, adam int, lossSum float64, trainTime time.Duration, epochs int) error {
	switch {
	case epoch < 1 || step < 0 || global < 0 || adam < 0 || adam > global:
		return fmt.Errorf("counters out of range (epoch %d, step %d, global step %d, Adam step %d)", epoch, step, global, adam)
	case !finite(lossSum) || lossSum < 0 || trainTime < 0:
		return fmt.Errorf("loss sum %g or train time %v out of range", lossSum, trainTime)
	case epochs > modelfile.MaxEpochs:
		return fmt.Errorf("%d epochs recorded, more than %d", epochs, modelfile.MaxEpochs)
	}
	return nil
}

// checkEpochFigures refuses a finished epoch's figures that no run writes.
func checkEpochFigures(epoch int, trainLoss, valLoss, valAcc float64) error {
	if !finite(trainLoss) || trainLoss < 0 || !finite(valLoss) || valLoss < 0 || !(valAcc >= 0 && valAcc <= 100) {
		return fmt.Errorf("epoch %d's figures out of range (train loss %g, val loss %g, val acc %g)", epoch, trainLoss, valLoss, valAcc)
	}
	return nil
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Fits says whether st can go on as a run of stepsPerEpoch steps an epoch,
// the steps the data it resumes on gives: a caller checks it before it
// writes anything for the run (its log, its model).
func (st *State) Fits(stepsPerEpoch int) error {
	cfg, steps := st.Config, stepsPerEpoch
	if st.Epoch < 1 || st.Epoch > cfg.Epochs+1 || st.Step < 0 || st.Step > steps ||
		st.GlobalStep != (st.Epoch-1)*steps+st.Step || len(st.Epochs) != st.Epoch-1 {
		return fmt.Errorf("train: checkpoint at epoch %d, step %d (step %d overall, %d epochs done) does not fit a run of %d epochs of %d steps",
			st.Epoch, st.Step, st.GlobalStep, len(st.Epochs), cfg.Epochs, steps)
	}
	return nil
}

// Finished reports whether the run st was taken from has trained every
// epoch: only its test is left.
func (st *State) Finished() bool { return st.Epoch > st.Config.Epochs }

// Adam returns the optimiser the run had at st: its weight decay, step
// count and moments, copied, so that stepping it leaves st as it was.
func (st *State) Adam() (*Adam, error) {
	a := NewAdam(st.Config.WeightDecay)
	var sizes []int
	for _, p := range trainable(st.Model) {
		sizes = append(sizes, len(p.F32))
	}
	m, v := cloneAll(st.AdamM), cloneAll(st.AdamV)
	if err := a.restore(st.AdamStep, m, v, sizes); err != nil {
		return nil, err
	}
	return a, nil
}

func cloneAll(xs [][]float32) [][]float32 {
	out := make([][]float32, len(xs))
	for i, x := range xs {
		out[i] = append([]float32(nil), x...)
	}
	return out
}

// trainable lists the parameters Adam updates, in state-dict order: what
// Net.Params returns.
func trainable(sd lenet.StateDict) []*lenet.Tensor {
	var out []*lenet.Tensor
	for _, p := range lenet.Params() {
		if t := sd.Lookup(p.Name); p.Trainable && t != nil {
			out = append(out, t)
		}
	}
	return out
}
