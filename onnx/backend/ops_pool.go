package backend

// Pooling: max and average, of any spatial axes, and global.

import (
	"math"

	"github.com/lenetkit/lenetkit/internal/dwconv"
	"github.com/lenetkit/lenetkit/internal/nchw"
	"github.com/lenetkit/lenetkit/internal/vmath"
	"github.com/lenetkit/lenetkit/modelfile"
)

func init() {
	register(map[string]handler{
		"MaxPool": compilePool, "AveragePool": compilePool,
		"GlobalAveragePool": compileGlobalPool, "GlobalMaxPool": compileGlobalPool,
	})
}

func compilePool(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.c != nil || len(x.shape) < 3 {
		return unsupportedf("%s of %v: only pooling of run-time maps", o.typ, x.shape)
	}
	if len(o.outputs) > 1 && o.outputs[1] != "" {
		return unsupportedf("MaxPool's Indices output")
	}
	k, err := o.attrs.Ints("kernel_shape")
	if err != nil {
		return err
	}
	if len(k) != len(x.shape)-2 {
		return modelfile.FormatErrorf("%s of %v: kernel_shape %v", o.typ, x.shape, k)
	}
	// storage_order only orders the Indices output, refused above.
	in := x.shape[2:]
	// spatialGeometry's default strides are ONNX's, 1; not the kernel size
	// as in PyTorch.
	g, err := spatialGeometry(o, in, k, true)
	if err != nil {
		return err
	}
	ceil, err := o.attrs.Int("ceil_mode", 0)
	if err != nil {
		return err
	}
	cip, err := o.attrs.Int("count_include_pad", 0)
	if err != nil {
		return err
	}
	isMax := o.typ == "MaxPool"
	out := make([]int, len(in))
	for a := range in {
		out[a] = nchw.PoolOut(in[a], g.extent(a), g.s[a], g.pb[a], g.pe[a], ceil != 0)
		if out[a] < 1 {
			return modelfile.FormatErrorf("%s of %v with kernel %v leaves no output", o.typ, x.shape, k)
		}
	}
	if ok, err := c.maxPoolNHWC(o, x, g, in); ok || err != nil {
		return err
	}
	rows := x.shape[0] * x.shape[1]
	plain := len(in) == 2 && g.plain()
	relu := x.relu && isMax && plain
	if !relu {
		if x, err = c.materialize(x); err != nil {
			return err
		}
	}
	if x, err = c.chw(x); err != nil {
		return err
	}
	y, err := c.runtime(append([]int{x.shape[0], x.shape[1]}, out...))
	if err != nil {
		return err
	}
	// Each window is read where it overlaps the input.
	work := []int{numel(y.shape)}
	for a := range in {
		work = append(work, min(g.k[a], in[a]))
	}
	if err := c.b.ops(work...); err != nil {
		return err
	}
	if plain {
		// The images of a tensor are channels one after another.
		p := nchw.Pool2D{C: rows, H: in[0], W: in[1], KH: g.k[0], KW: g.k[1], StrideH: g.s[0], StrideW: g.s[1],
			PadTop: g.pb[0], PadLeft: g.pb[1], PadBottom: g.pe[0], PadRight: g.pe[1], CeilMode: ceil != 0,
			Max: isMax, CountIncludePad: cip != 0, Relu: relu}
		c.steps = append(c.steps, poolStep{p: p, in: x.buf, out: y.buf})
	} else {
		c.steps = append(c.steps, poolNDStep{max: isMax, countPad: cip != 0, rows: rows, in: in, out: out, g: g, x: x.buf, y: y.buf})
	}
	return c.set(o, 0, y)
}

// poolNDStep is max or average pooling of any number of spatial axes,
// with dilations: rows maps (images times channels) of spatial sizes in
// to maps of sizes out. It counts the window as nchw.Pool2D does: max
// skips the padding; average divides by the taps inside the input, or
// with countPad inside input and padding.
type poolNDStep struct {
	max, countPad bool
	rows          int
	in, out       []int
	g             spatial
	x, y          int
}

func (s poolNDStep) run(b [][]float32) {
	rank := len(s.in)
	inN, outN := numel(s.in), numel(s.out)
	// Per axis: the window's first input position, and its range of taps
	// inside the input [lo, hi) and inside input and padding [plo, phi).
	start, lo, hi, cur := make([]int, rank), make([]int, rank), make([]int, rank), make([]int, rank)
	pos := make([]int, rank)
	x, y := b[s.x], b[s.y]
	for o := range outN {
		// o's position in the output, last axis fastest.
		r := o
		for a := rank - 1; a >= 0; a-- {
			pos[a] = r % s.out[a]
			r /= s.out[a]
		}
		count, padCount := 1, 1
		for a := range rank {
			st, d := pos[a]*s.g.s[a]-s.g.pb[a], s.g.d[a]
			start[a] = st
			lo[a], hi[a] = taps(st, 0, s.in[a], d, s.g.k[a])
			count *= hi[a] - lo[a]
			plo, phi := taps(st, -s.g.pb[a], s.in[a]+s.g.pe[a], d, s.g.k[a])
			padCount *= phi - plo
		}
		for row := range s.rows {
			img := x[row*inN : (row+1)*inN]
			var v float32
			if count == 0 {
				v = float32(math.Inf(-1))
				if !s.max {
					v = 0
				}
				y[row*outN+o] = v
				continue
			}
			copy(cur, lo)
			m, sum := float32(math.Inf(-1)), 0.0
			for {
				off := 0
				for a := range rank {
					off = off*s.in[a] + start[a] + cur[a]*s.g.d[a]
				}
				e := img[off]
				if e > m {
					m = e
				}
				sum += float64(e)
				a := rank - 1
				for ; a >= 0; a-- {
					if cur[a]++; cur[a] < hi[a] {
						break
					}
					cur[a] = lo[a]
				}
				if a < 0 {
					break
				}
			}
			if s.max {
				v = m
			} else if s.countPad {
				v = float32(sum / float64(padCount))
			} else {
				v = float32(sum / float64(count))
			}
			y[row*outN+o] = v
		}
	}
}

