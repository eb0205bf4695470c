package train

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnxtrain"
)

// GraphConfig is how TrainGraph trains an ONNX graph: Adam (coupled L2
// weight decay, as for the seed) under OneCycleLR peaking at MaxLR, on
// batches of images prepared as Prep says and augmented as Augment says.
type GraphConfig struct {
	Epochs, BatchSize  int
	MaxLR, WeightDecay float64
	Limit              int // use only the first Limit training images; 0: all
	Seed               uint64
	Freeze             []string // initializer-name patterns kept fixed
	Prep               Prep
	Augment            dataset.Augment
	// Source is what the caller made the graph from; TrainGraph keeps it
	// in its checkpoints, for a resume to rebuild the graph and check it.
	Source GraphSource
}

// Prep turns a data set's images (grey, [0, 1]) into the graph's input:
// Pad zero pixels on every side, then (x - Mean) / Std, torchvision's
// Pad and Normalize. Resize records that the data's images were resized
// to the input before ("bilinear" or "area", as package dataset's
// --prep resize makes them), for the graph written to declare it; ""
// for none. Orient turns each padded image last (dataset.ParseOrientation's
// steps), as the graph was trained to take them; "" for none.
type Prep struct {
	Pad       int     `json:"pad"`
	Mean, Std float32 `json:"-"`
	Resize    string  `json:"resize,omitempty"`
	Orient    string  `json:"orient,omitempty"`
}

// orientation is Orient's steps; Fill refuses those that do not fit.
func (p Prep) orientation() (dataset.Orientation, error) { return dataset.ParseOrientation(p.Orient) }

// GraphMetrics are a graph's figures on a set of images.
type GraphMetrics struct {
	Accuracy float64 // percent
	Loss     float64 // mean cross-entropy
	Images   int
	// PerClass is each class's accuracy in percent (NaN for a class
	// without images) and Count its images.
	PerClass []float64
	Count    []int
}

// GraphEpoch reports one finished epoch and its validation.
type GraphEpoch struct {
	Epoch     int
	TrainLoss float64
	Val       GraphMetrics
	Duration  time.Duration
	Images    int
}

// GraphHooks receive progress; any may be nil.
type GraphHooks struct {
	// Start runs once the graph is built and the data checked against
	// it, before the first step: where a caller creates what the run
	// writes, so that a run refused is refused before anything is
	// written. An error from it ends the run.
	Start func() error
	Step  func(StepEvent)
	Epoch func(GraphEpoch)
	// Checkpoint gets the run's GraphState at every epoch's end, after
	// Epoch, and when ctx stops the run; an error from it ends the run.
	// The state shares the graph's weights and Adam's moments: save it
	// before returning.
	Checkpoint func(*GraphState) error
}

// GraphResult is what TrainGraph did: the model it was given now holds the
// trained weights.
type GraphResult struct {
	Epochs  []GraphEpoch
	Test    GraphMetrics // zero when there was no test set or the run stopped
	Stopped bool
	// StoppedAt is the step after which ctx stopped the run.
	StoppedAt StepEvent
	// Steps is the number of training steps taken, each in train mode,
	// those before a resume included.
	Steps int
	// Skipped names the final Softmax and Identity nodes the loss reads
	// past.
	Skipped []string
}

// TrainGraph trains m in place on trainSet, validating on valSet after
// every epoch and testing on testSet at the end (either may be nil). When
// ctx ends, it stops after the current step with Stopped set.
func TrainGraph(ctx context.Context, m *onnx.Model, cfg GraphConfig, trainSet, valSet, testSet *dataset.Set, hooks GraphHooks) (*GraphResult, error) {
	return trainGraph(ctx, m, cfg, nil, trainSet, valSet, testSet, hooks)
}

// ResumeGraph goes on with the run st was taken from, on the same data,
// and ends where that run would have ended, with the same weights bit for
// bit. m is the graph as the run's caller built it (the file st's
// Config.Source names, its last layer replaced or its weights drawn
// afresh as it says); ResumeGraph sets its weights from st.
func ResumeGraph(ctx context.Context, m *onnx.Model, st *GraphState, trainSet, valSet, testSet *dataset.Set, hooks GraphHooks) (*GraphResult, error) {
	if err := st.Fits(m, trainSet); err != nil {
		return nil, err
	}
	// The Net reads the initializers in place: copy the values in before
	// it is built.
	for _, w := range st.Weights {
		copy(m.Graph.Initializers[w.Name].Float, w.F32)
	}
	return trainGraph(ctx, m, st.Config, st, trainSet, valSet, testSet, hooks)
}

