// Package poolk holds the kernels of the 2x2 max pool of stride 2 on one
// plane, the common pool of small convolutional networks: the forward pass
// keeps each window's maximum and where it was, the backward pass sends
// each window's gradient there; inference's ReluMax2x2 keeps the maximum
// of a ReLU's output alone, and ReluMax2x2NHWC does so on a channels-last
// map. Vector kernels run them where the CPU has
// them (run-time dispatch, dispatch_amd64.go); the Go loops here are the
// fallback and the reference.
package poolk

import "math"

// Max2x2 pools the oh x ow windows of a plane w wide: y[oy*ow+ox] is the
// largest of the plane's pixels (2oy, 2ox) to (2oy+1, 2ox+1), and arg its
// flat index in the plane. The pixels compare as ordered integers
// (orderedBits), so that ties go to the first of top-left, top-right,
// bottom-left, bottom-right, +0 counts above -0, and a positive NaN above
// any number, a negative one below. The plane holds 2*oh rows, each at
// least 2*ow pixels; y and arg hold oh*ow entries.
func Max2x2(y []float32, arg []int32, plane []float32, w, oh, ow int) {
	if oh <= 0 || ow <= 0 {
		return
	}
	_, _, _ = y[oh*ow-1], arg[oh*ow-1], plane[(2*oh-1)*w+2*ow-1]
	max2x2(y, arg, plane, w, oh, ow)
}

// Back2x2 writes every pixel of a plane that Max2x2's windows tile
// (w = 2*ow, 2*oh rows): its window's gradient dy where arg says it was the
// maximum, else zero. The gradient's bits are masked, not branched on: a
// winner that changes at random from one window to the next would
// mispredict often.
func Back2x2(plane, dy []float32, arg []int32, w, oh, ow int) {
	if oh <= 0 || ow <= 0 {
		return
	}
	_, _, _ = dy[oh*ow-1], arg[oh*ow-1], plane[(2*oh-1)*w+2*ow-1]
	back2x2(plane, dy, arg, w, oh, ow)
}

// max2x2Go compares with integers so that the compiler can pick the
// maximum with conditional moves: with floats it branches, and on data
// such as activations half those branches are mispredicted.
func max2x2Go(y []float32, arg []int32, plane []float32, w, oh, ow int) {
	w0, w1 := int32(w), int32(w+1)
	for oy := range oh {
		ys, as := y[oy*ow:(oy+1)*ow], arg[oy*ow:(oy+1)*ow]
		top := plane[2*oy*w:][:2*ow]
		bot := plane[(2*oy+1)*w:][:2*ow]
		at0 := int32(2 * oy * w)
		for ox := range ys {
			t0, t1, b0, b1 := top[2*ox], top[2*ox+1], bot[2*ox], bot[2*ox+1]
			best, at := orderedBits(t0), int32(0)
			if v := orderedBits(t1); v > best {
				best, at = v, 1
			}
			if v := orderedBits(b0); v > best {
				best, at = v, w0
			}
			if v := orderedBits(b1); v > best {
				best, at = v, w1
			}
			ys[ox], as[ox] = fromOrderedBits(best), at0+int32(2*ox)+at
		}
	}
}

func back2x2Go(plane, dy []float32, arg []int32, w, oh, ow int) {
	for oy := range oh {
		gs, as := dy[oy*ow:(oy+1)*ow], arg[oy*ow:(oy+1)*ow]
		top := plane[2*oy*w:][:2*ow]
		bot := plane[(2*oy+1)*w:][:2*ow]
		base := int32(2 * oy * w)
		for ox, g := range gs {
			at := as[ox] - base - int32(2*ox)
			bits := math.Float32bits(g)
			t := top[2*ox : 2*ox+2 : 2*ox+2]
			b := bot[2*ox : 2*ox+2 : 2*ox+2]
			t[0] = math.Float32frombits(bits & mask(at == 0))
			t[1] = math.Float32frombits(bits & mask(at == 1))
			b[0] = math.Float32frombits(bits & mask(at == int32(w)))
			b[1] = math.Float32frombits(bits & mask(at == int32(w+1)))
		}
	}
}

// orderedBits maps a float to an integer of the same order: negative
// floats' magnitude bits are flipped, so that more negative is smaller.
func orderedBits(f float32) int32 {
	b := int32(math.Float32bits(f))
	return b ^ (b >> 31 & 0x7fffffff)
}

// fromOrderedBits inverts orderedBits.
func fromOrderedBits(b int32) float32 {
	return math.Float32frombits(uint32(b ^ (b >> 31 & 0x7fffffff)))
}

// mask is all ones when b holds, else zero.
func mask(b bool) uint32 {
	var m uint32
	if b {
		m = 1
	}
	return -m
}
