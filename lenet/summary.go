package lenet

import (
	"math"
	"strconv"
	"strings"
)

// Table is the network as torchsummary 1.5.1 describes it: what
// torchsummary.summary(model, (1, 32, 32), batch_size=Batch) prints for the
// seed's LeNet. Its String is that printout, line for line.
//
// The formulas are torchsummary's, from torchsummary/torchsummary.py at the
// v1.5.1 commit of github.com/sksq96/pytorch-summary (b50f213, the version
// on PyPI); the comments below cite them. Every number is derived from
// Layers and Params, none is written out.
type Table struct {
	Batch int   `json:"batch_size"` // -1, torchsummary's default, prints -1
	Input []int `json:"input_size"` // (C, H, W) of one sample: [1, 32, 32]
	Rows  []Row `json:"layers"`

	TotalParams        int `json:"total_params"`
	TrainableParams    int `json:"trainable_params"`
	NonTrainableParams int `json:"non_trainable_params"`

	// The sizes in MiB, unrounded; String prints them with "%0.2f".
	InputMB           float64 `json:"input_size_mb"`
	ForwardBackwardMB float64 `json:"forward_backward_pass_size_mb"`
	ParamsMB          float64 `json:"params_size_mb"`
	TotalMB           float64 `json:"estimated_total_size_mb"`
}

// Row is one line of the table: one leaf module of the network, in the
// order its forward hook fires.
type Row struct {
	Layer       string `json:"layer"`            // "{class}-{n}", n counting every row from 1: "Conv2d-1"
	Module      string `json:"module,omitempty"` // state-dict prefix, for layers with parameters
	OutputShape []int  `json:"output_shape"`     // batch first, as Table.Batch
	Params      int    `json:"params"`           // weight and bias elements
	// Trainable is torchsummary's module.weight.requires_grad: true for
	// every layer with a weight, false for those without (which count 0).
	Trainable bool `json:"trainable"`
}

// Summary returns the torchsummary table of Layers for a batch of the
// given size; -1 is torchsummary's default, which leaves the batch
// dimension as -1.
func Summary(batch int) Table {
	shapes := map[string][]int{}
	for _, p := range Params() {
		shapes[p.Name] = p.Shape
	}
	t := Table{Batch: batch, Input: []int{1, InputSize, InputSize}}
	shape := t.Input // of one sample; torchsummary runs a batch of 2 and replaces its size
	totalOutput := 0
	for i, l := range Layers {
		switch l.Kind {
		case Conv: // stride 1, padding Size/2
			shape = []int{l.Out, shape[1] + 2*(l.Size/2) - l.Size + 1, shape[2] + 2*(l.Size/2) - l.Size + 1}
		case MaxPool: // stride = kernel, no padding: floor(H / Size)
			shape = []int{shape[0], shape[1] / l.Size, shape[2] / l.Size}
		case Flatten:
			shape = []int{numElements(shape)}
		case Linear:
			shape = []int{l.Out}
		}
		r := Row{
			// m_key = "%s-%i" % (class_name, module_idx + 1), module_idx = len(summary)
			Layer: l.Kind.String() + "-" + strconv.Itoa(i+1),
			// output_shape = list(output.size()); output_shape[0] = batch_size
			OutputShape: append([]int{batch}, shape...),
		}
		// params = prod(weight.size()) + prod(bias.size()); "trainable" =
		// weight.requires_grad, set only when the module has a weight.
		// BatchNorm's running statistics are buffers, not counted.
		if w, ok := shapes[l.Param("weight")]; ok {
			r.Module, r.Trainable = l.Name, true
			r.Params = numElements(w) + numElements(shapes[l.Param("bias")])
		}
		t.Rows = append(t.Rows, r)
		t.TotalParams += r.Params // total_params += nb_params
		if r.Trainable {
			t.TrainableParams += r.Params // if summary[layer]["trainable"] == True
		}
		totalOutput += numElements(r.OutputShape) // total_output += np.prod(output_shape)
	}
	t.NonTrainableParams = t.TotalParams - t.TrainableParams

	// "assume 4 bytes/number (float on cuda)", in float64 and in
	// torchsummary's order of operations:
	//   total_input_size  = abs(np.prod(input_size) * batch_size * 4. / (1024 ** 2.))
	//   total_output_size = abs(2. * total_output * 4. / (1024 ** 2.))  # x2 for gradients
	//   total_params_size = abs(total_params * 4. / (1024 ** 2.))
	//   total_size = total_params_size + total_output_size + total_input_size
	const mib = 1024 * 1024
	t.InputMB = math.Abs(float64(numElements(t.Input)*batch) * 4 / mib)
	t.ForwardBackwardMB = math.Abs(2 * float64(totalOutput) * 4 / mib)
	t.ParamsMB = math.Abs(float64(t.TotalParams) * 4 / mib)
	t.TotalMB = t.ParamsMB + t.ForwardBackwardMB + t.InputMB
	return t
}

// String is the table as torchsummary prints it: rows formatted with
// "{:>20}  {:>25} {:>15}", shapes as Python lists, counts with "{0:,}",
// sizes with "%0.2f", each line ending in a newline.
func (t Table) String() string {
	const (
		rule   = "----------------------------------------------------------------\n"
		double = "================================================================\n"
	)
	var b strings.Builder
	row := func(layer, shape, params string) {
		b.WriteString(padLeft(layer, 20) + "  " + padLeft(shape, 25) + " " + padLeft(params, 15) + "\n")
	}
	mb := func(label string, v float64) {
		// Python's %0.2f and strconv both round the exact binary value,
		// halves to even.
		b.WriteString(label + " (MB): " + strconv.FormatFloat(v, 'f', 2, 64) + "\n")
	}
	b.WriteString(rule)
	row("Layer (type)", "Output Shape", "Param #")
	b.WriteString(double)
	for _, r := range t.Rows {
		row(r.Layer, shapeString(r.OutputShape), thousands(r.Params)) // str(list) is "[-1, 32, 32, 32]"
	}
	b.WriteString(double)
	b.WriteString("Total params: " + thousands(t.TotalParams) + "\n")
	b.WriteString("Trainable params: " + thousands(t.TrainableParams) + "\n")
	b.WriteString("Non-trainable params: " + thousands(t.NonTrainableParams) + "\n")
	b.WriteString(rule)
	mb("Input size", t.InputMB)
	mb("Forward/backward pass size", t.ForwardBackwardMB)
	mb("Params size", t.ParamsMB)
	mb("Estimated Total Size", t.TotalMB)
	b.WriteString(rule)
	return b.String()
}

// padLeft right-aligns s in width runes, as Python's "{:>width}" does;
// longer strings are left whole.
func padLeft(s string, width int) string {
	if n := len([]rune(s)); n < width {
		return strings.Repeat(" ", width-n) + s
	}
	return s
}

// thousands formats n as Python's "{0:,}": 126602 -> "126,602".
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
