package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnxtrain"
	"github.com/lenetkit/lenetkit/train"
)

// GraphTrainStep times steps training steps of an ONNX graph (forward in
// training mode, backward, Adam with weight decay 0.002) at batch images a
// step, on one fixed batch of uniform random inputs, after three warm-up
// steps, as reference/onnx_train_bench.py times PyTorch's. It returns
// milliseconds per step. The model's weights are trained in place.
func GraphTrainStep(m *onnx.Model, batch, steps int) (float64, error) {
	if steps < 1 || batch < 2 {
		return 0, fmt.Errorf("bench: %d steps of batch %d", steps, batch)
	}
	net, err := onnxtrain.New(m, onnxtrain.Options{Batch: batch, Seed: 1})
	if err != nil {
		return 0, err
	}
	defer net.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	n := 1
	for _, d := range net.InputShape() {
		n *= d
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int64, batch)
	for i := range y {
		y[i] = int64(rng.IntN(net.Classes()))
	}
	adam := train.NewAdam(0.002)
	params := make([][]float32, len(net.Params()))
	grads := make([][]float32, len(params))
	for i, p := range net.Params() {
		params[i] = p.Data
	}
	step := func() error {
		if _, err := net.Step(x, y); err != nil {
			return err
		}
		for i := range grads {
			grads[i] = net.Grad(i)
		}
		adam.Step(params, grads, 1e-3, 0.9)
		return nil
	}
	const warmup = 3
	for range warmup {
		if err := step(); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for range steps {
		if err := step(); err != nil {
			return 0, err
		}
	}
	return time.Since(start).Seconds() * 1000 / float64(steps), nil
}

// PyTorchGraphTrainStep runs reference/onnx_train_bench.py: PyTorch's
// training steps of the same graph, built by its torch twin, 2 threads. A
// graph without a twin, or a PyTorch that cannot run, is a *PeerError.
func PyTorchGraphTrainStep(ctx context.Context, refDir, model string, batch, steps int) (Peer, error) {
	var r struct {
		MS  float64 `json:"train_ms_per_step"`
		RSS int64   `json:"peak_rss_bytes"`
	}
	args := []string{model, "--steps", strconv.Itoa(steps), "--batch", strconv.Itoa(batch), "--threads", "2"}
	err := runPeer(ctx, &r, peerCmd{PeerPyTorch, python, refDir, "onnx_train_bench.py", args})
	return Peer{r.MS, r.RSS}, err
}
