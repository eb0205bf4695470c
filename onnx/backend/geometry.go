package backend

// The window of a convolution or pooling: kernel, strides, dilations and
// pads, resolved and checked once for both families.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lenetkit/lenetkit/modelfile"
	"github.com/lenetkit/lenetkit/onnx"
)

// unsupportedf is an error about a form of an operator the backend does
// not compute, matching onnx.ErrUnsupported.
func unsupportedf(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), onnx.ErrUnsupported)
}

// spatial is a convolution's or pooling's window along each spatial axis:
// kernel sizes, strides, dilations and the pads before and after, each
// checked to lie within modelfile.MaxElements, as is the dilated kernel,
// so that the sums and the one product of two of them that the output's
// size takes cannot overflow.
type spatial struct {
	k, s, d, pb, pe []int
}

// extent is the dilated kernel's size along axis a.
func (g spatial) extent(a int) int { return (g.k[a]-1)*g.d[a] + 1 }

// plain reports whether every dilation is 1.
func (g spatial) plain() bool { return !slices.ContainsFunc(g.d, func(d int) bool { return d != 1 }) }

// spatialGeometry reads Conv's and the pools' strides, dilations and pads
// for an input of spatial sizes in and a kernel k, resolving auto_pad
// against the input's size with the dilated kernel. A pool's pads must be
// smaller than its kernel, as ONNX Runtime requires, so that every window
// overlaps the input (nchw.Pool2D's precondition); a convolution's,
// smaller than kernel and input together. The padded input must hold a
// dilated kernel.
func spatialGeometry(o op, in []int, k []int64, pool bool) (g spatial, err error) {
	rank := len(in)
	inRange := func(what string, v int64, lo int64) error {
		if v < lo {
			return modelfile.FormatErrorf("%s %d out of range", what, v)
		}
		if v > modelfile.MaxElements {
			return modelfile.LimitErrorf("%s %d is more than %d, refused", what, v, modelfile.MaxElements)
		}
		return nil
	}
	// per reads an attribute of one value per spatial axis, each at least
	// lo, def when absent; what names one value in errors.
	per := func(name, what string, n int, def, lo int64) ([]int, error) {
		v, err := o.attrs.Ints(name)
		if err != nil {
			return nil, err
		}
		if v == nil {
			v = slices.Repeat([]int64{def}, n)
		}
		if len(v) != n {
			return nil, modelfile.FormatErrorf("%s %v: want %d values for an input of %d spatial axes", name, v, n, rank)
		}
		out := make([]int, n)
		for i, x := range v {
			if err := inRange(what, x, lo); err != nil {
				return nil, err
			}
			out[i] = int(x)
		}
		return out, nil
	}
	if len(k) != rank {
		return g, modelfile.FormatErrorf("kernel_shape %v for an input of %d spatial axes", k, rank)
	}
	g.k = make([]int, rank)
	for i, v := range k {
		if err = inRange("kernel size", v, 1); err != nil {
			return
		}
		g.k[i] = int(v)
	}
	if g.s, err = per("strides", "stride", rank, 1, 1); err != nil {
		return
	}
	if g.d, err = per("dilations", "dilation", rank, 1, 1); err != nil {
		return
	}
	for a := range rank {
		if err = inRange("dilated kernel size", int64(g.k[a]-1)*int64(g.d[a])+1, 1); err != nil {
			return
		}
	}
	autoPad, err := o.attrs.Str("auto_pad", "NOTSET")
	if err != nil {
		return
	}
	g.pb, g.pe = make([]int, rank), make([]int, rank)
	switch autoPad {
	case "NOTSET", "":
		pads, e := o.attrs.Ints("pads")
		if e != nil {
			return g, e
		}
		if pads != nil {
			p, e := per("pads", "pad", 2*rank, 0, 0)
			if e != nil {
				return g, e
			}
			copy(g.pb, p[:rank])
			copy(g.pe, p[rank:])
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		// in, the extent and s are at most MaxElements: no step overflows.
		for a := range rank {
			total := max(((in[a]+g.s[a]-1)/g.s[a]-1)*g.s[a]+g.extent(a)-in[a], 0)
			lo := total / 2
			if autoPad == "SAME_LOWER" {
				lo = total - total/2
			}
			g.pb[a], g.pe[a] = lo, total-lo
		}
	default:
		return g, modelfile.FormatErrorf("auto_pad %q", autoPad)
	}
	for a := range rank {
		if pool && max(g.pb[a], g.pe[a]) >= g.k[a] {
			return g, modelfile.FormatErrorf("pads %s not smaller than the kernel %s", g.pads(), join(g.k, "x"))
		}
		if max(g.pb[a], g.pe[a]) >= g.extent(a)+in[a] {
			return g, modelfile.FormatErrorf("pads %s out of range", g.pads())
		}
		if in[a]+g.pb[a]+g.pe[a] < g.extent(a) {
			return g, modelfile.FormatErrorf("a kernel of %s (dilations %v) is larger than the input of %s padded by %s", join(g.k, "x"), g.d, join(in, "x"), g.pads())
		}
	}
	return g, nil
}

// padsUnread reports whether the pads p of a K x K pooling at stride K
// over an h x w map, as ONNX lists them (two beginnings, two ends), are
// none, or ends that no window reads in floor mode: Chainer's cover_all
// MaxPool writes [0, 0, 1, 1], which a map that K divides never reaches.
// Pooling then computes what it does without them.
func padsUnread(p []int64, K, h, w int, ceil bool) bool {
	switch {
	case !slices.ContainsFunc(p, func(v int64) bool { return v != 0 }):
		return true
	case len(p) != 4 || p[0] != 0 || p[1] != 0 || ceil || p[2] < 0 || p[3] < 0:
		return false
	}
	return int64(h%K)+p[2] < int64(K) && int64(w%K)+p[3] < int64(K)
}

// pads is the pads as ONNX lists them, the beginnings then the ends.
func (g spatial) pads() string { return join(append(slices.Clone(g.pb), g.pe...), " ") }

// join writes v separated by sep.
func join(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

// flat2D views the geometry of one or two spatial axes as 2-D, a 1-D
// one as height 1.
func (g spatial) flat2D() (kh, kw, sh, sw, dh, dw, pt, pl, pb, pr int) {
	if len(g.k) == 1 {
		return 1, g.k[0], 1, g.s[0], 1, g.d[0], 0, g.pb[0], 0, g.pe[0]
	}
	return g.k[0], g.k[1], g.s[0], g.s[1], g.d[0], g.d[1], g.pb[0], g.pb[1], g.pe[0], g.pe[1]
}
