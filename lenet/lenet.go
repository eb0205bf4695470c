// Package lenet is the seed's LeNet for 32x32 MNIST digits: its layers, the
// names, shapes and order of its PyTorch state dict, PyTorch's default
// initialisation, and an inference-mode forward pass in plain Go.
//
// Every other part of lenetkit takes the network from Layers, the table
// below: train builds its Gorgonia graph from it, onnx writes and matches
// graphs by it, convert checks state dicts with Check. Change the network
// there and every path follows.
package lenet

import "fmt"

// Layers is the network, as PyTorch's nn.Sequential indices name it: the
// one place that lists its layers. Initialisation, the state dict's names
// and shapes, the inference forward pass, the Gorgonia training graph, the
// ONNX export and the match on import are all derived from it.
//
// ReLU comes before BatchNorm, and there is no activation between the two
// Linear layers: that is the network that produced 99.16 %.
var Layers = []Layer{
	{Kind: Conv, Name: "conv_layers.0", In: 1, Out: 32, Size: 3}, //  1x32x32 -> 32x32x32
	{Kind: ReLU},
	{Kind: BatchNorm, Name: "conv_layers.2", Out: 32},
	{Kind: MaxPool, Size: 2},                                      // -> 32x16x16
	{Kind: Conv, Name: "conv_layers.4", In: 32, Out: 64, Size: 3}, // -> 64x16x16
	{Kind: ReLU},
	{Kind: BatchNorm, Name: "conv_layers.6", Out: 64},
	{Kind: MaxPool, Size: 4},                                       // -> 64x4x4
	{Kind: Conv, Name: "conv_layers.8", In: 64, Out: 128, Size: 3}, // -> 128x4x4
	{Kind: ReLU},
	{Kind: BatchNorm, Name: "conv_layers.10", Out: 128},
	{Kind: MaxPool, Size: 2}, // -> 128x2x2
	{Kind: Flatten},          // -> 512, (C, H, W) order
	{Kind: Linear, Name: "fc_layer.1", In: 512, Out: 64},
	{Kind: Dropout1d, Rate: 0.3},
	{Kind: Linear, Name: "fc_layer.3", In: 64, Out: 10},
}

// Kind is a layer's type.
type Kind int

// The layer kinds, each PyTorch's module of that name.
const (
	Conv      Kind = iota // Conv2d(In, Out, Size, padding=Size/2)
	ReLU                  // ReLU
	BatchNorm             // BatchNorm2d(Out)
	MaxPool               // MaxPool2d(Size)
	Flatten               // Flatten
	Linear                // Linear(In, Out)
	Dropout1d             // Dropout1d(Rate)
)

func (k Kind) String() string {
	return [...]string{"Conv2d", "ReLU", "BatchNorm2d", "MaxPool2d", "Flatten", "Linear", "Dropout1d"}[k]
}

// Layer is one entry of Layers.
type Layer struct {
	Kind    Kind
	Name    string  // state-dict prefix, for layers with parameters
	In, Out int     // channels or features
	Size    int     // kernel or window
	Rate    float64 // Dropout1d's probability of zeroing
}

// Param returns the state-dict name of one of the layer's tensors:
// "weight", "bias", and for BatchNorm "running_mean", "running_var" and
// "num_batches_tracked".
func (l Layer) Param(suffix string) string { return l.Name + "." + suffix }

// Blocks and Head are Layers as the fast paths run them: conv blocks, each
// Conv -> ReLU -> BatchNorm -> MaxPool fused into one kernel, then the
// Linear layers after Flatten (Dropout1d is the identity at inference).
var Blocks, Head = split(Layers)

// split groups the layer table into blocks and head; it panics at start-up
// if the table is not of that shape, which is a bug in the table.
func split(layers []Layer) ([]ConvBlock, []Layer) {
	var blocks []ConvBlock
	i := 0
	for ; i+3 < len(layers) && layers[i].Kind == Conv; i += 4 {
		c, r, bn, p := layers[i], layers[i+1], layers[i+2], layers[i+3]
		if r.Kind != ReLU || bn.Kind != BatchNorm || p.Kind != MaxPool || bn.Out != c.Out || c.Size != Kernel {
			panic(fmt.Sprintf("lenet: layers %d-%d are not Conv %dx%d, ReLU, BatchNorm, MaxPool", i, i+3, Kernel, Kernel))
		}
		blocks = append(blocks, ConvBlock{Conv: c, BatchNorm: bn, In: c.In, Out: c.Out, Pool: p.Size})
	}
	if i >= len(layers) || layers[i].Kind != Flatten {
		panic("lenet: the conv blocks must end in Flatten")
	}
	var head []Layer
	for _, l := range layers[i+1:] {
		switch l.Kind {
		case Linear:
			head = append(head, l)
		case Dropout1d:
		default:
			panic(fmt.Sprintf("lenet: %v in the head", l.Kind))
		}
	}
	return blocks, head
}

const (
	InputSize         = 32 // the 28x28 digit padded by 2 on every side
	Kernel            = 3  // every convolution is 3x3, stride 1, padding 1
	Classes           = 10
	FlatSize          = 512 // 128 channels x 2 x 2
	BatchNormEps      = 1e-5
	BatchNormMomentum = 0.1
)

// DefaultDropout is the rate of the table's Dropout1d.
var DefaultDropout = func() float64 {
	for _, l := range Layers {
		if l.Kind == Dropout1d {
			return l.Rate
		}
	}
	return 0
}()

// ConvBlock is Conv2d(In, Out, 3, padding=1) -> ReLU -> BatchNorm2d(Out) -> MaxPool2d(Pool).
type ConvBlock struct {
	Conv, BatchNorm Layer
	In, Out, Pool   int
}

// Param describes one state-dict entry.
type Param struct {
	Name  string
	Shape []int
	DType DType
	// Trainable is false for BatchNorm's running statistics and counter,
	// which PyTorch keeps as buffers, not parameters.
	Trainable bool
}

// Params lists the state dict of the network in PyTorch's order.
func Params() []Param {
	var ps []Param
	for _, l := range Layers {
		switch l.Kind {
		case Conv:
			ps = append(ps,
				Param{l.Param("weight"), []int{l.Out, l.In, l.Size, l.Size}, Float32, true},
				Param{l.Param("bias"), []int{l.Out}, Float32, true})
		case BatchNorm:
			ps = append(ps,
				Param{l.Param("weight"), []int{l.Out}, Float32, true},
				Param{l.Param("bias"), []int{l.Out}, Float32, true},
				Param{l.Param("running_mean"), []int{l.Out}, Float32, false},
				Param{l.Param("running_var"), []int{l.Out}, Float32, false},
				Param{l.Param("num_batches_tracked"), []int{}, Int64, false})
		case Linear:
			ps = append(ps,
				Param{l.Param("weight"), []int{l.Out, l.In}, Float32, true},
				Param{l.Param("bias"), []int{l.Out}, Float32, true})
		}
	}
	return ps
}

// NumParameters counts the trainable elements: 126,602 for this network,
// what sum(p.numel() for p in model.parameters()) prints.
func NumParameters() int {
	n := 0
	for _, p := range Params() {
		if p.Trainable {
			n += numElements(p.Shape)
		}
	}
	return n
}
