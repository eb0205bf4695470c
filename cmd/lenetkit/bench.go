package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lenetkit/lenetkit/bench"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/internal/gemm"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx/backend"
	"github.com/lenetkit/lenetkit/train"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure training and inference speed beside PyTorch and ONNX Runtime",
		Description: `In one run on this machine: N training steps of batch 128 in lenetkit and in
PyTorch (reference/train_reference.py, Debian's torch, 2 threads), and inference
at batch 1 and 128 through each lenetkit backend and through ONNX Runtime
(reference/ort_bench.js, onnxruntime-node, 2 threads) on the same ONNX file,
taking turns: --rounds rounds (3) of a share of --seconds each, lenetkit then
ONNX Runtime, each side's figure its best round, so that a burst of others' work
on a shared machine does not decide the ratio. A peer that is not installed
is reported as not measured.

--baseline FILE puts a float model beside --model, a quantized (int8) one: in
the same run, taking turns so that others' load on the machine costs both
alike, lenetkit times each at batch 1 and 128, and ONNX Runtime each file, and
the report gives images/s, the ratios int8/float and int8/ONNX Runtime, the
CPU's model and load average, and which int8 and float kernels ran. FILE is an
ONNX file or any model file lenetkit reads (a .pth is written as ONNX for ONNX
Runtime).

--weights FILE also times training steps from FILE's weights, on real MNIST
batches, at the learning rate and beta1 where the seed's schedule ends, in
lenetkit and in PyTorch: the steps a whole run ends with, beside fresh ones.
A checkpoint (train's checkpoint.pth) gives Adam's moments too, which a long
run leaves as small as its weights: where subnormal floats are slow (Intel
cores), both would slow the steps.

--model FILE with --steps trains the graph itself (lenetkit train --model)
beside its torch twin (reference/onnx_train_bench.py), taking turns the same
way: --rounds rounds of a share of the steps each, each side's fastest round.

Examples:
   lenetkit bench
   lenetkit bench --weights parameter.pth
   lenetkit bench --weights runs/1/checkpoint.pth      # weights and Adam's state
   lenetkit bench --model model.onnx --steps 50 --format json
   lenetkit bench --model keras.onnx --steps 0           # inference only, any ONNX classifier
   lenetkit bench --model int8.onnx --baseline lenet_trained.pth --steps 0   # int8 against float`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "ONNX file to run (default: an export of freshly initialised weights; speed does not depend on the values)"},
			&cli.StringFlag{Name: "baseline", Usage: "float model to time beside --model, an int8 one, turn about (an ONNX file, or a .pth or .safetensors)"},
			&cli.IntFlag{Name: "steps", Value: 30, Usage: "training steps to time"},
			&cli.StringFlag{Name: "weights", Usage: "also time steps from this model file's weights (a checkpoint's: with its Adam state) at the schedule's final lr and beta1"},
			dataFlag,
			&cli.IntFlag{Name: "rounds", Value: benchRounds, Usage: "turns lenetkit and each peer take at each measurement, each side's best kept (1: one after the other)"},
			&cli.Float64Flag{Name: "seconds", Value: 3, Usage: "seconds per inference measurement, shared by its rounds"},
			&cli.StringFlag{Name: "reference", Value: "reference", Usage: "directory of the peer scripts"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
		},
		Action: runBench,
	}
}

// The most bench times: enough for a steady figure on any machine, and
// --seconds 1e18 would overflow time.Duration.
const (
	maxBenchSteps   = 100000
	maxBenchSeconds = 600
	maxBenchRounds  = 100
)

type inferFigure struct {
	Backend    string  `json:"backend"`
	Batch      int     `json:"batch"`
	ImagesPerS float64 `json:"images_per_s"`
	GFLOPS     float64 `json:"gflops"`
}

