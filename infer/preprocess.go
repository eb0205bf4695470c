package infer

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/mnist"
	"github.com/lenetkit/lenetkit/onnx"
)

// Preprocessing is what turns an MNIST digit, 28x28 grey values in [0, 1]
// (torchvision's ToTensor), into a model's input: Pad zero pixels on every
// side, then torchvision's Normalize, (x - Mean) / Std.
type Preprocessing struct {
	Pad  int     `json:"pad"`
	Mean float32 `json:"mean"`
	Std  float32 `json:"std"`
	// Resize says the model was trained on images resized to its input
	// (lenetkit train --prep resize writes it): "bilinear" (--prep
	// resize) or "area" (--prep resize:area); "" for none. A model that
	// says it takes its images so by default.
	Resize string `json:"resize,omitempty"`
	// Orient turns the upright, prepared image into the one the model
	// was trained on (dataset.ParseOrientation's steps, "transpose" for
	// EMNIST as torchvision's files give it); "" for none.
	Orient string `json:"orient,omitempty"`
}

// SeedPreprocessing is the seed's: ToTensor, then Pad(2), no normalisation.
var SeedPreprocessing = Preprocessing{Pad: mnist.Pad, Mean: 0, Std: 1}

// The range a normalisation may take. A std under MinStd multiplies
// pixels in [0, 1] past anything float32 holds meaningfully (1e-45, a
// subnormal, makes every pixel infinite and every confidence NaN); no
// torchvision Normalize of images uses one.
const (
	MinStd  = 1e-6
	MaxStd  = 1e6
	MaxMean = 1e6
)

// Check refuses a normalisation that is not finite or outside [MinStd,
// MaxStd] (std) and [-MaxMean, MaxMean] (mean).
func (p Preprocessing) Check() error {
	m, s := float64(p.Mean), float64(p.Std)
	if math.IsNaN(m) || math.Abs(m) > MaxMean {
		return fmt.Errorf("mean %g outside [%g, %g]", p.Mean, -MaxMean, MaxMean)
	}
	if math.IsNaN(s) || s < MinStd || s > MaxStd {
		return fmt.Errorf("std %g outside [%g, %g]", p.Std, MinStd, MaxStd)
	}
	if p.Resize != "" && p.Resize != "bilinear" && p.Resize != "area" {
		return fmt.Errorf("resize %q: want bilinear or area", p.Resize)
	}
	if _, err := dataset.ParseOrientation(p.Orient); err != nil {
		return err
	}
	return nil
}

func (p Preprocessing) String() string {
	s := fmt.Sprintf("pad %d, mean %g, std %g", p.Pad, p.Mean, p.Std)
	if p.Resize != "" {
		s = fmt.Sprintf("resize %s, %s", p.Resize, s)
	}
	if p.Orient != "" {
		s += ", orient " + p.Orient
	}
	return s
}

// orienter is the dataset.Orienter of the preprocessing's Orient for the
// model's input, nil for none. Check has refused an Orient that does not
// parse, and checkInput one that does not fit the input.
func (p Preprocessing) orienter(in Geometry) *dataset.Orienter {
	o, err := dataset.ParseOrientation(p.Orient)
	if err != nil || !o.Fits(in.Height, in.Width) {
		return nil
	}
	return o.For(in.Height, in.Width)
}

// PreprocessSource says where a Model's Preprocessing came from.
type PreprocessSource int

const (
	// PreprocessSeed: the seed's LeNet, run from its weights (a .pth,
	// .safetensors, or its graph under the Gorgonia backend), whose
	// recipe is ToTensor then Pad(2), no Normalize.
	PreprocessSeed PreprocessSource = iota
	// PreprocessDeclared: the ONNX file's onnx.MetaPreprocess metadata
	// entry, which lenetkit convert writes.
	PreprocessDeclared
	// PreprocessAssumed: an ONNX graph that declares none. The pad
	// follows from its input size; mean 0 and std 1, pixels in [0, 1] as
	// ToTensor gives them, are an assumption, wrong for a model trained
	// with Normalize.
	PreprocessAssumed
)

