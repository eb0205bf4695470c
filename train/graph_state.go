package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// GraphState is where a graph run (TrainGraph) stands between two steps:
// everything ResumeGraph needs to go on as if the run had never stopped,
// so that its final weights equal an uninterrupted run's bit for bit. The
// shuffles and augmentations are drawn from (seed, epoch, image) alone;
// Dropout's masks are the one random stream that runs on, kept here.
type GraphState struct {
	Config GraphConfig
	// Data fingerprints the training images the run reads: a resume on
	// other data would shuffle, and train, otherwise.
	Data DataPrint
	// Epoch is the epoch under way (from 1) and Step the steps of it done;
	// at an epoch's end the state is that of the next epoch, at step 0.
	Epoch, Step, GlobalStep int
	// The running sums of the epoch under way.
	LossSum   float64
	TrainTime time.Duration
	// Epochs are the finished epochs' events.
	Epochs []GraphEpoch
	// Weights are every float initializer of the graph, by name: the
	// trained weights, BatchNorm's running statistics and any constant
	// the Net might move.
	Weights lenet.StateDict
	// Params name the trained initializers in the order of AdamM and
	// AdamV, the Net's.
	Params []string
	// Adam's step count and moments, one slice per trained initializer.
	AdamStep     int
	AdamM, AdamV [][]float32
	// DropoutRNG is Dropout's random stream (onnxtrain.Net.RNGState).
	DropoutRNG []byte
	// Caller holds what the program driving the run needs to resume it
	// (where the data is, say); TrainGraph and ResumeGraph leave it alone.
	Caller map[string]string
}

// GraphSource is what a graph run's model was made from: recorded in its
// checkpoint, so that a resume rebuilds the same graph and refuses
// another. TrainGraph does not read it; its caller builds the graph.
type GraphSource struct {
	// Model is the ONNX file and SHA256 its bytes' checksum (hex).
	Model  string `json:"model"`
	SHA256 string `json:"sha256"`
	// Classes is the size of the new last layer that replaced the file's
	// (0: kept); Init says the weights were drawn afresh, not the file's.
	Classes int  `json:"classes,omitempty"`
	Init    bool `json:"init,omitempty"`
}

// DataPrint tells one training set from another: its images' size, its
// classes, how many images a run reads and their checksum (pixels and
// labels, in order).
type DataPrint struct {
	Images  int    `json:"images"`
	Classes int    `json:"classes"`
	Height  int    `json:"height"`
	Width   int    `json:"width"`
	SHA256  string `json:"sha256"`
}

// Errors a resume is refused with, for errors.Is.
var (
	// ErrOtherModel: the checkpoint is of another model than the one
	// given (another file, or a graph its weights do not fit).
	ErrOtherModel = errors.New("the checkpoint is of another model")
	// ErrOtherData: the training data differs from the run's.
	ErrOtherData = errors.New("the training data is not the run's")
)

// fingerprint is the DataPrint of the first n images of s.
func fingerprint(s *dataset.Set, n int) DataPrint {
	h := sha256.New()
	var b [4]byte
	for i := range n {
		h.Write(s.Pixels(i))
		binary.LittleEndian.PutUint32(b[:], uint32(s.Label(i)))
		h.Write(b[:])
	}
	return DataPrint{Images: n, Classes: len(s.Classes), Height: s.Height, Width: s.Width, SHA256: hex.EncodeToString(h.Sum(nil))}
}

// SameModel refuses a model file whose checksum (sha256, hex) is not the
// one the run was started from.
func (st *GraphState) SameModel(sum string) error {
	if want := st.Config.Source.SHA256; want != "" && sum != want {
		return fmt.Errorf("train: %w: the run trained %s, whose SHA-256 was %.12s…, and this file's is %.12s…",
			ErrOtherModel, st.Config.Source.Model, want, sum)
	}
	return nil
}