type benchReport struct {
	Model string `json:"model"`
	// CPU is the CPU's model name and LoadAverage the system's load
	// average (1, 5 and 15 minutes) when the run started and ended: the
	// machine may be shared.
	CPU              string     `json:"cpu"`
	LoadAverageStart [3]float64 `json:"load_average_start"`
	LoadAverageEnd   [3]float64 `json:"load_average_end"`
	// Int8 is --baseline's comparison.
	Int8 *int8Comparison `json:"int8_vs_float,omitempty"`
	// TrainWeights says where the steps of TrainMSPerStep started: "fresh"
	// or the --weights file; TrainMSPerStepFresh is the fresh figure.
	TrainWeights string `json:"train_weights"`
	// TrainRounds is how many turns a --model graph's training took in
	// lenetkit and in PyTorch; each figure is the fastest.
	TrainRounds int `json:"train_rounds,omitempty"`
	// TrainGraph says the steps were of the --model graph (onnxtrain), not the seed's LeNet.
	TrainGraph          bool    `json:"train_graph"`
	TrainMSPerStep      float64 `json:"train_ms_per_step"`
	TrainMSPerStepFresh float64 `json:"train_ms_per_step_fresh"`
	// TrainAdamStep is the Adam step count the --weights checkpoint held
	// (its moments were used); 0 for a fresh Adam.
	TrainAdamStep           int           `json:"train_adam_step,omitempty"`
	RatioTrainedVsFresh     float64       `json:"ratio_trained_vs_fresh,omitempty"`
	PyTorchTrainMSFresh     float64       `json:"pytorch_train_ms_per_step_fresh,omitempty"`
	TrainGFLOPS             float64       `json:"train_gflops"`
	TrainSecondsPerEpoch    float64       `json:"train_seconds_per_epoch"`
	InferImagesPerSBatch1   float64       `json:"infer_images_per_s_batch1"`
	InferImagesPerSBatch128 float64       `json:"infer_images_per_s_batch128"`
	Inference               []inferFigure `json:"inference"`
	// InferRounds is how many turns lenetkit and ONNX Runtime took at each
	// batch size; every inference figure is the best of them.
	InferRounds           int     `json:"inference_rounds"`
	PeakRSSBytes          int64   `json:"peak_rss_bytes"`
	TrainPeakRSSBytes     int64   `json:"train_peak_rss_bytes"` // the process's peak after the training steps, before any inference
	PyTorchTrainMSPerStep float64 `json:"pytorch_train_ms_per_step,omitempty"`
	PyTorchPeakRSSBytes   int64   `json:"pytorch_peak_rss_bytes,omitempty"`
	ORTImagesPerSBatch1   float64 `json:"onnxruntime_images_per_s_batch1,omitempty"`
	ORTImagesPerSBatch128 float64 `json:"onnxruntime_images_per_s_batch128,omitempty"`
	ORTPeakRSSBytes       int64   `json:"onnxruntime_peak_rss_bytes,omitempty"`
	// The default path for .onnx files (lenetkit's backend) against ONNX
	// Runtime, images/s, and a whole evaluation of the 10,000 test images.
	DefaultONNXBatch1    float64 `json:"default_onnx_images_per_s_batch1"`
	DefaultONNXBatch128  float64 `json:"default_onnx_images_per_s_batch128"`
	RatioDefaultBatch1   float64 `json:"ratio_default_onnx_batch1_vs_onnxruntime,omitempty"`
	RatioDefaultBatch128 float64 `json:"ratio_default_onnx_batch128_vs_onnxruntime,omitempty"`
	EvalSeconds          float64 `json:"eval_seconds,omitempty"`
	ORTEvalSeconds       float64 `json:"onnxruntime_eval_seconds,omitempty"`
	// The evaluation's figures on each side: accuracy in percent and mean
	// cross-entropy; ONNX Runtime's from its own outputs, so that equal
	// figures say the file runs the same in both.
	EvalAccuracy            float64 `json:"eval_accuracy,omitempty"`
	EvalLoss                float64 `json:"eval_loss,omitempty"`
	ORTEvalAccuracy         float64 `json:"onnxruntime_eval_accuracy,omitempty"`
	ORTEvalLoss             float64 `json:"onnxruntime_eval_loss,omitempty"`
	RatioEvalVsORT          float64 `json:"ratio_eval_seconds_vs_onnxruntime,omitempty"`
	RatioTrainVsPyTorch     float64 `json:"ratio_train_ms_vs_pytorch,omitempty"`
	RatioInferBatch1VsORT   float64 `json:"ratio_infer_batch1_vs_onnxruntime,omitempty"`
	RatioInferBatch128VsORT float64 `json:"ratio_infer_batch128_vs_onnxruntime,omitempty"`
	// NotMeasured says, a line per peer, why a peer has no figures (they
	// are left out, not zero) and how to install it.
	NotMeasured []string `json:"not_measured,omitempty"`
}

// notMeasured records why peer has no figure, once however many of its
// measurements failed: the first failure's reason and remedy are the
// ones that matter (a missing package fails every script of the peer).
func (r *benchReport) notMeasured(peer string, err error) {
	prefix := peer + " not measured: "
	for _, l := range r.NotMeasured {
		if strings.HasPrefix(l, prefix) {
			return
		}
	}
	line := oneLine(err.Error())
	if !strings.HasPrefix(line, prefix) {
		line = prefix + line
	}
	r.NotMeasured = append(r.NotMeasured, line)
}

