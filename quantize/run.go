package quantize

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
	"github.com/lenetkit/lenetkit/onnx/backend"
)

// Images are calibration images in the float model's input form: Len
// images of the graph input's shape less its batch dimension, already
// normalised as the model takes them.
type Images interface {
	Len() int
	// Fill writes images [i, i+n) into x, n times the image's floats.
	Fill(i, n int, x []float32) error
}

// CalibrateBatch is how many images Calibrate runs through the float
// model at once, at most: fewer when the backend's limits on one pass
// (modelfile.MaxPlanWork) ask for it.
const CalibrateBatch = 64

// ErrNoImages is Calibrate's error for a source without images.
var ErrNoImages = errors.New("quantize: no calibration images")

// Calibrate runs the float model m with lenetkit's backend over every
// image of src and returns the range of each tensor named (graph inputs
// and node outputs of m), as c's method computes it. Each batch's
// intermediate tensors are graph outputs of a copy of m compiled as a plan
// of whole tensors, compiled from memory. The
// histogram methods run the images twice: once for each tensor's extremes,
// which fix its histogram's range, once to fill it. progress, when not
// nil, is told after each batch how many images of how many runs are done.
func Calibrate(ctx context.Context, m *onnx.Model, tensors []string, src Images, c Calibration, progress func(done, total int)) (map[string]Range, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	n := src.Len()
	if n < 1 {
		return nil, ErrNoImages
	}
	if len(m.Graph.Inputs) != 1 {
		return nil, fmt.Errorf("quantize: the graph has %d inputs; calibration feeds one, an image", len(m.Graph.Inputs))
	}
	in := m.Graph.Inputs[0]
	if in.Dims == nil || len(in.Dims) < 2 {
		return nil, fmt.Errorf("quantize: input %q has no shape of a batch of images", in.Name)
	}
	image := 1
	for i, d := range in.Dims[1:] {
		if d < 1 {
			return nil, fmt.Errorf("quantize: input %q: dimension %d is not fixed (%s); calibration needs a fixed image size", in.Name, i+1, in)
		}
		image *= int(d)
	}
	collectors := make(map[string]*collector, len(tensors))
	var outputs []string
	for _, t := range tensors {
		collectors[t] = &collector{c: c}
		if t != in.Name {
			outputs = append(outputs, t)
		}
	}
	data, err := encodeWithOutputs(m, outputs)
	if err != nil {
		return nil, err
	}
	plans := map[int]*backend.Plan{}
	plan := func(b int) (*backend.Plan, error) {
		if p, ok := plans[b]; ok {
			return p, nil
		}
		shape := []int{b}
		for _, d := range in.Dims[1:] {
			shape = append(shape, int(d))
		}
		p, err := backend.OpenData(data, "calibration model", backend.Options{Shapes: map[string][]int{in.Name: shape}})
		if err != nil {
			return nil, fmt.Errorf("quantize: the float model with its tensors as outputs: %w", err)
		}
		plans[b] = p
		return p, nil
	}
	// A plan of whole tensors counts a batch as one pass, which the
	// backend's limits bound in proportion to the model's size: smaller
	// batches for larger models.
	batch := min(n, CalibrateBatch)
	if d := int(in.Dims[0]); d > 0 {
		// A graph of a fixed batch (the zoo's [1, 1, 28, 28]) may
		// reshape to it: it takes batches of that size only.
		if n%d != 0 {
			return nil, fmt.Errorf("quantize: input %q takes batches of exactly %d images; calibrate on a multiple of %d, not %d", in.Name, d, d, n)
		}
		batch = d
	}
	for {
		_, err := plan(batch)
		if err == nil {
			break
		}
		if !errors.Is(err, modelfile.ErrLimit) || batch == 1 || in.Dims[0] > 0 {
			return nil, err
		}
		batch /= 2
	}
	passes := 1
	if c.Method != MinMax {
		passes = 2
	}
	x := make([]float32, batch*image)
	for pass := range passes {
		if pass == 1 {
			for _, k := range collectors {
				k.startHistogram()
			}
		}
		for i := 0; i < n; i += batch {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			b := min(batch, n-i)
			xb := x[:b*image]
			if err := src.Fill(i, b, xb); err != nil {
				return nil, err
			}
			p, err := plan(b)
			if err != nil {
				return nil, err
			}
			outs, err := p.Run([][]float32{xb})
			if err != nil {
				return nil, fmt.Errorf("quantize: calibration run: %w", err)
			}
			values := map[string][]float32{in.Name: xb}
			for k, port := range p.Results() {
				values[port.Name] = outs[k]
			}
			for t, k := range collectors {
				v, ok := values[t]
				if !ok {
					return nil, fmt.Errorf("quantize: tensor %q is not computed by the float model", t)
				}
				if pass == 0 {
					k.observe(v)
				} else {
					k.add(v)
				}
			}
			if progress != nil {
				progress(pass*n+i+b, passes*n)
			}
		}
	}
	ranges := make(map[string]Range, len(collectors))
	for t, k := range collectors {
		ranges[t] = k.result()
	}
	return ranges, nil
}

// encodeWithOutputs encodes a copy of m whose graph outputs are
// outputs.
func encodeWithOutputs(m *onnx.Model, outputs []string) ([]byte, error) {
	g := *m.Graph
	g.Outputs = nil
	for _, o := range outputs {
		g.Outputs = append(g.Outputs, &onnx.Value{Name: o, DType: onnx.Float})
	}
	if len(g.Outputs) == 0 { // the input alone: keep the model's own outputs for the plan
		g.Outputs = slices.Clone(m.Graph.Outputs)
	}
	cm := *m
	cm.Graph = &g
	p, err := onnx.Encode(&cm)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	b, err := onnx.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	return b, nil
}
