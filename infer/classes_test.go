package infer

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/onnx"
)

// bandGraph writes a graph of side x side grey input and classes outputs:
// output c is the mean of band c of the image's rows inside the padding,
// bands of equal height, plus bias[c]. meta, when not "", is its preprocess
// metadata entry.
func bandGraph(t *testing.T, side, pad, classes int, bias []float32, meta string) string {
	t.Helper()
	w := make([]float32, classes*side*side)
	band := (side - 2*pad) / classes
	for c := range classes {
		for r := pad + c*band; r < pad+(c+1)*band; r++ {
			for col := pad; col < side-pad; col++ {
				w[c*side*side+r*side+col] = 1 / float32(band*(side-2*pad))
			}
		}
	}
	dims := []*onnx.TensorShapeProto_Dimension{{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}}
	for _, d := range []int64{1, int64(side), int64(side)} {
		dims = append(dims, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	in := &onnx.ValueInfoProto{Name: "x", Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
		ElemType: int32(onnx.TensorProto_FLOAT), Shape: &onnx.TensorShapeProto{Dim: dims}}}}}
	axis, transB := int64(1), int64(1)
	m := &onnx.ModelProto{IrVersion: 7, OpsetImport: []*onnx.OperatorSetIdProto{{Version: 13}},
		Graph: &onnx.GraphProto{Name: "bands",
			Node: []*onnx.NodeProto{
				{OpType: "Flatten", Input: []string{"x"}, Output: []string{"flat"}, Attribute: []*onnx.AttributeProto{{Name: "axis", Type: onnx.AttributeProto_INT, I: &axis}}},
				{OpType: "Gemm", Input: []string{"flat", "w", "b"}, Output: []string{"y"}, Attribute: []*onnx.AttributeProto{{Name: "transB", Type: onnx.AttributeProto_INT, I: &transB}}},
			},
			Initializer: []*onnx.TensorProto{
				{Name: "w", Dims: []int64{int64(classes), int64(side * side)}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: w},
				{Name: "b", Dims: []int64{int64(classes)}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: bias},
			},
			Input: []*onnx.ValueInfoProto{in}, Output: []*onnx.ValueInfoProto{{Name: "y"}}}}
	if meta != "" {
		m.MetadataProps = []*onnx.StringStringEntryProto{{Key: onnx.MetaPreprocess, Value: meta}}
	}
	path := filepath.Join(t.TempDir(), "bands.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// bandImage is a side x side image, padded by pad, whose band k of the
// classes bands inside the padding is 1 and the rest 0.
func bandImage(side, pad, classes, k int) []float32 {
	x := make([]float32, side*side)
	band := (side - 2*pad) / classes
	for r := pad + k*band; r < pad+(k+1)*band; r++ {
		for c := pad; c < side-pad; c++ {
			x[r*side+c] = 1
		}
	}
	return x
}

// TestOpenAnyClasses: a graph of 3 outputs and a 22x22 input padded by 2
// is refused as before without OpenOptions, with a ClassesError; with
// AnyClasses and AnyInput it opens with its declared preprocessing, and
// InputLogits normalises images of its own size as it declares (the bias
// of class 2 outweighs a band of ink unless pixels become -1 and 1).
func TestOpenAnyClasses(t *testing.T) {
	const side, pad = 22, 2
	bias := []float32{0, 0, 1.5}
	path := bandGraph(t, side, pad, 3, bias, `{"pad":2,"mean":0.5,"std":0.5}`)

	_, err := Open(path, "")
	var ce *ClassesError
	if !errors.As(err, &ce) || ce.Outputs != 3 || !strings.Contains(err.Error(), "gives 3 values per image; a digit classifier gives 10") {
		t.Fatalf("OpenWith: %v; want a ClassesError of 3 outputs", err)
	}
	if _, err := OpenClassifier(path, "", OpenOptions{AnyClasses: true}); err == nil || !strings.Contains(err.Error(), "22x22") {
		t.Errorf("AnyClasses alone: %v; want the 22x22 input refused", err)
	}

	m, err := OpenClassifier(path, "", OpenOptions{AnyClasses: true, AnyInput: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Classes != 3 || m.Input != (Geometry{1, side, side}) || m.InputSize() != side*side ||
		m.Preprocess != (Preprocessing{Pad: 2, Mean: 0.5, Std: 0.5}) || m.PreprocessFrom != PreprocessDeclared {
		t.Fatalf("opened as %d classes, %+v, %v (%v)", m.Classes, m.Input, m.Preprocess, m.PreprocessFrom)
	}
	x := make([]float32, 0, 3*side*side)
	for k := range 3 {
		x = append(x, bandImage(side, pad, 3, k)...)
	}
	logits := make([]float32, 9)
	if err := m.InputLogits(logits, x, 3); err != nil {
		t.Fatal(err)
	}
	// Normalised, an inked band's mean is 1, another's -1 (padding and
	// background are 0, so -1 too).
	for k := range 3 {
		for c := range 3 {
			want := -1 + float64(bias[c])
			if c == k {
				want = 1 + float64(bias[c])
			}
			if got := float64(logits[k*3+c]); math.Abs(got-want) > 1e-5 {
				t.Errorf("image %d, class %d: logit %g, want %g", k, c, got, want)
			}
		}
	}
	// The MNIST form is no image of this model.
	if err := m.Logits(logits, make([]float32, 3*32*32), 3); err == nil || !strings.Contains(err.Error(), "InputLogits") {
		t.Errorf("Logits of 32x32 digits: %v; want a refusal naming InputLogits", err)
	}
	if err := m.InputLogits(logits, x[:side*side], 3); err == nil {
		t.Error("InputLogits of 3 images from the floats of 1: no error")
	}

	// ClassifySource gives every image its 3 probabilities and a label
	// outside the classes stops the run.
	src := &bandSource{x: x, labels: []int{0, 1, 2}, size: side * side, bad: -1}
	var got []Prediction
	sum, err := ClassifySource(context.Background(), m.AtInputSize(), src, Options{Classes: 3, InputSize: side * side},
		Handlers{Prediction: func(p Prediction) error { got = append(got, p); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Images != 3 || sum.Correct != 3 || len(got) != 3 {
		t.Fatalf("summary %+v, %d predictions", sum, len(got))
	}
	for k, p := range got {
		total := 0.0
		for _, v := range p.Probabilities {
			total += v
		}
		if p.Digit != k || len(p.Probabilities) != 3 || math.Abs(total-1) > 1e-9 || p.Confidence != p.Probabilities[k] {
			t.Errorf("prediction %d: %+v", k, p)
		}
	}
	// An *ItemError fails that image alone; the others are classified.
	src.bad = 1
	got = nil
	sum, err = ClassifySource(context.Background(), m.AtInputSize(), src, Options{Classes: 3, InputSize: side * side},
		Handlers{Prediction: func(p Prediction) error { got = append(got, p); return nil }})
	if err != nil || sum.Images != 2 || sum.Failed != 1 || len(got) != 3 || got[1].Status != StatusError || got[1].Err == nil ||
		!strings.Contains(got[1].Err.Error(), "band1 is bad") || got[2].Digit != 2 {
		t.Errorf("an image's error: %v, summary %+v, predictions %+v", err, sum, got)
	}
	src.bad = -1
	src.labels[1] = 3
	if _, err := ClassifySource(context.Background(), m.AtInputSize(), src, Options{Classes: 3, InputSize: side * side}, Handlers{}); err == nil || !strings.Contains(err.Error(), "label 3") {
		t.Errorf("label 3 of 3 classes: %v", err)
	}
	if _, err := Classify(context.Background(), m, nil, Options{Classes: 3, InputSize: side * side}, Handlers{}); err == nil {
		t.Error("Classify of files at 22x22: no error")
	}
}

type bandSource struct {
	x      []float32
	labels []int
	size   int
	bad    int // the image whose Input is an *ItemError; -1 for none
}

func (s *bandSource) Len() int { return len(s.labels) }

func (s *bandSource) Input(i int, dst []float32) (string, int, error) {
	name := "band" + string(rune('0'+i))
	if i == s.bad {
		return name, s.labels[i], &ItemError{Err: errors.New(name + " is bad")}
	}
	copy(dst, s.x[i*s.size:(i+1)*s.size])
	return name, s.labels[i], nil
}

// TestAnyInputPadding: under AnyInput a graph without preprocess metadata
// gets the padding lenetkit train assumes (MNIST's 28 centred in a square
// up to the seed's 32, else none: a 64x64 or 96x96 input is no padded
// digit), a declared padding need only fit its input, and
// colour or a padding as large as the input are refused; models of 1 or
// more than MaxClasses outputs are refused whatever the options.
func TestAnyInputPadding(t *testing.T) {
	opts := OpenOptions{AnyClasses: true, AnyInput: true}
	for _, c := range []struct {
		side, classes int
		meta          string
		pad           int
		from          PreprocessSource
		err           string
	}{
		{16, 2, "", 0, PreprocessAssumed, ""},
		{64, 4, "", 0, PreprocessAssumed, ""},
		{96, 4, "", 0, PreprocessAssumed, ""},
		{30, 4, "", 1, PreprocessAssumed, ""},
		{32, 2, "", 2, PreprocessAssumed, ""},
		{33, 3, "", 0, PreprocessAssumed, ""},
		{32, 2, `{"pad":0,"mean":0,"std":1}`, 0, PreprocessDeclared, ""},
		{16, 2, `{"pad":8,"mean":0,"std":1}`, 0, 0, "does not fit"},
		{16, 1, "", 0, 0, "2 to 1000"},
		{4, 1001, "", 0, 0, "gives 1001 values"},
	} {
		m, err := OpenClassifier(bandGraph(t, c.side, 0, c.classes, make([]float32, c.classes), c.meta), "", opts)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%dx%d, %d classes, %q: %v; want an error with %q", c.side, c.side, c.classes, c.meta, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%dx%d, %d classes, %q: %v", c.side, c.side, c.classes, c.meta, err)
			continue
		}
		if m.Preprocess.Pad != c.pad || m.PreprocessFrom != c.from || m.Classes != c.classes {
			t.Errorf("%dx%d, %q: pad %d (%v), %d classes; want pad %d (%v), %d", c.side, c.side, c.meta, m.Preprocess.Pad, m.PreprocessFrom, m.Classes, c.pad, c.from, c.classes)
		}
	}
}
