package serve

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/lenetkit/lenetkit/dataset"
	"github.com/lenetkit/lenetkit/infer"
	"github.com/lenetkit/lenetkit/mnist"
)

// ModelSpec names a model file to serve and its classes.
type ModelSpec struct {
	// Name is the model's name in URLs: letters, digits, '.', '_' and
	// '-'.
	Name string
	// Path is the model file, of any format lenetkit reads.
	Path string
	// Labels name the model's classes, one per class in order; nil names
	// them as the file does (the class names lenetkit train records), else
	// by their numbers, "0", "1", ...
	Labels []string
	// LabelsPath, when Labels is nil, is a file of class names, one a
	// line (dataset.ReadClassNames), read when the model is opened and
	// again on every Reload, with it: a new file's names take effect with
	// the reload, a bad one keeps the old model and names.
	LabelsPath string
	// Mean and Std, when not nil, are the torchvision Normalize the model
	// was trained with, on pixels in [0, 1], in place of what its file
	// declares (infer.Model.Preprocess): a file that declares none is
	// otherwise given pixels in [0, 1] as they are.
	Mean, Std *float32
	// Orient, when not nil, turns each upright image into the one the
	// model was trained on (infer.Preprocessing.Orient), in place of what
	// its file declares.
	Orient *string
	// Prep "resize" (bilinear) or "resize:area" makes each picture
	// /v1/classify is sent grey and resizes the whole of it to the
	// model's input, as torchvision's Grayscale and Resize make a data
	// set's pictures (Fashion-MNIST's, say), where a digit is otherwise
	// found, cropped and centred; "" or "digit" for that.
	Prep string
	// Colour, with Prep "resize" and a model of 3 channels, gives it each
	// picture's red, green and blue (dataset.ColourPlanes) where the
	// picture is made grey otherwise.
	Colour bool
}

// validName is what a model's name may be: a single URL path segment
// that needs no escaping.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// model is one opened model file: what requests for it are checked
// against and what its batcher runs. It does not change once made; Reload
// makes a new one.
type model struct {
	name   string
	m      *infer.Model
	labels []string
	// digitPad is the padding around MNIST's 28x28 digit that the model's
	// input is, for /v1/classify, grey or as dataset.GreyChannels equal
	// channels; -1 for an input that is no padded digit (another size,
	// or channels), which only the tensor routes take. A model trained on
	// resized digits (infer.Preprocessing.Resize) takes the digit resized
	// to its input: digitPad 0, whatever its size.
	digitPad int
	// whole resizes each picture, all of it, to the input (ModelSpec.Prep),
	// area averaging when area; the picture is no digit then.
	whole, area bool
	colour      bool // whole pictures in red, green and blue
	loaded      time.Time
}

// openModel opens spec's file as any classifier lenetkit runs, of images
// of any size, grey or of several channels (colour: the tensor routes
// alone), and any number of classes.
func openModel(spec ModelSpec, backend string) (*model, error) {
	m, err := infer.OpenClassifier(spec.Path, backend, infer.OpenOptions{AnyClasses: true, AnyInput: true, AnyChannels: true})
	if err != nil {
		return nil, &LoadError{Name: spec.Name, Path: spec.Path, Err: err}
	}
	if spec.Mean != nil {
		m.Preprocess.Mean = *spec.Mean
	}
	if spec.Std != nil {
		m.Preprocess.Std = *spec.Std
	}
	if spec.Orient != nil {
		m.Preprocess.Orient = *spec.Orient
	}
	if err := m.CheckPreprocess(); err != nil {
		return nil, &LoadError{Name: spec.Name, Path: spec.Path, Err: fmt.Errorf("its preprocessing: %w", err)}
	}
	labels := spec.Labels
	if labels == nil && spec.LabelsPath != "" {
		if labels, err = dataset.ReadClassNames(spec.LabelsPath); err != nil {
			return nil, &LoadError{Name: spec.Name, Path: spec.Path, Err: fmt.Errorf("its labels: %w", err)}
		}
	}
	if labels == nil {
		labels = m.Labels // the file's own names (infer.Model.Labels), if it has them
	}
	if labels == nil {
		labels = make([]string, m.Classes)
		for i := range labels {
			labels[i] = strconv.Itoa(i)
		}
	}
	if len(labels) != m.Classes {
		return nil, &LoadError{Name: spec.Name, Path: spec.Path,
			Err: fmt.Errorf("%d labels for a model of %d classes: give one label a class", len(labels), m.Classes)}
	}
	const digit = mnist.Side - 2*mnist.Pad
	g, pad, resized := m.Input, m.Preprocess.Pad, m.Preprocess.Resize != ""
	// A colour input is taken for digits when it is a digit's size, or
	// when the file declares its padding: 3x32x32 is CIFAR's too.
	colour := g.Channels == dataset.GreyChannels && (pad == 0 || m.PreprocessFrom == infer.PreprocessDeclared)
	if g.Channels != 1 && !colour || !resized && (g.Height != g.Width || g.Height != digit+2*pad) || resized && pad != 0 {
		pad = -1
	}
	md := &model{name: spec.Name, m: m, labels: labels, digitPad: pad, loaded: time.Now()}
	switch spec.Prep {
	case "", "digit":
	case "resize", "resize:area":
		if g.Channels != 1 && g.Channels != dataset.GreyChannels {
			return nil, &LoadError{Name: spec.Name, Path: spec.Path, Err: fmt.Errorf("prep %s: it takes %d channels; a picture is made grey, 1 channel or %d equal ones", spec.Prep, g.Channels, dataset.GreyChannels)}
		}
		md.whole, md.area, md.digitPad, md.colour = true, spec.Prep == "resize:area", 0, spec.Colour
	default:
		return nil, &LoadError{Name: spec.Name, Path: spec.Path, Err: fmt.Errorf("prep %q: want digit, resize or resize:area", spec.Prep)}
	}
	if spec.Colour && (!md.whole || g.Channels != dataset.Colour) {
		return nil, &LoadError{Name: spec.Name, Path: spec.Path, Err: fmt.Errorf("colour: it takes %d channels; colour pictures need prep resize and a model of %d", g.Channels, dataset.Colour)}
	}
	return md, nil
}

// inputShape is the model's input as the protocol gives it, the batch
// dimension -1.
func (m *model) inputShape() []int64 {
	g := m.m.Input
	return []int64{-1, int64(g.Channels), int64(g.Height), int64(g.Width)}
}

// platform is the protocol's name for what runs the model: lenetkit, and
// the file's format.
func (m *model) platform() string { return "lenetkit_" + m.m.Format }

// The names of the one input and the one output every model has.
const (
	inputName  = "input"
	outputName = "output"
	// version is every model's one version: lenetkit serves the file it
	// was given, and a reload replaces it under the same version.
	version = "1"
)