func runBench(c *cli.Context) error {
	format := c.String("format")
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	steps, dur := c.Int("steps"), time.Duration(c.Float64("seconds")*float64(time.Second))
	if n := c.Int("rounds"); n < 1 || n > maxBenchRounds {
		return usageError("--rounds %d: want 1 to %d", n, maxBenchRounds)
	}
	if secs := c.Float64("seconds"); steps < 0 || steps > maxBenchSteps || !(secs > 0 && secs <= maxBenchSeconds) {
		return usageError("--steps %d and --seconds %g: want 0 (no training) to %d steps and a time in (0, %d] seconds", steps, secs, maxBenchSteps, maxBenchSeconds)
	}
	model := c.String("model")
	if model == "" {
		dir, err := os.MkdirTemp("", "lenetkit-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		model = filepath.Join(dir, "lenet.onnx")
		if err := modelfile.Write(model, lenet.Init(1), modelfile.WriteOptions{Producer: version}); err != nil {
			return err
		}
	}
	r := benchReport{Model: model, CPU: bench.CPUModel()}
	r.LoadAverageStart, _ = bench.LoadAverage()
	baseline := c.String("baseline")
	if baseline != "" {
		onnxBaseline, cleanup, err := baselineONNX(baseline)
		if err != nil {
			return err
		}
		defer cleanup()
		baseline = onnxBaseline
	}

	// GFLOP/s are counted for the seed's LeNet; another graph's are not
	// known, and its figures are images per second only.
	seed := true
	if _, err := infer.Open(model, infer.Native); err != nil {
		seed = false
	}
	if steps > 0 {
		train := benchTraining
		if !seed {
			train = benchGraphTraining
		}
		if err := train(c, &r, steps); err != nil {
			return err
		}
		r.TrainPeakRSSBytes = bench.PeakRSS()
	}
	in := declared(model) // ONNX Runtime's input shape and batch, read once
	flops := func(ips float64) float64 {
		if !seed {
			return 0
		}
		return ips * bench.ForwardFLOPPerImage / 1e9
	}

	if err := benchInference(c, &r, model, in, dur, flops); err != nil {
		return err
	}
	if baseline != "" {
		cmp, err := benchInt8(c, &r, model, baseline, dur)
		if err != nil {
			return err
		}
		cmp.Baseline = c.String("baseline")
		r.Int8 = cmp
	}
	if err := benchEvaluation(c, &r, model, in); err != nil {
		r.notMeasured("the evaluation of the test set", err)
	}
	r.PeakRSSBytes = bench.PeakRSS()
	r.LoadAverageEnd, _ = bench.LoadAverage()

	w := c.App.Writer
	if format == "json" {
		return printJSON(w, r)
	}
	fmt.Fprintf(w, "CPU: %s; load average %s at the start, %s at the end (a shared machine: others' work slows every figure)\n",
		r.CPU, bench.FormatLoad(r.LoadAverageStart), bench.FormatLoad(r.LoadAverageEnd))
	if steps > 0 && !r.TrainGraph {
		fmt.Fprintf(w, "training: lenetkit's steps, then PyTorch's; inference: lenetkit and ONNX Runtime took turns, %s, each figure its side's best round\n", nouns(c.Int("rounds"), "round"))
	} else {
		fmt.Fprintf(w, "lenetkit and its peers took turns, %s of each measurement; each figure is its side's best round\n", nouns(c.Int("rounds"), "round"))
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if steps == 0 {
		fmt.Fprintf(tw, "training\tnot measured (--steps 0)\t\t\n")
	} else if r.TrainWeights != "fresh" && !r.TrainGraph {
		fmt.Fprintf(tw, "training step, batch 128, fresh weights\t\t\t\n")
		fmt.Fprintf(tw, "  lenetkit\t%.1f ms\t\t\n", r.TrainMSPerStepFresh)
		if r.PyTorchTrainMSFresh > 0 {
			fmt.Fprintf(tw, "  PyTorch\t%.1f ms\tlenetkit/PyTorch time %.2f\t\n", r.PyTorchTrainMSFresh, r.TrainMSPerStepFresh/r.PyTorchTrainMSFresh)
		} else {
			fmt.Fprintf(tw, "  PyTorch\tnot measured\t\t\n")
		}
	}
	if steps > 0 && r.TrainGraph {
		fmt.Fprintf(tw, "training step of the graph, batch 128, its weights\t\t\t\n")
		fmt.Fprintf(tw, "  lenetkit\t%.1f ms\t%.0f images/s\t\n", r.TrainMSPerStep, 128/(r.TrainMSPerStep/1000))
		if r.PyTorchTrainMSPerStep > 0 {
			fmt.Fprintf(tw, "  PyTorch (its torch twin)\t%.1f ms\t%.0f images/s\tlenetkit/PyTorch time %.2f\n", r.PyTorchTrainMSPerStep,
				128/(r.PyTorchTrainMSPerStep/1000), r.RatioTrainVsPyTorch)
		} else {
			fmt.Fprintf(tw, "  PyTorch\tnot measured\t\t\n")
		}
	} else if steps > 0 {
		if r.TrainWeights == "fresh" {
			fmt.Fprintf(tw, "training step, batch 128, fresh weights\t\t\t\n")
		} else {
			// The file's name goes in the last cell, which tabwriter leaves
			// out of the column widths: a long path must not widen the table.
			from := "its weights, a fresh Adam"
			if r.TrainAdamStep > 0 {
				from = fmt.Sprintf("its weights and Adam state (step %d)", r.TrainAdamStep)
			}
			fmt.Fprintf(tw, "training step, batch 128, from --weights\t\t\t%s: %s\n", r.TrainWeights, from)
		}
		fmt.Fprintf(tw, "  lenetkit\t%.1f ms\t%.1f GFLOP/s\t%.1f s per 429-step epoch\n", r.TrainMSPerStep, r.TrainGFLOPS, r.TrainSecondsPerEpoch)
		if r.RatioTrainedVsFresh > 0 {
			fmt.Fprintf(tw, "  lenetkit trained/fresh\t%.2f\t\t\n", r.RatioTrainedVsFresh)
		}
		if r.PyTorchTrainMSPerStep > 0 {
			fmt.Fprintf(tw, "  PyTorch\t%.1f ms\t%.1f GFLOP/s\tlenetkit/PyTorch time %.2f\n", r.PyTorchTrainMSPerStep,
				128*bench.TrainFLOPPerImage/(r.PyTorchTrainMSPerStep/1000)/1e9, r.RatioTrainVsPyTorch)
		} else {
			fmt.Fprintf(tw, "  PyTorch\tnot measured\t\t\n")
		}
	}
	fmt.Fprintf(tw, "inference\t\t\t\n")
	for _, f := range r.Inference {
		fmt.Fprintf(tw, "  lenetkit %s, batch %d\t%.0f images/s\t%s\t\n", f.Backend, f.Batch, f.ImagesPerS, gflopsCell(f.GFLOPS))
	}
	for _, o := range []struct {
		batch      int
		ips, ratio float64
	}{{1, r.ORTImagesPerSBatch1, r.RatioInferBatch1VsORT}, {128, r.ORTImagesPerSBatch128, r.RatioInferBatch128VsORT}} {
		if o.ips > 0 {
			fmt.Fprintf(tw, "  ONNX Runtime, batch %d\t%.0f images/s\t%s\tlenetkit best/ONNX Runtime %.2f\n", o.batch, o.ips, gflopsCell(flops(o.ips)), o.ratio)
		} else {
			fmt.Fprintf(tw, "  ONNX Runtime, batch %d\tnot measured\t\t\n", o.batch)
		}
	}
	if r.RatioDefaultBatch1 > 0 || r.RatioDefaultBatch128 > 0 {
		ratio := func(v float64) string {
			if v > 0 {
				return fmt.Sprintf("%.2f", v)
			}
			return "not measured"
		}
		fmt.Fprintf(tw, "  default .onnx path (lenetkit backend)/ONNX Runtime\tbatch 1: %s\tbatch 128: %s\t\n", ratio(r.RatioDefaultBatch1), ratio(r.RatioDefaultBatch128))
	}
	if r.EvalSeconds == 0 {
		// Not measured, and NotMeasured says why.
	} else if r.ORTEvalSeconds > 0 {
		fmt.Fprintf(tw, "evaluation of the 10,000 test images\tlenetkit %.2f s\tONNX Runtime %.2f s\tlenetkit/ONNX Runtime time %.2f\n", r.EvalSeconds, r.ORTEvalSeconds, r.RatioEvalVsORT)
		fmt.Fprintf(tw, "  accuracy, loss\tlenetkit %.2f %%, %.6f\tONNX Runtime %.2f %%, %.6f\t\n", r.EvalAccuracy, r.EvalLoss, r.ORTEvalAccuracy, r.ORTEvalLoss)
	} else {
		fmt.Fprintf(tw, "evaluation of the 10,000 test images\tlenetkit %.2f s\tONNX Runtime not measured\t\n", r.EvalSeconds)
		fmt.Fprintf(tw, "  accuracy, loss\tlenetkit %.2f %%, %.6f\t\t\n", r.EvalAccuracy, r.EvalLoss)
	}
	if steps > 0 {
		fmt.Fprintf(tw, "peak RSS, training\tlenetkit %.0f MB\t%s\t\n", float64(r.TrainPeakRSSBytes)/1e6, peerMB("PyTorch", r.PyTorchPeakRSSBytes))
	}
	// onnx-go's graphs, one per batch size and worker, hold most of it
	// where that backend ran.
	most := ""
	if slices.ContainsFunc(r.Inference, func(f inferFigure) bool { return f.Backend == infer.Gorgonia }) {
		most = " (onnx-go's graphs most)"
	}
	fmt.Fprintf(tw, "peak RSS, all of it\tlenetkit %.0f MB%s\t%s\t\n",
		float64(r.PeakRSSBytes)/1e6, most, peerMB("ONNX Runtime", r.ORTPeakRSSBytes))
	tw.Flush()
	if r.Int8 != nil {
		r.Int8.print(w)
	}
	for _, n := range r.NotMeasured {
		fmt.Fprintln(w, n)
	}
	return nil
}

// gflopsCell is a GFLOP/s figure, or a dash for a graph whose operations
// are not counted (any but the seed's LeNet).
func gflopsCell(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f GFLOP/s", v)
}

// peerMB is a peer's peak memory, or that it was not measured: a peer that
// did not run has no figure, not a zero.
func peerMB(peer string, bytes int64) string {
	if bytes <= 0 {
		return peer + " not measured"
	}
	return fmt.Sprintf("%s %.0f MB", peer, float64(bytes)/1e6)
}

// benchTraining times lenetkit's and PyTorch's training steps from fresh
// weights and, with --weights, from those at the schedule's end.
func benchTraining(c *cli.Context, r *benchReport, steps int) error {
	status, ref := statusOut(c), c.String("reference")
	weights := c.String("weights")
	opt := bench.StepOptions{Batch: 128, Steps: steps}
	var trained bench.StepOptions
	if weights != "" {
		sd, adam, err := benchWeights(weights)
		if err != nil {
			return err
		}
		r.TrainAdamStep = adam.StepCount()
		src, err := mnist.Locate(c.Context, c.String("data"))
		if err != nil {
			return err
		}
		if opt.Images, err = mnist.Load(src.Dir, "train", mnist.Options{}); err != nil {
			return err
		}
		d := train.DefaultConfig()
		total := d.FullRunSteps()
		lr, beta1, err := train.NewOneCycle(d.MaxLR, total).At(total-1, 0.9)
		if err != nil {
			return err
		}
		trained = opt
		trained.Weights, trained.LR, trained.Beta1, trained.Adam = sd, lr, beta1, adam
	}
	fmt.Fprintf(status, "training: %s of batch 128, fresh weights ...\n", nouns(steps, "step"))
	fresh, err := bench.TrainStep(opt)
	if err != nil {
		return err
	}
	r.TrainWeights, r.TrainMSPerStep, r.TrainMSPerStepFresh = "fresh", fresh, fresh
	fmt.Fprintf(status, "PyTorch: %s, fresh weights ...\n", nouns(steps, "step"))
	p, perr := bench.PyTorchTrainStep(c.Context, ref, steps, "")
	if perr == nil {
		r.PyTorchTrainMSFresh, r.PyTorchTrainMSPerStep, r.PyTorchPeakRSSBytes = p.Value, p.Value, p.PeakRSS
	}
	if weights != "" {
		fmt.Fprintf(status, "training: %s from %s at lr %.3g, beta1 %.3g ...\n", nouns(steps, "step"), weights, trained.LR, trained.Beta1)
		ms, err := bench.TrainStep(trained)
		if err != nil {
			return err
		}
		r.TrainWeights, r.TrainMSPerStep, r.RatioTrainedVsFresh = weights, ms, ms/fresh
		if perr == nil {
			fmt.Fprintf(status, "PyTorch: %s from %s ...\n", nouns(steps, "step"), weights)
			p, perr = bench.PyTorchTrainStep(c.Context, ref, steps, weights)
			if perr == nil {
				r.PyTorchTrainMSPerStep, r.PyTorchPeakRSSBytes = p.Value, max(r.PyTorchPeakRSSBytes, p.PeakRSS)
			}
		}
	}
	if perr != nil {
		r.notMeasured(bench.PeerPyTorch, perr)
	} else {
		r.RatioTrainVsPyTorch = r.TrainMSPerStep / r.PyTorchTrainMSPerStep
	}
	r.TrainGFLOPS = 128 * bench.TrainFLOPPerImage / (r.TrainMSPerStep / 1000) / 1e9
	r.TrainSecondsPerEpoch = r.TrainMSPerStep * 429 / 1000
	return nil
}

// benchGraphTraining times training steps of the --model graph in
// lenetkit (onnxtrain) and in PyTorch (its torch twin, for the graphs that
// have one), batch 128 from the file's weights.
func benchGraphTraining(c *cli.Context, r *benchReport, steps int) error {
	if c.IsSet("weights") {
		return usageError("--weights times the seed's LeNet; a --model graph trains from its own weights")
	}
	model := c.String("model")
	m, err := loadTrainable(model)
	if err != nil {
		return err
	}
	status, ref := statusOut(c), c.String("reference")
	// Turn about, as inference does: a third of the steps each round,
	// each side's figure its fastest round.
	rounds := c.Int("rounds")
	per := max(1, steps/rounds)
	var ours, theirs float64
	for round := range rounds {
		fmt.Fprintf(status, "training %s, round %d of %d: %s of batch 128 in lenetkit, then PyTorch ...\n", model, round+1, rounds, nouns(per, "step"))
		ms, err := bench.GraphTrainStep(m, 128, per)
		if err != nil {
			return err
		}
		ours = minPositive(ours, ms)
		if theirs < 0 {
			continue
		}
		p, err := bench.PyTorchGraphTrainStep(c.Context, ref, model, 128, per)
		if err != nil {
			r.notMeasured(bench.PeerPyTorch, err)
			theirs = -1
			continue
		}
		theirs = minPositive(theirs, p.Value)
		r.PyTorchPeakRSSBytes = max(r.PyTorchPeakRSSBytes, p.PeakRSS)
	}
	r.TrainGraph, r.TrainWeights, r.TrainMSPerStep, r.TrainMSPerStepFresh = true, model, ours, ours
	r.TrainRounds = rounds
	if theirs > 0 {
		r.PyTorchTrainMSPerStep, r.PyTorchTrainMSFresh = theirs, theirs
		r.RatioTrainVsPyTorch = ours / theirs
	}
	return nil
}

// minPositive is the smaller of a running minimum (0: none yet) and v.
func minPositive(best, v float64) float64 {
	if best <= 0 {
		return v
	}
	return min(best, v)
}

// benchWeights reads --weights: a checkpoint gives its model and the Adam
// state the run had, whose moments cost as much as the weights where
// subnormals are slow; any other model file gives weights and a fresh Adam.
func benchWeights(path string) (lenet.StateDict, *train.Adam, error) {
	if st, err := train.LoadCheckpoint(path); err == nil {
		adam, err := st.Adam()
		return st.Model, adam, err
	}
	sd, err := modelfile.Read(path)
	if err != nil {
		return nil, nil, err
	}
	return sd, train.NewAdam(train.DefaultConfig().WeightDecay), nil
}

// benchEvaluation times what `lenetkit eval MODEL` does, open the model,
// load the test set and classify all of it, beside ONNX Runtime's whole
// process over the same images.
func benchEvaluation(c *cli.Context, r *benchReport, model string, in declaredInput) error {
	image, fixed := in.image, in.batch
	fmt.Fprintf(statusOut(c), "evaluation of the test set: lenetkit, then ONNX Runtime ...\n")
	start := time.Now()
	m, err := infer.Open(model, "")
	if err != nil {
		// A classifier of other sizes or classes is measured on its own
		// data (eval --data); its speed was timed above.
		r.notMeasured("the evaluation of MNIST's test images", fmt.Errorf("%w (lenetkit eval --data measures it on data of its own)", err))
		return nil
	}
	src, err := mnist.Locate(c.Context, c.String("data"))
	if err != nil {
		return err
	}
	test, err := mnist.Load(src.Dir, "test", mnist.Options{})
	if err != nil {
		return err
	}
	all := make([]int, test.N)
	for i := range all {
		all[i] = i
	}
	met, err := mnist.Evaluate(m, test, all, 128, false)
	if err != nil {
		return err
	}
	r.EvalSeconds = time.Since(start).Seconds()
	r.EvalAccuracy, r.EvalLoss = met.Accuracy, met.Loss
	x, labels := make([]float32, test.N*mnist.PixelCount), make([]int64, test.N)
	if err := test.Fill(all, x, labels); err != nil {
		return err
	}
	// ONNX Runtime gets what lenetkit's model gets: the padded images cut
	// to the model's size and normalised as it declares.
	x = modelInput(m, x, test.N, image)
	if len(image) < 1 || len(image) > 3 || numel(image) != m.Input.Channels*m.Input.Height*m.Input.Width {
		r.notMeasured(bench.PeerONNXRuntime+"'s evaluation", fmt.Errorf("the input %v is not one MNIST image", image))
		return nil
	}
	// A flat input, [784], takes the same floats.
	if fixed > 0 && test.N%fixed != 0 {
		r.notMeasured(bench.PeerONNXRuntime+"'s evaluation", fmt.Errorf("the file fixes its batch at %d, which %d test images do not fill", fixed, test.N))
		return nil
	}
	ort, y, err := bench.ORTEvaluation(c.Context, c.String("reference"), model, x, test.N, image, fixed)
	if err != nil {
		r.notMeasured(bench.PeerONNXRuntime, err)
		return nil
	}
	r.ORTEvalSeconds, r.RatioEvalVsORT = ort, r.EvalSeconds/ort
	r.ORTEvalAccuracy, r.ORTEvalLoss = outputFigures(y, labels, m.Classes, m.Probabilities)
	return nil
}

// outputFigures is the accuracy in percent and the mean cross-entropy of
// a model's outputs for labels, rows of classes values each: logits or
// log-probabilities (the log-sum-exp less the label's), or probabilities
// (minus the label's log), as the model ends. A probability of 0 for
// the label counts as the smallest float32's.
func outputFigures(y []float32, labels []int64, classes int, probabilities bool) (accuracy, loss float64) {
	if len(labels) == 0 || len(y) < len(labels)*classes {
		return 0, 0
	}
	correct := 0
	for i, label := range labels {
		row := y[i*classes : (i+1)*classes]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if int64(best) == label {
			correct++
		}
		if probabilities {
			loss -= math.Log(max(float64(row[label]), math.SmallestNonzeroFloat32))
			continue
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v - row[best]))
		}
		loss += float64(row[best]) + math.Log(sum) - float64(row[label])
	}
	n := float64(len(labels))
	return 100 * float64(correct) / n, loss / n
}

