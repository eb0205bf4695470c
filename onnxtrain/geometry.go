package onnxtrain

import (
	"fmt"

	"github.com/lenetkit/lenetkit/onnx"
)

// window is a 2-D sliding window over NCHW images, for Conv and the pools:
// kernel size, strides, dilations and padding on each side, and the
// output size those give.
type window struct {
	n, c, h, w             int
	kh, kw, sh, sw, dh, dw int
	padT, padL, padB, padR int
	oh, ow                 int
}

// readWindow reads a node's kernel_shape (or the given kernel size),
// strides, dilations, pads and auto_pad for an input of shape x.
func readWindow(n *onnx.Node, x []int, kh, kw int, ceil bool) (window, error) {
	if len(x) != 4 {
		return window{}, fmt.Errorf("input of shape %v: lenetkit trains 2-D windows over [N, C, H, W] only", x)
	}
	win := window{n: x[0], c: x[1], h: x[2], w: x[3], kh: kh, kw: kw, sh: 1, sw: 1, dh: 1, dw: 1}
	ints := func(name string, want int) ([]int64, error) {
		v, err := n.Attrs.Ints(name)
		if err != nil || v == nil {
			return nil, err
		}
		if len(v) != want {
			return nil, fmt.Errorf("%s has %d values, want %d", name, len(v), want)
		}
		return v, nil
	}
	if k, err := ints("kernel_shape", 2); err != nil {
		return window{}, err
	} else if k != nil {
		win.kh, win.kw = int(k[0]), int(k[1])
	}
	if s, err := ints("strides", 2); err != nil {
		return window{}, err
	} else if s != nil {
		win.sh, win.sw = int(s[0]), int(s[1])
	}
	if d, err := ints("dilations", 2); err != nil {
		return window{}, err
	} else if d != nil {
		win.dh, win.dw = int(d[0]), int(d[1])
	}
	if win.kh < 1 || win.kw < 1 || win.sh < 1 || win.sw < 1 || win.dh < 1 || win.dw < 1 {
		return window{}, fmt.Errorf("kernel %dx%d, strides %dx%d, dilations %dx%d: all must be at least 1", win.kh, win.kw, win.sh, win.sw, win.dh, win.dw)
	}
	auto, err := n.Attrs.Str("auto_pad", "NOTSET")
	if err != nil {
		return window{}, err
	}
	p, err := ints("pads", 4)
	if err != nil {
		return window{}, err
	}
	ekh, ekw := (win.kh-1)*win.dh+1, (win.kw-1)*win.dw+1
	switch auto {
	case "NOTSET", "":
		if p != nil {
			win.padT, win.padL, win.padB, win.padR = int(p[0]), int(p[1]), int(p[2]), int(p[3])
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		th := max(0, (ceilDiv(win.h, win.sh)-1)*win.sh+ekh-win.h)
		tw := max(0, (ceilDiv(win.w, win.sw)-1)*win.sw+ekw-win.w)
		win.padT, win.padB, win.padL, win.padR = th/2, th-th/2, tw/2, tw-tw/2
		if auto == "SAME_LOWER" {
			win.padT, win.padB, win.padL, win.padR = th-th/2, th/2, tw-tw/2, tw/2
		}
	default:
		return window{}, fmt.Errorf("auto_pad %q is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", auto)
	}
	if win.padT < 0 || win.padL < 0 || win.padB < 0 || win.padR < 0 {
		return window{}, fmt.Errorf("negative pads %v", p)
	}
	win.oh = outSize(win.h+win.padT+win.padB, ekh, win.sh, ceil)
	win.ow = outSize(win.w+win.padL+win.padR, ekw, win.sw, ceil)
	if ceil {
		// PyTorch's rule: the last window must start inside the image or
		// its left padding.
		if (win.oh-1)*win.sh >= win.h+win.padT {
			win.oh--
		}
		if (win.ow-1)*win.sw >= win.w+win.padL {
			win.ow--
		}
	}
	if win.oh < 1 || win.ow < 1 {
		return window{}, fmt.Errorf("a %dx%d window does not fit the padded %dx%d input", ekh, ekw, win.h+win.padT+win.padB, win.w+win.padL+win.padR)
	}
	return win, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func outSize(padded, k, stride int, ceil bool) int {
	if padded < k {
		return 0
	}
	if ceil {
		return ceilDiv(padded-k, stride) + 1
	}
	return (padded-k)/stride + 1
}