// AssumedPad is the padding of an input of h x w whose file declares none:
// MNIST's 28x28 digit centred in a square input up to the seed's 32 (its
// Pad(2)), else none, the image taking the whole input. A larger input
// (64x64, 96x96) is no padded digit: padding 28 pixels out to it would
// shrink every image to a small square in the middle of what the model
// was trained on.
func AssumedPad(h, w int) int {
	const digit = mnist.Side - 2*mnist.Pad
	if h == w && h > digit && h <= mnist.Side && (h-digit)%2 == 0 {
		return (h - digit) / 2
	}
	return 0
}

// declaredPreprocess is the preprocessing an ONNX model asks for: its
// metadata entry onnx.MetaPreprocess when it has one, else what its input
// size implies, 28x28 as is and 32x32 with the seed's Pad(2), with mean
// and std assumed. anyInput admits any padding that fits the input, and
// assumes for other sizes what lenetkit train assumes (AssumedPad).
func declaredPreprocess(path string, in Geometry, meta map[string]string, anyInput bool) (Preprocessing, PreprocessSource, error) {
	const digit = mnist.Side - 2*mnist.Pad
	pp := Preprocessing{Pad: (in.Height - digit) / 2, Std: 1}
	if anyInput {
		pp.Pad = AssumedPad(in.Height, in.Width)
	}
	v, ok := meta[onnx.MetaPreprocess]
	if !ok {
		return pp, PreprocessAssumed, nil
	}
	d := Preprocessing{Std: 1}
	if err := json.Unmarshal([]byte(v), &d); err != nil {
		return pp, PreprocessAssumed, fmt.Errorf("onnx: %s: metadata %s is %s: %v", path, onnx.MetaPreprocess, quoteShort(v), err)
	}
	if err := d.Check(); err != nil {
		return pp, PreprocessAssumed, fmt.Errorf("onnx: %s: metadata %s: %v", path, onnx.MetaPreprocess, err)
	}
	if d.Pad < 0 || 2*d.Pad >= min(in.Height, in.Width) || !anyInput && 28+2*d.Pad != in.Height {
		return pp, PreprocessAssumed, fmt.Errorf("onnx: %s: metadata %s (%s) does not fit the input's %dx%d", path, onnx.MetaPreprocess, d, in.Height, in.Width)
	}
	return d, PreprocessDeclared, nil
}

// declaredClasses are the class names an ONNX model declares (its
// onnx.MetaClasses metadata), one for each of its classes outputs; nil
// when it declares none. Names that cannot name the outputs (not a JSON
// array of strings, another count, a blank, a control character, a name
// twice) refuse the file, as a preprocess entry that does not fit does:
// answers named wrong would be worse than none.
func declaredClasses(path string, meta map[string]string, classes int) ([]string, error) {
	v, ok := meta[onnx.MetaClasses]
	if !ok {
		return nil, nil
	}
	var names []string
	if err := json.Unmarshal([]byte(v), &names); err != nil {
		return nil, fmt.Errorf("onnx: %s: metadata %s is %s: want a JSON array of class names: %v", path, onnx.MetaClasses, quoteShort(v), err)
	}
	if len(names) != classes {
		return nil, fmt.Errorf("onnx: %s: metadata %s names %d classes; the graph gives %d scores", path, onnx.MetaClasses, len(names), classes)
	}
	if err := dataset.CheckClassNames(names); err != nil {
		return nil, fmt.Errorf("onnx: %s: metadata %s: %v", path, onnx.MetaClasses, err)
	}
	return names, nil
}

// quoteShort quotes s for a one-line error, cut to its first 64 bytes: a
// file's metadata may hold anything, 200 KB included.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:max]), len(s))
}