// Fits says whether st can go on as a run of m on trainSet: the weights
// are m's float initializers, name for name and shape for shape, the data
// is the run's, and the counters fit its epochs and steps. A caller checks
// it before it writes anything for the run; ResumeGraph checks it again.
func (st *GraphState) Fits(m *onnx.Model, trainSet *dataset.Set) error {
	if err := fitsGraph(st.Weights, m); err != nil {
		return err
	}
	n := trainSet.Len()
	if st.Config.Limit > 0 {
		n = min(n, st.Config.Limit)
	}
	if st.Data.Images != n || st.Data.Classes != len(trainSet.Classes) {
		return fmt.Errorf("train: %w: the run trained on %d images of %d classes, this data gives %d of %d", ErrOtherData,
			st.Data.Images, st.Data.Classes, n, len(trainSet.Classes))
	}
	if got := fingerprint(trainSet, n); got != st.Data {
		return fmt.Errorf("train: %w: %d images of %d classes, as the run's, but other images or labels (checksum %.12s…, the run's %.12s…)",
			ErrOtherData, n, len(trainSet.Classes), got.SHA256, st.Data.SHA256)
	}
	steps := n / st.Config.BatchSize
	if st.Epoch < 1 || st.Epoch > st.Config.Epochs+1 || st.Step < 0 || st.Step > steps ||
		st.GlobalStep != (st.Epoch-1)*steps+st.Step || len(st.Epochs) != st.Epoch-1 {
		return fmt.Errorf("train: checkpoint at epoch %d, step %d (step %d overall, %d epochs done) does not fit a run of %d epochs of %d steps",
			st.Epoch, st.Step, st.GlobalStep, len(st.Epochs), st.Config.Epochs, steps)
	}
	return nil
}

// fitsGraph refuses weights that are not m's float initializers.
func fitsGraph(w lenet.StateDict, m *onnx.Model) error {
	inits := floatInitializers(m)
	for _, name := range inits {
		t, have := m.Graph.Initializers[name], w.Lookup(name)
		if have == nil || !slices.Equal(have.Shape, t.Shape) || len(have.F32) != len(t.Float) {
			return fmt.Errorf("train: %w: the graph's %s %v is not in it", ErrOtherModel, name, t.Shape)
		}
	}
	if len(w) != len(inits) {
		return fmt.Errorf("train: %w: it holds %d weights, the graph %d", ErrOtherModel, len(w), len(inits))
	}
	return nil
}

// floatInitializers names m's float initializers, in name order.
func floatInitializers(m *onnx.Model) []string {
	var names []string
	for name, t := range m.Graph.Initializers {
		if t.DType.IsFloat() && len(t.Float) == t.Len() && t.Len() > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// graphWeights is m's float initializers as a state dict that shares
// their values: a checkpoint written from it holds the weights of now.
func graphWeights(m *onnx.Model) lenet.StateDict {
	var sd lenet.StateDict
	for _, name := range floatInitializers(m) {
		t := m.Graph.Initializers[name]
		sd = append(sd, &lenet.Tensor{Name: name, Shape: t.Shape, DType: lenet.Float32, F32: t.Float})
	}
	return sd
}

// Finished reports whether the run st was taken from has trained every
// epoch: only its test is left.
func (st *GraphState) Finished() bool { return st.Epoch > st.Config.Epochs }

// checkNumbers refuses counters and figures no run writes: a checkpoint is
// input.
func (st *GraphState) checkNumbers() error {
	if err := checkCounters(st.Epoch, st.Step, st.GlobalStep, st.AdamStep, st.LossSum, st.TrainTime, len(st.Epochs)); err != nil {
		return err
	}
	if st.Data.Images < 1 || st.Data.SHA256 == "" {
		return fmt.Errorf("no fingerprint of the training data")
	}
	for _, e := range st.Epochs {
		if err := checkEpochFigures(e.Epoch, e.TrainLoss, e.Val.Loss, e.Val.Accuracy); err != nil {
			return err
		}
	}
	return nil
}

// validate refuses a GraphConfig no run of TrainGraph takes.
func (c GraphConfig) validate() error {
	if c.Epochs < 1 || c.Epochs > modelfile.MaxEpochs || c.BatchSize < 1 || c.BatchSize > modelfile.MaxBatchSize ||
		!(c.MaxLR > 0 && c.MaxLR <= modelfile.MaxLearningRate) || !(c.WeightDecay >= 0 && c.WeightDecay <= modelfile.MaxWeightDecay) ||
		c.Limit < 0 || c.Prep.Pad < 0 || !(c.Prep.Std >= 0) || math.IsNaN(float64(c.Prep.Mean)) || math.IsInf(float64(c.Prep.Mean), 0) {
		return fmt.Errorf("train: epochs %d, batch %d, max-lr %g, weight decay %g, limit %d, pad %d, std %g: out of range",
			c.Epochs, c.BatchSize, c.MaxLR, c.WeightDecay, c.Limit, c.Prep.Pad, c.Prep.Std)
	}
	return nil
}