// declaredInput is what an ONNX model's first input declares: image, the
// per-image shape, [1, 32, 32] or a Keras [28, 28, 1] (nil when it is not
// a fixed one), and batch, the batch the file fixes (fixedBatch; 0 for a
// symbolic one).
type declaredInput struct {
	image []int
	batch int
}

// declared reads model's declared input, external data and all, once; a
// file of another format or one that does not decode declares nothing.
func declared(model string) declaredInput {
	m, err := readGraph(model)
	if err != nil || len(m.Graph.Inputs) == 0 {
		return declaredInput{}
	}
	d := declaredInput{batch: fixedBatch(m)}
	dims := m.Graph.Inputs[0].Shape()
	if len(dims) >= 2 && !slices.ContainsFunc(dims[1:], func(d int) bool { return d < 1 }) {
		d.image = dims[1:]
	}
	return d
}

// modelInput turns n MNIST images padded to 32x32 into m's input, as
// ONNX Runtime takes it for image, the file's declared [C, H, W] or
// [H, W, C]: cut to its size (28x28 is the unpadded digit), normalised as
// it declares, and for a colour model (infer.GreyCopies channels) each
// value in every channel.
func modelInput(m *infer.Model, x []float32, n int, image []int) []float32 {
	side, h, c := mnist.Side, m.Input.Height, m.Input.Channels
	off := (side - h) / 2
	if c != 1 && c != infer.GreyCopies || h != m.Input.Width || off < 0 {
		return x
	}
	// Channels-last, each value c times in a row; channels-first, each
	// image's plane c times.
	last := len(image) == 3 && image[2] == c && image[0] != c
	times := 1
	if last {
		times = c
	}
	out := make([]float32, 0, n*c*h*h)
	for i := 0; i < n; i++ {
		img, first := x[i*side*side:], len(out)
		for y := off; y < off+h; y++ {
			for _, v := range img[y*side+off : y*side+off+h] {
				v = (v - m.Preprocess.Mean) / m.Preprocess.Std
				for range times {
					out = append(out, v)
				}
			}
		}
		for ch := 1; ch < c && !last; ch++ {
			out = append(out, out[first:first+h*h]...)
		}
	}
	return out
}

