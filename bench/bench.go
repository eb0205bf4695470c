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
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
	return InferenceOf(c, batch, lenet.InputSize*lenet.InputSize, lenet.Classes, d)
}

// InferenceOf is Inference for a classifier of size floats an image and
// classes scores: any image classifier, at its own input size.
func InferenceOf(c mnist.Classifier, batch, size, classes int, d time.Duration) (float64, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, batch*size)
	for i := range x {
		x[i] = rng.Float32()
	}
	logits := make([]float32, batch*classes)
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

// The peers' names, as PeerError gives them.
const (
	PeerPyTorch     = "PyTorch"
	PeerONNXRuntime = "ONNX Runtime"
)

// python is the interpreter of the PyTorch peer: Debian's, whose
// python3-torch the figures are measured with.
var python = "/usr/bin/python3"

// A PeerError is a peer that could not be measured: why, in one line, and
// what would make it measurable. Its Error reads
// "ONNX Runtime not measured: onnxruntime-node is not installed (cd reference && npm ci --ignore-scripts)".
type PeerError struct {
	Peer   string // PeerPyTorch or PeerONNXRuntime
	Reason string
	Fix    string // a step that makes the peer measurable; "" when none is known
}

func (e *PeerError) Error() string {
	msg := e.Peer + " not measured: " + e.Reason
	if e.Fix != "" {
		msg += " (" + e.Fix + ")"
	}
	return msg
}

// PyTorchTrainStep runs reference/train_reference.py --bench-steps with
// Debian's PyTorch (2 threads) and returns its milliseconds per step; with
// weights, from that .pth at the schedule's final learning rate and beta1.
// A PyTorch that cannot run is a *PeerError.
func PyTorchTrainStep(ctx context.Context, refDir string, steps int, weights string) (Peer, error) {
	var r struct {
		MS  float64 `json:"train_ms_per_step"`
		RSS int64   `json:"peak_rss_bytes"`
	}
	args := []string{"--bench-steps", strconv.Itoa(steps)}
	if weights != "" {
		args = append(args, "--weights", weights)
	}
	err := runPeer(ctx, &r, peerCmd{PeerPyTorch, python, refDir, "train_reference.py", args})
	return Peer{r.MS, r.RSS}, err
}

// ONNXRuntime runs reference/ort_bench.js (onnxruntime-node, 2 threads) on
// model at batch and returns its images per second. An ONNX Runtime that
// cannot run is a *PeerError.
func ONNXRuntime(ctx context.Context, refDir, model string, batch int, d time.Duration, image []int) (Peer, error) {
	var r struct {
		IPS float64 `json:"images_per_s"`
		RSS int64   `json:"peak_rss_bytes"`
	}
	err := runPeer(ctx, &r, peerCmd{PeerONNXRuntime, "node", refDir, "ort_bench.js", append([]string{model, strconv.Itoa(batch), fmt.Sprint(d.Seconds())}, dimsArg(image)...)})
	return Peer{r.IPS, r.RSS}, err
}