// taps is the range [lo, hi) of taps t < k of a window starting at st,
// taps d apart, whose position st + t*d lies in [from, to).
func taps(st, from, to, d, k int) (lo, hi int) {
	if st < from {
		lo = (from - st + d - 1) / d
	}
	if last := to - 1 - st; last >= 0 {
		hi = min(last/d+1, k)
	}
	return min(lo, k), max(min(lo, k), hi)
}

func compileGlobalPool(c *compiler, o op) error {
	x, err := c.in(o, 0)
	if err != nil {
		return err
	}
	if x.c != nil || len(x.shape) < 3 {
		return unsupportedf("%s of %v: only run-time maps of spatial axes", o.typ, x.shape)
	}
	if ok, err := c.meanNHWC(o, x); ok || err != nil {
		return err
	}
	in, relu := c.reluBeforeMean(o, x)
	if x, err = c.chw(x); err != nil {
		return err
	}
	shape := []int{x.shape[0], x.shape[1]}
	for range x.shape[2:] {
		shape = append(shape, 1)
	}
	y, err := c.runtime(shape)
	if err != nil {
		return err
	}
	if err := c.b.ops(numel(x.shape)); err != nil {
		return err
	}
	// The images of a tensor are channels one after another.
	rows, hw := x.shape[0]*x.shape[1], numel(x.shape[2:])
	if o.typ == "GlobalMaxPool" {
		c.steps = append(c.steps, globalMaxPoolStep{c: rows, hw: hw, in: x.buf, out: y.buf})
	} else {
		s := globalPoolStep{c: rows, hw: hw, in: x.buf, out: y.buf}
		if relu {
			c.steps, s.in, s.relu = c.steps[:len(c.steps)-1], in.buf, true
			if s.tmp, err = c.newBuf(rows * hw); err != nil {
				return err
			}
		}
		c.steps = append(c.steps, s)
	}
	return c.set(o, 0, y)
}

// reluBeforeMean returns the input of the Relu that the last step computed
// into x, when GlobalAveragePool o alone reads it: the pool then applies
// the Relu as it sums, and the Relu's step goes. ok false otherwise.
func (c *compiler) reluBeforeMean(o op, x *val) (in *val, ok bool) {
	if o.typ != "GlobalAveragePool" || x.c != nil || x.nhwc || x.relu || x.flatC != 0 || x.dt != 0 || len(c.steps) == 0 {
		return nil, false
	}
	name := o.inputs[0]
	if c.uses[name] != 1 || c.g.IsOutput(name) {
		return nil, false
	}
	// Every value a step computes has a buffer of its own: the unary
	// step writing x's is the node's that produced x.
	last, ok := c.steps[len(c.steps)-1].(unaryStep)
	p := c.g.Producers()[name]
	if !ok || last.out != x.buf || p == nil || p.OpType != "Relu" || p.Domain != "" {
		return nil, false
	}
	return &val{shape: x.shape, buf: last.in}, true
}

// globalPoolStep averages each of c planes of hw values, of their Relu
// when relu (written to buffer tmp first: the vector Relu then the
// vector sums run faster than one loop of both in Go).
type globalPoolStep struct {
	c, hw   int
	relu    bool
	tmp     int
	in, out int
}

func (s globalPoolStep) run(b [][]float32) {
	x := b[s.in]
	if s.relu {
		vmath.Relu(b[s.tmp], x[:s.c*s.hw])
		x = b[s.tmp]
	}
	meanPlanes(b[s.out], x, s.c, s.hw)
}

// meanPlanes is nchw.GlobalAveragePool summing in float32 vectors
// (dwconv.Stats), as ONNX Runtime does, where nchw's one float64 sum a
// plane waited on each addition.
func meanPlanes(y, x []float32, c, hw int) {
	y = y[:c]
	for i := range y {
		s, _ := dwconv.Stats(x[i*hw:(i+1)*hw], 0)
		y[i] = s / float32(hw)
	}
}

type globalMaxPoolStep struct {
	c, hw   int
	in, out int
}

func (s globalMaxPoolStep) run(b [][]float32) { nchw.GlobalMaxPool(b[s.out], b[s.in], s.c, s.hw) }
