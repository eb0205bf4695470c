package backend

import (
	"fmt"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// Port is one input or output of a plan of whole tensors: its name in the
// graph and its shape.
type Port struct {
	Name  string
	Shape []int
}

// wholeValue is a port and where the plan keeps it: a buffer, or a
// constant for an output computed from constants alone.
type wholeValue struct {
	Port
	buf int
	c   *constant
}

// wholeInputs makes a run-time value of every graph input, of the shape
// given or declared.
func (c *compiler) wholeInputs(p *Plan, shapes map[string][]int, constants map[string]*onnx.Tensor) error {
	for _, in := range c.g.Inputs {
		if t, ok := constants[in.Name]; ok {
			k, err := fromTensor(t)
			if err != nil {
				return fmt.Errorf("input %q: %w", in.Name, err)
			}
			if err := c.b.constBytes(k.bytes()); err != nil {
				return err
			}
			c.vals[in.Name] = &val{shape: k.shape, c: k}
			continue
		}
		shape, ok := shapes[in.Name]
		if !ok {
			if in.Dims == nil {
				return fmt.Errorf("input %q has no declared shape; give its data", in.Name)
			}
			shape = make([]int, len(in.Dims))
			for i := range in.Dims {
				if in.Dims[i] < 0 {
					return fmt.Errorf("input %q: dimension %d is %s; give its data", in.Name, i, dimName(in, i))
				}
				shape[i] = int(in.Dims[i])
			}
		}
		if len(shape) > modelfile.MaxRank {
			return modelfile.LimitErrorf("input %q has %d dimensions, more than %d", in.Name, len(shape), modelfile.MaxRank)
		}
		v, err := c.runtime(shape)
		if err != nil {
			return fmt.Errorf("input %q: %w", in.Name, err)
		}
		c.vals[in.Name] = v
		p.ins = append(p.ins, wholeValue{Port: Port{in.Name, shape}, buf: v.buf})
	}
	return nil
}

// wholeOutputs records where every graph output is, channels-first.
func (c *compiler) wholeOutputs(p *Plan) error {
	for _, o := range c.g.Outputs {
		v := c.vals[o.Name]
		if v == nil {
			return fmt.Errorf("output %q is not computed", o.Name)
		}
		w := wholeValue{Port: Port{o.Name, v.shape}, c: v.c}
		if v.c == nil {
			v, err := c.chw(v)
			if err != nil {
				return err
			}
			w.buf = v.buf
		}
		p.outs = append(p.outs, w)
	}
	return nil
}

// Inputs are the graph inputs of a plan of whole tensors, in the graph's
// order, each of the shape Run takes.
func (p *Plan) Inputs() []Port { return ports(p.ins) }

// Results are the graph outputs of a plan of whole tensors, in the graph's
// order, each of the shape Run returns.
func (p *Plan) Results() []Port { return ports(p.outs) }

func ports(vs []wholeValue) []Port {
	out := make([]Port, len(vs))
	for i, v := range vs {
		out[i] = v.Port
	}
	return out
}

// Run computes a plan of whole tensors (Options.Shapes) once: in holds
// each input's values, in the order and shapes of Inputs; it returns each
// output's, in the order of Results.
func (p *Plan) Run(in [][]float32) ([][]float32, error) {
	if p.ins == nil && p.outs == nil {
		return nil, fmt.Errorf("backend: Run needs a plan of whole tensors (Options.Shapes)")
	}
	if len(in) != len(p.ins) {
		return nil, fmt.Errorf("backend: %d inputs given, the graph takes %d", len(in), len(p.ins))
	}
	for i, v := range p.ins {
		if len(in[i]) != numel(v.Shape) {
			return nil, fmt.Errorf("backend: input %q of shape %v takes %d values, got %d", v.Name, v.Shape, numel(v.Shape), len(in[i]))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.grow(1)
	b := p.work[0]
	for i, v := range p.ins {
		copy(b[v.buf], in[i])
	}
	for _, s := range p.steps {
		if sp, ok := s.(splitter); ok {
			sp.runSplit(b)
		} else {
			s.run(b)
		}
	}
	out := make([][]float32, len(p.outs))
	for i, v := range p.outs {
		if v.c != nil {
			out[i] = append([]float32(nil), v.c.floats()...)
		} else {
			out[i] = append([]float32(nil), b[v.buf]...)
		}
	}
	return out, nil
}
