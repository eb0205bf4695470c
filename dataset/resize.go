package dataset

import "math"

// resize scales the grey image src (sw x sh) to dw x dh as PIL's resize
// does: separable, each output pixel a weighted mean of the source pixels
// under a filter centred on it and widened by the scale when shrinking, so
// that shrinking averages rather than skips pixels (antialiasing, as
// torchvision's Resize gives). area uses PIL's box filter (the mean of the
// area the output pixel covers; enlarging, the nearest pixel), otherwise the
// triangle filter of PIL's bilinear. The result is rounded to 8 bits, as
// PIL's is; PIL also rounds between its two passes, which this does not.
func resize(src []byte, sw, sh, dw, dh int, area bool) []byte {
	if sw == dw && sh == dh {
		return append([]byte(nil), src...)
	}
	xs, ys := weights(sw, dw, area), weights(sh, dh, area)
	// Horizontal pass into float rows, then vertical.
	tmp := make([]float64, dw*sh)
	for y := range sh {
		row := src[y*sw : (y+1)*sw]
		for x, ws := range xs {
			var v float64
			for _, t := range ws.w {
				v += float64(row[ws.lo+t.i]) * t.w
			}
			tmp[y*dw+x] = v
		}
	}
	dst := make([]byte, dw*dh)
	for y, ws := range ys {
		for x := range dw {
			var v float64
			for _, t := range ws.w {
				v += tmp[(ws.lo+t.i)*dw+x] * t.w
			}
			dst[y*dw+x] = byte(min(255, max(0, math.Round(v))))
		}
	}
	return dst
}

type weight struct {
	i int
	w float64
}

type window struct {
	lo int
	w  []weight
}

// weights are, for each of m output pixels along an axis of n, the source
// pixels and their normalised weights: PIL's precompute_coeffs.
func weights(n, m int, area bool) []window {
	scale := float64(n) / float64(m)
	fscale := max(scale, 1)
	support := 1.0 // the triangle's
	filter := func(x float64) float64 { return max(0, 1-math.Abs(x)) }
	if area {
		support = 0.5
		filter = func(x float64) float64 {
			if x >= -0.5 && x < 0.5 {
				return 1
			}
			return 0
		}
	}
	support *= fscale
	out := make([]window, m)
	for o := range out {
		centre := (float64(o) + 0.5) * scale
		lo := max(int(centre-support+0.5), 0)
		hi := min(int(centre+support+0.5), n)
		var ws []weight
		total := 0.0
		for i := lo; i < hi; i++ {
			w := filter((float64(i) - centre + 0.5) / fscale)
			if w != 0 {
				ws = append(ws, weight{i - lo, w})
				total += w
			}
		}
		if total == 0 { // cannot happen for m, n >= 1; keeps a pixel, not NaN
			ws, total = []weight{{min(int(centre), n-1) - lo, 1}}, 1
		}
		for k := range ws {
			ws[k].w /= total
		}
		out[o] = window{lo, ws}
	}
	return out
}
