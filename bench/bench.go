// Package bench measures lenetkit's training step and inference, and the
// peers it is judged against (PyTorch's training step through
// reference/train_reference.py, ONNX Runtime's inference through
// reference/ort_bench.js), on the same machine in one run.
package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/lenetkit/lenetkit/lenet"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/train"
)

// Work per image, counted as multiply-adds x 2 over the convolutions and
// linear layers: the forward pass, and forward plus backward (about three
// forward passes) for a training image.
const (
	ForwardFLOPPerImage = 12.4e6
	TrainFLOPPerImage   = 37e6
)

// StepOptions say what TrainStep times.
type StepOptions struct {
	Batch, Steps int
	// Weights to start from; nil: freshly initialised.
	Weights lenet.StateDict
	// LR and Beta1 of every timed step; 0: 1e-3 and 0.9.
	LR, Beta1 float64
	// Adam to step with, holding the moments the steps start from (see
	// train.State.Adam); nil: a fresh one with the seed's weight decay.
	// It is stepped, so pass a copy of what must be kept.
	Adam *train.Adam
	// Images to draw the batches from, in order; nil: random pixels and
	// labels. From trained weights the data matters: the gradients of
	// images the network already fits are tiny, and their cost is not
	// that of random ones.
	Images *mnist.Set
}

// TrainStep times opt.Steps training steps (forward, backward, Adam), in
// train mode, after three warm-up steps, and returns milliseconds per step.
func TrainStep(opt StepOptions) (float64, error) {
	if opt.Steps < 1 || opt.Batch < 2 {
		return 0, fmt.Errorf("bench: %d steps of batch %d", opt.Steps, opt.Batch)
	}
	lr, beta1 := opt.LR, opt.Beta1
	if lr == 0 {
		lr, beta1 = 1e-3, 0.9
	}
	sd := lenet.Init(1)
	if opt.Weights != nil {
		sd = make(lenet.StateDict, len(opt.Weights))
		for i, t := range opt.Weights {
			sd[i] = t.Clone()
		}
	}
	net, err := train.NewNet(sd, opt.Batch, lenet.DefaultDropout, train.DropoutRow, 1)
	if err != nil {
		return 0, err
	}
	defer net.Close()
	const warmup = 3
	batches, err := batchesFor(opt.Images, opt.Batch, warmup+opt.Steps)
	if err != nil {
		return 0, err
	}
	adam := opt.Adam
	if adam == nil {
		adam = train.NewAdam(0.002)
	}
	params := make([][]float32, len(net.Params()))
	grads := make([][]float32, len(params))
	for i, p := range net.Params() {
		params[i] = p.F32
	}
	step := func(b batch) error {
		if _, err := net.Step(b.x, b.y); err != nil {
			return err
		}
		for i := range grads {
			grads[i] = net.Grad(i)
		}
		adam.Step(params, grads, lr, beta1)
		return nil
	}
	for _, b := range batches[:warmup] {
		if err := step(b); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for _, b := range batches[warmup:] {
		if err := step(b); err != nil {
			return 0, err
		}
	}
	return time.Since(start).Seconds() * 1000 / float64(opt.Steps), nil
}

type batch struct {
	x []float32
	y []int64
}

// batchesFor fills n batches beforehand, so that filling is not timed:
// from set's images in order, or random.
func batchesFor(set *mnist.Set, size, n int) ([]batch, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]batch, n)
	for i := range out {
		b := batch{x: make([]float32, size*lenet.InputSize*lenet.InputSize), y: make([]int64, size)}
		if set != nil {
			idx := make([]int, size)
			for j := range idx {
				idx[j] = (i*size + j) % set.N
			}
			if err := set.Fill(idx, b.x, b.y); err != nil {
				return nil, err
			}
		} else {
			for j := range b.x {
				b.x[j] = rng.Float32()
			}
			for j := range b.y {
				b.y[j] = int64(rng.IntN(lenet.Classes))
			}
		}
		out[i] = b
	}
	return out, nil
}

