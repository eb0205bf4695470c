package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lenetkit/lenetkit/convert"
	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// A graph run's checkpoint is the seed's form (convert.Checkpoint, a dict
// torch.load(weights_only=True) reads): the graph's float initializers
// under "model", by name, Adam's moments under "optimizer" named after
// their initializers, and the rest as JSON under "state", whose "kind"
// tells it from the seed's.

// kindGraph is the state's "kind" in a graph run's checkpoint; the seed's
// has none.
const kindGraph = "graph"

// ErrGraphCheckpoint is what LoadCheckpoint refuses a graph run's
// checkpoint with, and ErrSeedCheckpoint what LoadGraphCheckpoint refuses
// the seed's with: a caller tells the two kinds apart by them.
var (
	ErrGraphCheckpoint = errors.New("a checkpoint of a --model run (an ONNX graph), not of the seed's LeNet")
	ErrSeedCheckpoint  = errors.New("a checkpoint of the seed's LeNet, not of a --model run")
)

// graphStateJSON is the part of a GraphState that is not tensors.
type graphStateJSON struct {
	Kind       string            `json:"kind"`
	Config     graphConfigJSON   `json:"config"`
	Data       DataPrint         `json:"data"`
	Epoch      int               `json:"epoch"`
	Step       int               `json:"step"`
	GlobalStep int               `json:"global_step"`
	LossSum    float64           `json:"loss_sum"`
	TrainTime  time.Duration     `json:"train_time_ns"`
	Epochs     []graphEpochJSON  `json:"epochs"`
	Params     []string          `json:"params"`
	AdamStep   int               `json:"adam_step"`
	DropoutRNG []byte            `json:"dropout_rng"`
	Caller     map[string]string `json:"caller,omitempty"`
}

// graphConfigJSON is a GraphConfig spelt out: Prep's mean and std are not
// in its own JSON.
type graphConfigJSON struct {
	Epochs      int             `json:"epochs"`
	BatchSize   int             `json:"batch_size"`
	MaxLR       float64         `json:"max_lr"`
	WeightDecay float64         `json:"weight_decay"`
	Limit       int             `json:"limit"`
	Seed        uint64          `json:"seed"`
	Freeze      []string        `json:"freeze"`
	Pad         int             `json:"pad"`
	Mean        float32         `json:"mean"`
	Std         float32         `json:"std"`
	Augment     dataset.Augment `json:"augment"`
	Source      GraphSource     `json:"source"`
	Resize      string          `json:"resize,omitempty"`
	Orient      string          `json:"orient,omitempty"`
}

// graphEpochJSON is a GraphEpoch with its NaN (classes without images) as
// null, which JSON can hold.
type graphEpochJSON struct {
	Epoch     int           `json:"epoch"`
	TrainLoss float64       `json:"train_loss"`
	Duration  time.Duration `json:"duration_ns"`
	Images    int           `json:"images"`
	ValAcc    float64       `json:"val_acc"`
	ValLoss   float64       `json:"val_loss"`
	ValImages int           `json:"val_images"`
	PerClass  []*float64    `json:"val_per_class"`
	Count     []int         `json:"val_count"`
}

func configJSON(c GraphConfig) graphConfigJSON {
	return graphConfigJSON{c.Epochs, c.BatchSize, c.MaxLR, c.WeightDecay, c.Limit, c.Seed, c.Freeze,
		c.Prep.Pad, c.Prep.Mean, c.Prep.Std, c.Augment, c.Source, c.Prep.Resize, c.Prep.Orient}
}

func (j graphConfigJSON) config() GraphConfig {
	return GraphConfig{Epochs: j.Epochs, BatchSize: j.BatchSize, MaxLR: j.MaxLR, WeightDecay: j.WeightDecay, Limit: j.Limit,
		Seed: j.Seed, Freeze: j.Freeze, Prep: Prep{Pad: j.Pad, Mean: j.Mean, Std: j.Std, Resize: j.Resize, Orient: j.Orient}, Augment: j.Augment, Source: j.Source}
}

func epochJSON(e GraphEpoch) graphEpochJSON {
	j := graphEpochJSON{Epoch: e.Epoch, TrainLoss: e.TrainLoss, Duration: e.Duration, Images: e.Images,
		ValAcc: e.Val.Accuracy, ValLoss: e.Val.Loss, ValImages: e.Val.Images, Count: e.Val.Count}
	for _, a := range e.Val.PerClass {
		if math.IsNaN(a) {
			j.PerClass = append(j.PerClass, nil)
		} else {
			j.PerClass = append(j.PerClass, &a)
		}
	}
	return j
}

func (j graphEpochJSON) epoch() GraphEpoch {
	e := GraphEpoch{Epoch: j.Epoch, TrainLoss: j.TrainLoss, Duration: j.Duration, Images: j.Images,
		Val: GraphMetrics{Accuracy: j.ValAcc, Loss: j.ValLoss, Images: j.ValImages, Count: j.Count}}
	for _, a := range j.PerClass {
		v := math.NaN()
		if a != nil {
			v = *a
		}
		e.Val.PerClass = append(e.Val.PerClass, v)
	}
	return e
}