// ORTEvaluation writes n images of x to a temporary file, then runs
// reference/ort_eval.js on them (onnxruntime-node, 2 threads): ONNX
// Runtime's whole evaluation of model, process start, model load and every
// image. image is one image's shape as the model takes it, [C, H, W] or
// flat, [D] (an MLP's input); batch, when not 0, is the batch the file
// fixes, which ONNX Runtime then takes the images in (n a multiple of
// it). It returns that process's wall seconds and the model's first
// output, n rows.
func ORTEvaluation(ctx context.Context, refDir, model string, x []float32, n int, image []int, batch int) (float64, []float32, error) {
	if len(image) < 1 || len(image) > 3 {
		return 0, nil, fmt.Errorf("bench: an image of shape %v: want [C, H, W], [H, W] or [D]", image)
	}
	dir, err := os.MkdirTemp("", "lenetkit-ort")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "x.f32"), filepath.Join(dir, "y.f32")
	buf := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(in, buf, 0o644); err != nil {
		return 0, nil, err
	}
	start := time.Now()
	// ort_eval.js's C, H and W: H and W "-" when flat, C "-" for [H, W].
	dims, at := []string{"-", "-", "-"}, 0
	if len(image) == 2 {
		at = 1
	}
	for i, d := range image {
		dims[at+i] = strconv.Itoa(d)
	}
	args := append([]string{model, in, strconv.Itoa(n)}, append(dims, out)...)
	if batch > 0 {
		args = append(args, strconv.Itoa(batch))
	}
	p := peerCmd{PeerONNXRuntime, "node", refDir, "ort_eval.js", args}
	if _, err := p.run(ctx); err != nil {
		return 0, nil, err
	}
	secs := time.Since(start).Seconds()
	b, err := os.ReadFile(out)
	if err != nil {
		return 0, nil, err
	}
	y := make([]float32, len(b)/4)
	for i := range y {
		y[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return secs, y, nil
}

// peerCmd is one run of a peer script: prog refDir/script args...
type peerCmd struct {
	peer, prog, refDir, script string
	args                       []string
}

// run runs the script and returns its standard output; a failure is a
// *PeerError saying why in the user's terms, not the peer's stack trace.
func (p peerCmd) run(ctx context.Context) ([]byte, error) {
	script := filepath.Join(p.refDir, p.script)
	if _, err := os.Stat(script); err != nil {
		return nil, &PeerError{Peer: p.peer, Reason: script + " does not exist",
			Fix: "--reference must name the reference folder of a lenetkit checkout"}
	}
	cmd := exec.CommandContext(ctx, p.prog, append([]string{script}, p.args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, p.failure(err, stderr.String())
}

var (
	pythonMissingModule = regexp.MustCompile(`No module named '([^'.]+)`)
	nodeMissingModule   = regexp.MustCompile(`Cannot find module '([^']+)'`)
)

// failure says why the peer's process failed, from how it ended and what
// it printed: a missing interpreter or package is named with the command
// that installs it; anything else by the first line of its stderr that
// says something (an exception's, not a stack frame's).
func (p peerCmd) failure(err error, stderr string) *PeerError {
	fail := &PeerError{Peer: p.peer}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		// The program did not start: missing, or not executable.
		fail.Reason = p.prog + " is not installed"
		if p.prog == python {
			fail.Fix = "apt-get install python3-torch"
		} else {
			fail.Fix = "apt-get install nodejs, then cd " + p.refDir + " && npm ci --ignore-scripts"
		}
		if !errors.Is(err, exec.ErrNotFound) && !errors.Is(err, fs.ErrNotExist) {
			fail.Reason, fail.Fix = fmt.Sprintf("%s cannot run: %v", p.prog, err), ""
		}
		return fail
	}
	if m := pythonMissingModule.FindStringSubmatch(stderr); m != nil && p.prog == python {
		fail.Reason = p.prog + " lacks " + m[1]
		fail.Fix = "apt-get install python3-" + strings.ToLower(m[1])
		return fail
	}
	if m := nodeMissingModule.FindStringSubmatch(stderr); m != nil && !strings.ContainsAny(m[1][:1], "./") {
		fail.Reason = m[1] + " is not installed"
		fail.Fix = "cd " + p.refDir + " && npm ci --ignore-scripts"
		return fail
	}
	fail.Reason = fmt.Sprintf("%s %s failed (%v)", filepath.Base(p.prog), p.script, err)
	if line := firstMeaningfulLine(stderr); line != "" {
		fail.Reason += ": " + line
	}
	return fail
}

// firstMeaningfulLine is the first line of a program's stderr that says
// what went wrong: not a stack trace's header, frames or source excerpts
// (indented), nor a location or version banner. Python's traceback puts
// its exception last, Node's first; both are the first such line.
func firstMeaningfulLine(stderr string) string {
	first := ""
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimRight(line, "\r")
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if first == "" {
			first = t
		}
		switch {
		case line[0] == ' ' || line[0] == '\t',
			strings.HasPrefix(t, "Traceback (most recent call last)"),
			strings.HasPrefix(t, "node:"), strings.HasPrefix(t, "file:"), strings.HasPrefix(t, "/"),
			strings.HasPrefix(t, "Node.js v"), strings.HasPrefix(t, "Require stack"),
			strings.HasPrefix(t, "^"), t == "{" || t == "}":
			continue
		}
		return clip(t)
	}
	return clip(first)
}

func clip(s string) string {
	const most = 200
	if len(s) > most {
		return s[:most] + "..."
	}
	return s
}

// runPeer runs a peer script and decodes its JSON line. Peers report their
// own peak memory: the rusage of a child spawned from this process starts
// from this process's peak, so it cannot tell theirs.
func runPeer(ctx context.Context, into any, p peerCmd) error {
	out, err := p.run(ctx)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), into); err != nil {
		return &PeerError{Peer: p.peer, Reason: fmt.Sprintf("%s printed %q, not its JSON line (%v)", p.script, clip(string(out)), err)}
	}
	return nil
}

// dimsArg is ort_bench.js's optional per-image shape argument, "28,28,1".
func dimsArg(image []int) []string {
	if len(image) == 0 {
		return nil
	}
	parts := make([]string, len(image))
	for i, d := range image {
		parts[i] = strconv.Itoa(d)
	}
	return []string{strings.Join(parts, ",")}
}