func trainGraph(ctx context.Context, m *onnx.Model, cfg GraphConfig, from *GraphState, trainSet, valSet, testSet *dataset.Set, hooks GraphHooks) (*GraphResult, error) {
	r, err := newGraphRun(m, cfg, trainSet)
	if err != nil {
		return nil, err
	}
	defer r.close()
	opt := NewAdam(cfg.WeightDecay)
	res := &GraphResult{Skipped: r.net.Skipped()}
	global, firstEpoch, firstStep := 0, 1, 0
	var lossSum float64
	var took time.Duration
	var data DataPrint
	if from != nil {
		if err := r.restore(from, opt); err != nil {
			return nil, err
		}
		global, firstEpoch, firstStep = from.GlobalStep, from.Epoch, from.Step
		lossSum, took, data = from.LossSum, from.TrainTime, from.Data
		res.Epochs, res.Steps = append(res.Epochs, from.Epochs...), global
	} else if hooks.Checkpoint != nil {
		data = fingerprint(trainSet, len(r.idx))
	}
	if hooks.Start != nil {
		if err := hooks.Start(); err != nil {
			return nil, err
		}
	}
	checkpoint := func(epoch, step int) error {
		if hooks.Checkpoint == nil {
			return nil
		}
		st, err := r.state(cfg, opt, epoch, step, global)
		if err != nil {
			return err
		}
		st.Data, st.LossSum, st.TrainTime, st.Epochs = data, lossSum, took, res.Epochs
		if from != nil {
			st.Caller = from.Caller
		}
		return hooks.Checkpoint(st)
	}
	sched := NewOneCycle(cfg.MaxLR, cfg.Epochs*r.steps)
	order := make([]int, len(r.idx))
	for epoch := firstEpoch; epoch <= cfg.Epochs; epoch++ {
		copy(order, r.idx)
		mnist.Shuffle(order, cfg.Seed, epoch)
		start := 0
		if epoch == firstEpoch {
			start = firstStep
		}
		for step := start; step < r.steps; step++ {
			begin := time.Now()
			lr, beta1, err := sched.At(global, 0.9)
			if err != nil {
				return nil, err
			}
			loss, err := r.step(trainSet, order[step*cfg.BatchSize:(step+1)*cfg.BatchSize], epoch)
			if err != nil {
				return nil, err
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, &DivergedError{Epoch: epoch, Step: step + 1, StepsPerEpoch: r.steps, GlobalStep: global + 1, Loss: loss, MaxLR: cfg.MaxLR, LR: lr}
			}
			opt.Step(r.params, r.grads(), lr, beta1)
			global++
			res.Steps = global
			took += time.Since(begin)
			lossSum += loss
			ev := StepEvent{Epoch: epoch, Step: step + 1, StepsPerEpoch: r.steps, GlobalStep: global, TotalSteps: sched.TotalSteps,
				Loss: loss, LR: lr, Beta1: beta1, Duration: time.Since(begin)}
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
		ep := GraphEpoch{Epoch: epoch, TrainLoss: lossSum / float64(r.steps), Duration: took, Images: r.steps * cfg.BatchSize}
		if valSet != nil && valSet.Len() > 0 {
			if ep.Val, err = EvaluateGraph(m, valSet, cfg.Prep, cfg.BatchSize); err != nil {
				return nil, err
			}
		}
		res.Epochs = append(res.Epochs, ep)
		if hooks.Epoch != nil {
			hooks.Epoch(ep)
		}
		lossSum, took = 0, 0 // the next epoch's sums, which its checkpoint holds
		if err := checkpoint(epoch+1, 0); err != nil {
			return nil, err
		}
	}
	if testSet != nil && testSet.Len() > 0 {
		if res.Test, err = EvaluateGraph(m, testSet, cfg.Prep, cfg.BatchSize); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// graphRun is a training run's graph, its batch buffers and the order of
// its training images.
type graphRun struct {
	cfg    GraphConfig
	m      *onnx.Model
	net    *onnxtrain.Net
	steps  int
	idx    []int
	params [][]float32
	gs     [][]float32
	x      []float32
	y      []int64
	in     channels
}

func newGraphRun(m *onnx.Model, cfg GraphConfig, trainSet *dataset.Set) (*graphRun, error) {
	if cfg.Epochs < 1 || cfg.BatchSize < 1 || !(cfg.MaxLR > 0) || !(cfg.WeightDecay >= 0) {
		return nil, fmt.Errorf("train: epochs %d, batch %d, max-lr %g, weight decay %g: want positive numbers (weight decay 0 or more)", cfg.Epochs, cfg.BatchSize, cfg.MaxLR, cfg.WeightDecay)
	}
	n := trainSet.Len()
	if cfg.Limit > 0 {
		n = min(n, cfg.Limit)
	}
	r := &graphRun{cfg: cfg, m: m, steps: n / cfg.BatchSize}
	if r.steps == 0 {
		return nil, fmt.Errorf("train: %d training images make no full batch of %d", n, cfg.BatchSize)
	}
	net, err := onnxtrain.New(m, onnxtrain.Options{Batch: cfg.BatchSize, Freeze: cfg.Freeze, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	r.net = net
	if r.in, err = checkFit(net, trainSet, cfg.Prep); err != nil {
		r.close()
		return nil, err
	}
	r.idx = make([]int, n)
	for i := range r.idx {
		r.idx[i] = i
	}
	for _, p := range net.Params() {
		r.params = append(r.params, p.Data)
	}
	r.gs = make([][]float32, len(r.params))
	r.x = make([]float32, size(net.InputShape()))
	r.y = make([]int64, cfg.BatchSize)
	return r, nil
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// checkFit refuses data whose images, padded, are not the graph's input,
// and labels past the graph's classes; it returns how the graph takes
// the images.
func checkFit(net *onnxtrain.Net, s *dataset.Set, p Prep) (channels, error) {
	in := net.InputShape()
	h, w := s.Height+2*p.Pad, s.Width+2*p.Pad
	planes := max(s.Channels, 1)
	ch, ok := fitChannels(in[1:], h, w, planes)
	if !ok {
		kind := "grey"
		if planes > 1 {
			kind = fmt.Sprintf("in %d colours", planes)
		}
		return ch, fmt.Errorf("train: the graph takes %v per image; the data's %dx%d images padded by %d are %dx%d %s", in[1:], s.Height, s.Width, p.Pad, h, w, kind)
	}
	if len(s.Classes) > net.Classes() {
		return ch, fmt.Errorf("train: the data has %d classes and the graph scores %d: give --classes %d to replace its last layer", len(s.Classes), net.Classes(), len(s.Classes))
	}
	return ch, nil
}

func (r *graphRun) step(s *dataset.Set, idx []int, epoch int) (float64, error) {
	grey := r.x[:len(idx)*r.in.px]
	orient, err := r.cfg.Prep.orientation()
	if err != nil {
		return 0, err
	}
	err = s.Fill(idx, grey, r.y, dataset.FillOptions{Pad: r.cfg.Prep.Pad, Augment: r.cfg.Augment, Seed: r.cfg.Seed, Epoch: epoch, Orient: orient})
	if err != nil {
		return 0, err
	}
	normalize(grey, r.cfg.Prep)
	r.in.spread(r.x, len(idx))
	return r.net.Step(r.x, r.y)
}

func normalize(x []float32, p Prep) {
	if p.Mean == 0 && (p.Std == 1 || p.Std == 0) {
		return
	}
	inv := 1 / p.Std
	for i, v := range x {
		x[i] = (v - p.Mean) * inv
	}
}

func (r *graphRun) grads() [][]float32 {
	for i := range r.gs {
		r.gs[i] = r.net.Grad(i)
	}
	return r.gs
}

func (r *graphRun) close() { r.net.Close() }

// EvaluateGraph measures m on every image of s in eval mode (BatchNorm on
// its running statistics, no dropout), batch images at a time.
func EvaluateGraph(m *onnx.Model, s *dataset.Set, p Prep, batch int) (GraphMetrics, error) {
	net, err := onnxtrain.New(m, onnxtrain.Options{Batch: batch, ForwardOnly: true})
	if err != nil {
		return GraphMetrics{}, err
	}
	defer net.Close()
	net.SetTraining(false)
	in, err := checkFit(net, s, p)
	if err != nil {
		return GraphMetrics{}, err
	}
	c := net.Classes()
	res := GraphMetrics{Images: s.Len(), PerClass: make([]float64, c), Count: make([]int, c)}
	correct := make([]int, c)
	x, y := make([]float32, size(net.InputShape())), make([]int64, batch)
	per := len(x) / batch
	var lossSum float64
	for lo := 0; lo < s.Len(); lo += batch {
		n := min(batch, s.Len()-lo)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = lo + i
		}
		// A last partial batch is padded with zeros, scored and ignored.
		clear(x[n*per:])
		orient, err := p.orientation()
		if err != nil {
			return GraphMetrics{}, err
		}
		if err := s.Fill(idx, x[:n*in.px], y[:n], dataset.FillOptions{Pad: p.Pad, Orient: orient}); err != nil {
			return GraphMetrics{}, err
		}
		normalize(x[:n*in.px], p)
		in.spread(x, n)
		if _, err := net.Step(x, y); err != nil {
			return GraphMetrics{}, err
		}
		logits := net.Logits()
		for i := range n {
			row := logits[i*c : (i+1)*c]
			lossSum += crossEntropyRow(row, int(y[i]))
			res.Count[y[i]]++
			if argmax(row) == int(y[i]) {
				correct[y[i]]++
				res.Accuracy++
			}
		}
	}
	if res.Images > 0 {
		res.Accuracy = 100 * res.Accuracy / float64(res.Images)
		res.Loss = lossSum / float64(res.Images)
	}
	for k := range res.PerClass {
		res.PerClass[k] = math.NaN()
		if res.Count[k] > 0 {
			res.PerClass[k] = 100 * float64(correct[k]) / float64(res.Count[k])
		}
	}
	return res, nil
}

func crossEntropyRow(row []float32, label int) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s) - float64(row[label])
}

func argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}