// SaveGraphCheckpoint writes st to path, whole or not at all
// (convert.SaveCheckpoint writes through internal/atomicfile).
func SaveGraphCheckpoint(path string, st *GraphState) error {
	js := graphStateJSON{Kind: kindGraph, Config: configJSON(st.Config), Data: st.Data, Epoch: st.Epoch, Step: st.Step,
		GlobalStep: st.GlobalStep, LossSum: st.LossSum, TrainTime: st.TrainTime, Params: st.Params, AdamStep: st.AdamStep,
		DropoutRNG: st.DropoutRNG, Caller: st.Caller}
	for _, e := range st.Epochs {
		js.Epochs = append(js.Epochs, epochJSON(e))
	}
	b, err := json.Marshal(js)
	if err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	c := &convert.Checkpoint{Model: st.Weights, State: b, Optimizer: map[string]lenet.StateDict{}}
	if len(st.AdamM) > 0 {
		if len(st.AdamM) != len(st.Params) || len(st.AdamV) != len(st.Params) {
			return fmt.Errorf("train: checkpoint %s: %d and %d Adam moments for %d parameters", path, len(st.AdamM), len(st.AdamV), len(st.Params))
		}
		for _, moments := range []struct {
			name string
			v    [][]float32
		}{{"exp_avg", st.AdamM}, {"exp_avg_sq", st.AdamV}} {
			var sd lenet.StateDict
			for i, name := range st.Params {
				w := st.Weights.Lookup(name)
				if w == nil || len(w.F32) != len(moments.v[i]) {
					return fmt.Errorf("train: checkpoint %s: Adam's %s does not fit the weight %s", path, moments.name, name)
				}
				sd = append(sd, &lenet.Tensor{Name: name, Shape: w.Shape, DType: lenet.Float32, F32: moments.v[i]})
			}
			c.Optimizer[moments.name] = sd
		}
	}
	return convert.SaveCheckpoint(path, c)
}

// LoadGraphCheckpoint reads a GraphState SaveGraphCheckpoint wrote,
// checking it holds together. Whether it fits the graph and the data a run
// resumes on is Fits's to say, before anything is written. The seed's
// checkpoint is refused with ErrSeedCheckpoint; a file that is no
// checkpoint at all with convert.ErrNotCheckpoint.
func LoadGraphCheckpoint(path string) (*GraphState, error) {
	return loadCheckpoint(path, graphStateFrom)
}

// DecodeGraphCheckpoint is LoadGraphCheckpoint for a checkpoint's bytes.
func DecodeGraphCheckpoint(b []byte) (*GraphState, error) { return decodeCheckpoint(b, graphStateFrom) }

func graphStateFrom(c *convert.Checkpoint) (*GraphState, error) {
	if checkpointKind(c) != kindGraph {
		return nil, ErrSeedCheckpoint
	}
	var js graphStateJSON
	if err := json.Unmarshal(c.State, &js); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	st := &GraphState{Config: js.Config.config(), Data: js.Data, Epoch: js.Epoch, Step: js.Step, GlobalStep: js.GlobalStep,
		LossSum: js.LossSum, TrainTime: js.TrainTime, Weights: c.Model, Params: js.Params, AdamStep: js.AdamStep,
		DropoutRNG: js.DropoutRNG, Caller: js.Caller}
	for _, e := range js.Epochs {
		st.Epochs = append(st.Epochs, e.epoch())
	}
	if err := st.Config.validate(); err != nil {
		return nil, err
	}
	if err := st.checkNumbers(); err != nil {
		return nil, err
	}
	for _, w := range st.Weights {
		if w.DType != lenet.Float32 || len(w.F32) != w.NumElements() {
			return nil, fmt.Errorf("model: %s is not a float tensor of shape %v", w.Name, w.Shape)
		}
	}
	if st.AdamStep == 0 {
		return st, nil
	}
	for _, m := range []struct {
		name string
		dst  *[][]float32
	}{{"exp_avg", &st.AdamM}, {"exp_avg_sq", &st.AdamV}} {
		sd := c.Optimizer[m.name]
		if len(sd) != len(st.Params) {
			return nil, fmt.Errorf("optimizer %s has %d tensors for %d parameters", m.name, len(sd), len(st.Params))
		}
		for _, name := range st.Params {
			t, w := sd.Lookup(name), st.Weights.Lookup(name)
			if t == nil || w == nil || t.DType != lenet.Float32 || len(t.F32) != len(w.F32) {
				return nil, fmt.Errorf("optimizer %s lacks a float tensor like the weight %s", m.name, name)
			}
			*m.dst = append(*m.dst, t.F32)
		}
	}
	return st, nil
}

// ErrCheckpointTooLarge: a graph's checkpoint would be larger than a
// checkpoint may be read back (modelfile.MaxCheckpointBytes).
var ErrCheckpointTooLarge = errors.New("too large for a checkpoint")

// CheckpointFits says whether m's checkpoint could be read back: its
// weights and Adam's two moments of each, at most, with room for the rest.
// A caller that checkpoints a run checks it before the run starts.
func CheckpointFits(m *onnx.Model) error {
	var n int64
	for _, name := range floatInitializers(m) {
		n += int64(len(m.Graph.Initializers[name].Float))
	}
	const rest = 1 << 20 // the state's JSON, the archive's records
	if size := 3*4*n + rest; size > modelfile.MaxCheckpointBytes {
		return fmt.Errorf("train: the graph's %d weights with Adam's moments make up to %d MB, more than a checkpoint's %d MB: %w",
			n, size>>20, modelfile.MaxCheckpointBytes>>20, ErrCheckpointTooLarge)
	}
	return nil
}
