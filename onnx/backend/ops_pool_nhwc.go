package backend

// Max pooling of channels-last maps (dwbn's, after its depthwise
// convolution): turning the map channels-first for the pooling and back
// for the 1x1 convolution after it cost more than the pooling.

import (
	"slices"

	"github.com/lenetkit/lenetkit/internal/poolk"
)

// tilingMaxPool reports whether node i is a MaxPool of 2x2 windows at
// stride 2 reading a Relu's output: one that maxPoolNHWC runs
// channels-last, where the map's size allows.
func (c *compiler) tilingMaxPool(i int) bool {
	n := c.g.Nodes[i]
	if n.OpType != "MaxPool" || n.Domain != "" || !c.reluOutput(n.Input(0)) {
		return false
	}
	k, err := n.Attrs.Ints("kernel_shape")
	if err != nil || !slices.Equal(k, []int64{2, 2}) {
		return false
	}
	s, err := n.Attrs.Ints("strides")
	return err == nil && slices.Equal(s, k)
}

// reluOutput reports whether value name is a Relu's output: none of its
// values is negative.
func (c *compiler) reluOutput(name string) bool {
	for _, n := range c.g.Nodes {
		if slices.Contains(n.Outputs, name) {
			return n.OpType == "Relu" && n.Domain == ""
		}
	}
	return false
}

// maxPoolNHWC compiles MaxPool o, of geometry g, on one image's
// channels-last map x of spatial sizes in, as a poolNHWCStep when its
// windows are 2x2 at stride 2 without padding and x is a Relu's output;
// ok false leaves it to the planes.
func (c *compiler) maxPoolNHWC(o op, x *val, g spatial, in []int) (ok bool, err error) {
	if o.typ != "MaxPool" || !x.nhwc || x.dt != 0 || x.flatC != 0 || x.relu || len(x.shape) != 4 || x.shape[0] != 1 ||
		len(in) != 2 || !g.plain() || !c.reluOutput(o.inputs[0]) || len(o.outputs) > 1 && o.outputs[1] != "" {
		return false, nil
	}
	for a := range 2 {
		if g.k[a] != 2 || g.s[a] != 2 || g.pb[a] != 0 || g.pe[a] != 0 {
			return false, nil
		}
	}
	s := poolNHWCStep{c: x.shape[1], w: in[1] * x.shape[1], oh: in[0] / 2, ow: in[1] / 2, in: x.buf}
	y, err := c.runtime([]int{1, s.c, s.oh, s.ow})
	if err != nil {
		return false, err
	}
	if err := c.b.ops(numel(x.shape)); err != nil {
		return false, err
	}
	y.nhwc, s.out = true, y.buf
	c.steps = append(c.steps, s)
	return true, c.set(o, 0, y)
}

// poolNHWCStep is the 2x2 max pooling at stride 2 of one channels-last
// map of c channels, rows w floats long, whose values are a Relu's: the
// pooling with a Relu of poolk.ReluMax2x2NHWC, whose Relu changes
// nothing there.
type poolNHWCStep struct {
	c, w, oh, ow int
	in, out      int
}

func (s poolNHWCStep) run(b [][]float32) {
	poolk.ReluMax2x2NHWC(b[s.out], b[s.in], s.c, s.w, s.oh, s.ow)
}