// int8Comparison is --baseline's figures: the int8 --model against the
// float baseline in lenetkit, and each file in ONNX Runtime, at batch 1
// and 128, measured in the same run. Figures a peer did not give are
// left out (0), as their ratios.
type int8Comparison struct {
	Model    string `json:"model"`
	Baseline string `json:"baseline"`
	CPU      string `json:"cpu"`
	// LoadAverageBefore and After are the load average (1, 5, 15
	// minutes) as the comparison began and ended.
	LoadAverageBefore [3]float64 `json:"load_average_before"`
	LoadAverageAfter  [3]float64 `json:"load_average_after"`
	// Int8Kernel names the int8 kernels --model's plan runs (""
	// for a model without quantized layers); FloatKernels the float
	// kernel sets: the matrix products' and the fused blocks'.
	Int8Kernel   string `json:"int8_kernel"`
	FloatKernels string `json:"float_kernels"`
	// Rounds is how many turns each lenetkit figure took, its best kept.
	Rounds          int     `json:"rounds"`
	Int8Batch1      float64 `json:"int8_images_per_s_batch1"`
	Int8Batch128    float64 `json:"int8_images_per_s_batch128"`
	FloatBatch1     float64 `json:"float_images_per_s_batch1"`
	FloatBatch128   float64 `json:"float_images_per_s_batch128"`
	ORTInt8Batch1   float64 `json:"onnxruntime_int8_images_per_s_batch1,omitempty"`
	ORTInt8Batch128 float64 `json:"onnxruntime_int8_images_per_s_batch128,omitempty"`
	ORTFloat1       float64 `json:"onnxruntime_float_images_per_s_batch1,omitempty"`
	ORTFloat128     float64 `json:"onnxruntime_float_images_per_s_batch128,omitempty"`
	// The ratios of images/s: int8 over float in lenetkit, lenetkit's
	// int8 over ONNX Runtime's on the same file.
	RatioInt8VsFloatBatch1   float64 `json:"ratio_int8_vs_float_batch1"`
	RatioInt8VsFloatBatch128 float64 `json:"ratio_int8_vs_float_batch128"`
	RatioInt8VsORTBatch1     float64 `json:"ratio_int8_vs_onnxruntime_batch1,omitempty"`
	RatioInt8VsORTBatch128   float64 `json:"ratio_int8_vs_onnxruntime_batch128,omitempty"`
}

