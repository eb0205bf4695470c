package dataset

import (
	"fmt"
	"math"
)

// resize scales the grey image src (sw x sh) to dw x dh as PIL's resize
// does, byte for byte: separable, each output pixel a weighted mean of
// the source pixels under a filter centred on it and widened by the scale
// when shrinking, so that shrinking averages rather than skips pixels
// (antialiasing, as torchvision's Resize gives). area uses PIL's box
// filter (the mean of the area the output pixel covers; enlarging, the
// nearest pixel), otherwise the triangle filter of PIL's bilinear. As
// PIL's 8-bit path (ImagingResample), the weights are fixed-point
// integers of pilBits fractional bits, and each pass, the horizontal
// one first, rounds and clamps its result to 8 bits.
func resize(src []byte, sw, sh, dw, dh int, area bool) []byte {
	if sw == dw && sh == dh {
		return append([]byte(nil), src...)
	}
	r := newResizer(sw, sh, dw, dh, area)
	dst := make([]byte, dw*dh)
	r.resize(dst, src, make([]byte, dw*sh))
	return dst
}

// Resize scales src, a grey image of sw x sh bytes, to dw x dh as PIL's
// Image.resize does, byte for byte: bilinear, or with area PIL's box
// filter. It is what --prep resize does to an image, for a model trained
// on resized images (infer.Preprocessing.Resize) given a digit. Sizes
// outside 1 to 4096 pixels a side, or a src shorter than sw*sh bytes,
// are an ErrOption.
func Resize(src []byte, sw, sh, dw, dh int, area bool) ([]byte, error) {
	for _, d := range []int{sw, sh, dw, dh} {
		if d < 1 || d > 4096 {
			return nil, newError(ErrOption, "", fmt.Sprintf("resize of %dx%d to %dx%d: want 1 to 4096 pixels a side", sw, sh, dw, dh))
		}
	}
	if len(src) < sw*sh {
		return nil, newError(ErrOption, "", fmt.Sprintf("resize of %dx%d: %d bytes, want %d", sw, sh, len(src), sw*sh))
	}
	return resize(src[:sw*sh], sw, sh, dw, dh, area), nil
}

// resizer is resize's weights for one pair of sizes, made once for the
// many images of a data set.
type resizer struct {
	sw, sh, dw, dh int
	xs, ys         []window
}

func newResizer(sw, sh, dw, dh int, area bool) *resizer {
	return &resizer{sw: sw, sh: sh, dw: dw, dh: dh, xs: weights(sw, dw, area), ys: weights(sh, dh, area)}
}

// resizeAll resizes n images of sw x sh, one after another in pix, to
// dw x dh.
func resizeAll(pix []byte, n, sw, sh, dw, dh int, area bool) []byte {
	r := newResizer(sw, sh, dw, dh, area)
	out, tmp := make([]byte, n*dw*dh), make([]byte, dw*sh)
	for i := range n {
		r.resize(out[i*dw*dh:(i+1)*dw*dh], pix[i*sw*sh:(i+1)*sw*sh], tmp)
	}
	return out
}

// resize writes src resized into dst (dw*dh bytes), through tmp (dw*sh).
func (r *resizer) resize(dst, src, tmp []byte) {
	for y := range r.sh {
		row := src[y*r.sw : (y+1)*r.sw]
		for x, ws := range r.xs {
			v := int32(1) << (pilBits - 1)
			for t, w := range ws.w {
				v += int32(row[ws.lo+t]) * w
			}
			tmp[y*r.dw+x] = clip8(v)
		}
	}
	for y, ws := range r.ys {
		for x := range r.dw {
			v := int32(1) << (pilBits - 1)
			for t, w := range ws.w {
				v += int32(tmp[(ws.lo+t)*r.dw+x]) * w
			}
			dst[y*r.dw+x] = clip8(v)
		}
	}
}

// pilBits is the fractional bits of PIL's 8-bit resampling weights
// (PRECISION_BITS): 32 - 8 - 2, so that a sum of 8-bit values times
// weights that add up to 1 fits an int32.
const pilBits = 32 - 8 - 2

// clip8 is PIL's: a fixed-point sum to a byte, rounded down (the half
// is added beforehand) and clamped.
func clip8(v int32) byte {
	return byte(min(255, max(0, v>>pilBits)))
}

// window is the source pixels one output pixel reads, from lo on, and
// their fixed-point weights.
type window struct {
	lo int
	w  []int32
}

// weights are, for each of m output pixels along an axis of n, the source
// pixels and their weights: PIL's precompute_coeffs, normalised to a sum
// of 1 in float64, then normalize_coeffs_8bpc's rounding to pilBits.
func weights(n, m int, area bool) []window {
	scale := float64(n) / float64(m)
	fscale := max(scale, 1)
	support := 1.0 // the triangle's
	filter := func(x float64) float64 { return max(0, 1-math.Abs(x)) }
	if area {
		support = 0.5
		filter = func(x float64) float64 {
			if x > -0.5 && x <= 0.5 {
				return 1
			}
			return 0
		}
	}
	support *= fscale
	inv := 1 / fscale
	out := make([]window, m)
	for o := range out {
		centre := (float64(o) + 0.5) * scale
		lo := max(int(centre-support+0.5), 0)
		hi := min(int(centre+support+0.5), n)
		ws := make([]float64, max(hi-lo, 0))
		total := 0.0
		for i := range ws {
			ws[i] = filter((float64(i+lo) - centre + 0.5) * inv)
			total += ws[i]
		}
		fixed := make([]int32, len(ws))
		for i, w := range ws {
			if total != 0 {
				w /= total
			}
			if w < 0 {
				fixed[i] = int32(-0.5 + w*(1<<pilBits))
			} else {
				fixed[i] = int32(0.5 + w*(1<<pilBits))
			}
		}
		out[o] = window{lo, fixed}
	}
	return out
}
