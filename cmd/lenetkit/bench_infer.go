package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/bench"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/onnx"
)

// benchRounds is how many turns each side of a comparison takes unless
// --rounds says otherwise: on a shared machine a burst of others' work
// lasts seconds, and measured back to back, one 3-second run each, the
// ratio to ONNX Runtime moved by up to 40 % between runs of the same file.
const benchRounds = 3

// benchInference times every lenetkit backend that runs the model and
// ONNX Runtime at batch 1 and 128, taking turns: --rounds rounds of
// --seconds / rounds each, lenetkit's backends then ONNX Runtime. Each side's
// figure is its best round, the one least disturbed, as bench.Interleaved
// takes for --baseline.
func benchInference(c *cli.Context, r *benchReport, model string, in declaredInput, dur time.Duration, flops func(float64) float64) error {
	status, ref := statusOut(c), c.String("reference")
	rounds := c.Int("rounds")
	r.InferRounds = rounds
	per := dur / time.Duration(rounds)
	ortOK := true
	image, fixed := in.image, in.batch
	for _, batch := range []int{1, 128} {
		// ONNX Runtime runs a graph whose file fixes its batch at that
		// batch only; lenetkit's plan takes any.
		ortHere := ortOK && (fixed == 0 || fixed == batch)
		if ortOK && !ortHere {
			r.notMeasured(fmt.Sprintf("%s at batch %d", bench.PeerONNXRuntime, batch), fmt.Errorf("the file fixes its batch at %d, which ONNX Runtime holds it to", fixed))
		}
		var backends []string
		var models []mnist.Classifier
		size, classes := mnist.PixelCount, mnist.Classes
		for _, backend := range []string{infer.Kernels, infer.Native, infer.Gorgonia} {
			m, err := infer.Open(model, backend)
			if err != nil && backend == infer.Kernels {
				// Any other image classifier (its own input size, its
				// own classes) at its own input size.
				if any, aerr := infer.OpenClassifier(model, backend, infer.OpenOptions{AnyInput: true, AnyClasses: true}); aerr == nil {
					backends, models = append(backends, backend), append(models, any.AtInputSize())
					size, classes = any.InputSize(), any.Classes
					continue
				}
			}
			if err != nil && backend != infer.Kernels {
				// The native and Gorgonia backends run the seed's LeNet only.
				if batch == 1 {
					r.notMeasured("lenetkit's "+backend+" backend", err)
				}
				continue
			} else if err != nil {
				return err
			}
			backends, models = append(backends, backend), append(models, m)
		}
		best := make([]float64, len(models))
		ort := 0.0
		for round := range rounds {
			fmt.Fprintf(status, "inference, batch %d, round %d of %d: lenetkit, then ONNX Runtime ...\n", batch, round+1, rounds)
			for i, m := range models {
				ips, err := bench.InferenceOf(m, batch, size, classes, per)
				if err != nil {
					return err
				}
				best[i] = max(best[i], ips)
			}
			if !ortHere {
				continue
			}
			p, err := bench.ONNXRuntime(c.Context, ref, model, batch, per, image)
			if err != nil {
				r.notMeasured(bench.PeerONNXRuntime, err)
				ortOK, ortHere = false, false
				continue
			}
			ort = max(ort, p.Value)
			r.ORTPeakRSSBytes = max(r.ORTPeakRSSBytes, p.PeakRSS)
		}
		top := 0.0
		for i, backend := range backends {
			r.Inference = append(r.Inference, inferFigure{backend, batch, best[i], flops(best[i])})
			top = max(top, best[i])
		}
		r.recordInference(batch, best[0], top, ort)
	}
	return nil
}

// recordInference sets the report's batch-1 or batch-128 figures: the
// default .onnx path's (lenetkit's backend), the best backend's, and ONNX
// Runtime's with the ratios, where it was measured (ort > 0).
func (r *benchReport) recordInference(batch int, def, top, ort float64) {
	if batch == 1 {
		r.DefaultONNXBatch1, r.InferImagesPerSBatch1 = def, top
	} else {
		r.DefaultONNXBatch128, r.InferImagesPerSBatch128 = def, top
	}
	if ort <= 0 {
		return
	}
	if batch == 1 {
		r.ORTImagesPerSBatch1, r.RatioInferBatch1VsORT, r.RatioDefaultBatch1 = ort, top/ort, def/ort
	} else {
		r.ORTImagesPerSBatch128, r.RatioInferBatch128VsORT, r.RatioDefaultBatch128 = ort, top/ort, def/ort
	}
}

// fixedBatch is the batch m's first input fixes, when it is a number
// above 0 (an export without a dynamic batch axis); 0 otherwise.
func fixedBatch(m *onnx.Model) int {
	if len(m.Graph.Inputs) == 0 {
		return 0
	}
	if d := m.Graph.Inputs[0].Shape(); len(d) > 0 && d[0] > 0 {
		return d[0]
	}
	return 0
}
