// Package lenet is the seed's LeNet for 32x32 MNIST digits: its layers, the
// names, shapes and order of its PyTorch state dict, PyTorch's default
// initialisation, and an inference-mode forward pass in plain Go.
//
// Every other part of lenetkit takes the network from here: train builds its
// Gorgonia graph from Layers, onnx writes its graph from Layers, convert checks
// state dicts with Check.
package lenet

// The network, as PyTorch's nn.Sequential indices name it:
//
//	conv_layers.0   Conv2d(1, 32, 3, padding=1)      1x32x32 -> 32x32x32
//	conv_layers.1   ReLU
//	conv_layers.2   BatchNorm2d(32)
//	conv_layers.3   MaxPool2d(2)                     -> 32x16x16
//	conv_layers.4   Conv2d(32, 64, 3, padding=1)     -> 64x16x16
//	conv_layers.5   ReLU
//	conv_layers.6   BatchNorm2d(64)
//	conv_layers.7   MaxPool2d(4)                     -> 64x4x4
//	conv_layers.8   Conv2d(64, 128, 3, padding=1)    -> 128x4x4
//	conv_layers.9   ReLU
//	conv_layers.10  BatchNorm2d(128)
//	conv_layers.11  MaxPool2d(2)                     -> 128x2x2
//	fc_layer.0      Flatten                          -> 512 (C, H, W order)
//	fc_layer.1      Linear(512, 64)
//	fc_layer.2      Dropout1d(0.3)
//	fc_layer.3      Linear(64, 10)
//
// ReLU comes before BatchNorm, and there is no activation between the two
// Linear layers: that is the network that produced 99.16 %.
var Blocks = []ConvBlock{
	{Conv: "conv_layers.0", BatchNorm: "conv_layers.2", In: 1, Out: 32, Pool: 2},
	{Conv: "conv_layers.4", BatchNorm: "conv_layers.6", In: 32, Out: 64, Pool: 4},
	{Conv: "conv_layers.8", BatchNorm: "conv_layers.10", In: 64, Out: 128, Pool: 2},
}

// Head is the classifier after the convolutions: Flatten, FC1, Dropout1d, FC2.
var Head = []Linear{
	{Name: "fc_layer.1", In: 512, Out: 64},
	{Name: "fc_layer.3", In: 64, Out: 10},
}

const (
	InputSize         = 32 // the 28x28 digit padded by 2 on every side
	Kernel            = 3  // every convolution is 3x3, stride 1, padding 1
	Classes           = 10
	FlatSize          = 512 // 128 channels x 2 x 2
	BatchNormEps      = 1e-5
	BatchNormMomentum = 0.1
	DefaultDropout    = 0.3
)

// ConvBlock is Conv2d(In, Out, 3, padding=1) -> ReLU -> BatchNorm2d(Out) -> MaxPool2d(Pool).
type ConvBlock struct {
	Conv, BatchNorm string // state-dict prefixes
	In, Out, Pool   int
}

// Linear is nn.Linear(In, Out).
type Linear struct {
	Name    string
	In, Out int
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
	for _, b := range Blocks {
		ps = append(ps,
			Param{b.Conv + ".weight", []int{b.Out, b.In, Kernel, Kernel}, Float32, true},
			Param{b.Conv + ".bias", []int{b.Out}, Float32, true},
			Param{b.BatchNorm + ".weight", []int{b.Out}, Float32, true},
			Param{b.BatchNorm + ".bias", []int{b.Out}, Float32, true},
			Param{b.BatchNorm + ".running_mean", []int{b.Out}, Float32, false},
			Param{b.BatchNorm + ".running_var", []int{b.Out}, Float32, false},
			Param{b.BatchNorm + ".num_batches_tracked", []int{}, Int64, false},
		)
	}
	for _, l := range Head {
		ps = append(ps,
			Param{l.Name + ".weight", []int{l.Out, l.In}, Float32, true},
			Param{l.Name + ".bias", []int{l.Out}, Float32, true},
		)
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