// Inference runs c on batches of random images for about d after a warm-up
// and returns images per second.
func Inference(c mnist.Classifier, batch int, d time.Duration) (float64, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, batch*lenet.InputSize*lenet.InputSize)
	for i := range x {
		x[i] = rng.Float32()
	}
	logits := make([]float32, batch*lenet.Classes)
	for i := 0; i < 3; i++ {
		if err := c.Logits(logits, x, batch); err != nil {
			return 0, err
		}
	}
	runs := 0
	start := time.Now()
	for time.Since(start) < d {
		if err := c.Logits(logits, x, batch); err != nil {
			return 0, err
		}
		runs++
	}
	return float64(runs*batch) / time.Since(start).Seconds(), nil
}

// PeakRSS is this process's peak resident memory in bytes.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// Peer is a figure measured by a peer program.
type Peer struct {
	Value   float64 // ms per step, or images/s
	PeakRSS int64   // bytes, of the peer's process
}

// PyTorchTrainStep runs reference/train_reference.py --bench-steps with
// Debian's PyTorch (2 threads) and returns its milliseconds per step; with
// weights, from that .pth at the schedule's final learning rate and beta1.
func PyTorchTrainStep(ctx context.Context, refDir string, steps int, weights string) (Peer, error) {
	var r struct {
		MS  float64 `json:"train_ms_per_step"`
		RSS int64   `json:"peak_rss_bytes"`
	}
	args := []string{filepath.Join(refDir, "train_reference.py"), "--bench-steps", strconv.Itoa(steps)}
	if weights != "" {
		args = append(args, "--weights", weights)
	}
	err := runPeer(ctx, &r, "/usr/bin/python3", args...)
	return Peer{r.MS, r.RSS}, err
}

// ONNXRuntime runs reference/ort_bench.js (onnxruntime-node, 2 threads) on
// model at batch and returns its images per second.
func ONNXRuntime(ctx context.Context, refDir, model string, batch int, d time.Duration) (Peer, error) {
	var r struct {
		IPS float64 `json:"images_per_s"`
		RSS int64   `json:"peak_rss_bytes"`
	}
	err := runPeer(ctx, &r, "node", filepath.Join(refDir, "ort_bench.js"), model, strconv.Itoa(batch), fmt.Sprint(d.Seconds()))
	return Peer{r.IPS, r.RSS}, err
}

// ORTEvaluation writes n images of x ([n][c][h][w] floats) to a temporary
// file, then runs reference/ort_eval.js on them (onnxruntime-node, 2
// threads): ONNX Runtime's whole evaluation of model, process start, model
// load and every image. It returns that process's wall seconds.
func ORTEvaluation(ctx context.Context, refDir, model string, x []float32, n, c, h, w int) (float64, error) {
	script := filepath.Join(refDir, "ort_eval.js")
	if _, err := os.Stat(script); err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	dir, err := os.MkdirTemp("", "lenetkit-ort")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "x.f32"), filepath.Join(dir, "y.f32")
	buf := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(in, buf, 0o644); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "node", script, model, in, strconv.Itoa(n), strconv.Itoa(c), strconv.Itoa(h), strconv.Itoa(w), out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("bench: node ort_eval.js: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return time.Since(start).Seconds(), nil
}

// runPeer runs a peer script and decodes its JSON line. Peers report their
// own peak memory: the rusage of a child spawned from this process starts
// from this process's peak, so it cannot tell theirs.
func runPeer(ctx context.Context, into any, prog string, args ...string) error {
	if _, err := os.Stat(args[0]); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := bytes.TrimSpace(stderr.Bytes())
		if i := bytes.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("bench: %s %s: %v: %s", filepath.Base(prog), filepath.Base(args[0]), err, msg)
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), into); err != nil {
		return fmt.Errorf("bench: %s printed %q: %v", filepath.Base(args[0]), stdout.String(), err)
	}
	return nil
}