// baselineONNX returns --baseline as an ONNX file: itself, or any other
// model file lenetkit reads written as ONNX into a temporary directory,
// which cleanup removes.
func baselineONNX(path string) (string, func(), error) {
	if strings.EqualFold(filepath.Ext(path), ".onnx") {
		if _, err := os.Stat(path); err != nil {
			return "", nil, err
		}
		return path, func() {}, nil
	}
	sd, err := modelfile.Read(path)
	if err != nil {
		return "", nil, fmt.Errorf("--baseline: %w", err)
	}
	dir, err := os.MkdirTemp("", "lenetkit-bench")
	if err != nil {
		return "", nil, err
	}
	out := filepath.Join(dir, "baseline.onnx")
	if err := modelfile.Write(out, sd, modelfile.WriteOptions{Producer: version}); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return out, func() { os.RemoveAll(dir) }, nil
}

// benchInt8 times the int8 model against the float baseline (both ONNX
// files) in lenetkit, turn about, and each in ONNX Runtime.
func benchInt8(c *cli.Context, r *benchReport, model, baseline string, dur time.Duration) (*int8Comparison, error) {
	status := statusOut(c)
	cmp := &int8Comparison{Model: model, CPU: r.CPU, Rounds: c.Int("rounds"),
		FloatKernels: "matrix products " + gemm.KernelName() + ", fused blocks " + kernel.KernelName()}
	cmp.LoadAverageBefore, _ = bench.LoadAverage()
	if p, err := backend.Open(model); err == nil {
		cmp.Int8Kernel = p.Int8Kernel
	}
	q, err := infer.Open(model, infer.Kernels)
	if err != nil {
		return nil, err
	}
	f, err := infer.Open(baseline, infer.Kernels)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	for _, batch := range []int{1, 128} {
		rounds := c.Int("rounds")
		fmt.Fprintf(status, "int8 against float: lenetkit, batch %d, %s each ...\n", batch, nouns(rounds, "turn"))
		ips, err := bench.Interleaved([]mnist.Classifier{q, f}, batch, dur/time.Duration(rounds), rounds)
		if err != nil {
			return nil, err
		}
		ortQ, ortF := onnxRuntimeFigure(c, r, model, batch, dur), onnxRuntimeFigure(c, r, baseline, batch, dur)
		if batch == 1 {
			cmp.Int8Batch1, cmp.FloatBatch1, cmp.ORTInt8Batch1, cmp.ORTFloat1 = ips[0], ips[1], ortQ, ortF
		} else {
			cmp.Int8Batch128, cmp.FloatBatch128, cmp.ORTInt8Batch128, cmp.ORTFloat128 = ips[0], ips[1], ortQ, ortF
		}
	}
	ratio := func(a, b float64) float64 {
		if a <= 0 || b <= 0 {
			return 0
		}
		return a / b
	}
	cmp.RatioInt8VsFloatBatch1, cmp.RatioInt8VsFloatBatch128 = ratio(cmp.Int8Batch1, cmp.FloatBatch1), ratio(cmp.Int8Batch128, cmp.FloatBatch128)
	cmp.RatioInt8VsORTBatch1, cmp.RatioInt8VsORTBatch128 = ratio(cmp.Int8Batch1, cmp.ORTInt8Batch1), ratio(cmp.Int8Batch128, cmp.ORTInt8Batch128)
	cmp.LoadAverageAfter, _ = bench.LoadAverage()
	return cmp, nil
}

