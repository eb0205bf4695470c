package train

import (
	"fmt"
	"math"
	"slices"
)

// state is the run's GraphState after global steps, at step of epoch:
// the graph's weights, Adam's and Dropout's state, sharing the run's
// tensors. The running sums, the data's fingerprint and the epochs done
// are the caller's to fill in.
func (r *graphRun) state(cfg GraphConfig, opt *Adam, epoch, step, global int) (*GraphState, error) {
	// A finite loss can come from weights an update just made infinite;
	// a checkpoint keeps the last good ones instead.
	for _, p := range r.params {
		for _, v := range p {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, &DivergedError{Epoch: epoch, Step: step, StepsPerEpoch: r.steps, GlobalStep: global, Loss: math.NaN(), MaxLR: cfg.MaxLR, Weights: true}
			}
		}
	}
	rng, err := r.net.RNGState()
	if err != nil {
		return nil, err
	}
	adamStep, m, v := opt.moments()
	return &GraphState{Config: cfg, Epoch: epoch, Step: step, GlobalStep: global, Weights: graphWeights(r.m),
		Params: r.paramNames(), AdamStep: adamStep, AdamM: m, AdamV: v, DropoutRNG: rng}, nil
}

// restore sets Adam and Dropout's stream as they were at st, whose
// weights are the graph's already (ResumeGraph). Adam gets copies of st's
// moments: stepping it leaves st as it was.
func (r *graphRun) restore(st *GraphState, opt *Adam) error {
	if names := r.paramNames(); !slices.Equal(names, st.Params) {
		return fmt.Errorf("train: %w: it trained %d initializers, this graph with its frozen ones %d", ErrOtherModel, len(st.Params), len(names))
	}
	sizes := make([]int, len(r.params))
	for i, p := range r.params {
		sizes[i] = len(p)
	}
	if err := opt.restore(st.AdamStep, cloneAll(st.AdamM), cloneAll(st.AdamV), sizes); err != nil {
		return err
	}
	if err := r.net.SetRNGState(st.DropoutRNG); err != nil {
		return fmt.Errorf("train: the checkpoint's dropout stream: %w", err)
	}
	return nil
}

func (r *graphRun) paramNames() []string {
	var names []string
	for _, p := range r.net.Params() {
		names = append(names, p.Name)
	}
	return names
}