// onnxRuntimeFigure is ONNX Runtime's images/s on model at batch, or 0
// when it cannot run (the report's not_measured says why).
func onnxRuntimeFigure(c *cli.Context, r *benchReport, model string, batch int, dur time.Duration) float64 {
	fmt.Fprintf(statusOut(c), "int8 against float: ONNX Runtime on %s, batch %d ...\n", filepath.Base(model), batch)
	p, err := bench.ONNXRuntime(c.Context, c.String("reference"), model, batch, dur, declared(model).image)
	if err != nil {
		r.notMeasured(bench.PeerONNXRuntime, err)
		return 0
	}
	r.ORTPeakRSSBytes = max(r.ORTPeakRSSBytes, p.PeakRSS)
	return p.Value
}

// print writes the comparison's table.
func (m *int8Comparison) print(w io.Writer) {
	fmt.Fprintf(w, "\nint8 against float, turn about (best of %s each), on %s; load average %s before, %s after\n",
		nouns(m.Rounds, "turn"), m.CPU, bench.FormatLoad(m.LoadAverageBefore), bench.FormatLoad(m.LoadAverageAfter))
	kern := m.Int8Kernel
	if kern == "" {
		kern = "none (no quantized layer)"
	}
	fmt.Fprintf(w, "int8 kernel: %s; float kernels: %s\n", kern, m.FloatKernels)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	cell := func(v float64, unit string) string {
		if v <= 0 {
			return "not measured"
		}
		return fmt.Sprintf("%.0f%s", v, unit)
	}
	ratio := func(v float64) string {
		if v <= 0 {
			return "not measured"
		}
		return fmt.Sprintf("%.2f", v)
	}
	fmt.Fprintf(tw, "\tbatch 1\tbatch 128\t\n")
	fmt.Fprintf(tw, "  lenetkit int8 (%s)\t%s\t%s\t\n", filepath.Base(m.Model), cell(m.Int8Batch1, " images/s"), cell(m.Int8Batch128, " images/s"))
	fmt.Fprintf(tw, "  lenetkit float (%s)\t%s\t%s\t\n", filepath.Base(m.Baseline), cell(m.FloatBatch1, " images/s"), cell(m.FloatBatch128, " images/s"))
	fmt.Fprintf(tw, "  ONNX Runtime, int8 file\t%s\t%s\t\n", cell(m.ORTInt8Batch1, " images/s"), cell(m.ORTInt8Batch128, " images/s"))
	fmt.Fprintf(tw, "  ONNX Runtime, float file\t%s\t%s\t\n", cell(m.ORTFloat1, " images/s"), cell(m.ORTFloat128, " images/s"))
	fmt.Fprintf(tw, "  lenetkit int8/float\t%s\t%s\t\n", ratio(m.RatioInt8VsFloatBatch1), ratio(m.RatioInt8VsFloatBatch128))
	fmt.Fprintf(tw, "  lenetkit int8/ONNX Runtime int8\t%s\t%s\t\n", ratio(m.RatioInt8VsORTBatch1), ratio(m.RatioInt8VsORTBatch128))
	tw.Flush()
}
