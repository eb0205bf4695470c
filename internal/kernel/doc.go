// Package kernel holds the loops LeNet spends its time in, shared by the
// inference forward pass in lenet and the Gorgonia ops in train.
//
// Activations are laid out NHWC (image, row, column, channel), so that
// every kernel works on contiguous vectors of channels. PyTorch's NCHW
// shows only at the edges: weights are permuted on the way in and
// gradients on the way out, and Flatten emits PyTorch's C,H,W order.
//
// A 3x3 convolution (Conv3x3) runs straight from its input given a border
// of zeros, with no im2col copy: a tile of output pixels by a vector of
// output channels stays in registers while the input under it is
// broadcast against vectors of weights. Its backward passes are the same
// kind of loop: the input gradient is a convolution with the flipped
// weights, the weight gradient a tile of weights summed over the pixels.
// The stride-2 form (Conv3x3S2, a ResNet's first convolution of a stage)
// runs the same kernels stepping two input pixels and rows at a time.
//
// Each conv block's ReLU, BatchNorm and max pooling run as one kernel
// (BNPool), so the normalised map is never stored: the forward pass reads
// the convolution's output twice (statistics, then normalise and pool,
// keeping which input won each window), and the backward pass, since
// pooling passes gradient to the winners only, takes BatchNorm's
// reductions over the pooled maps and then writes the convolution's output
// gradient in one pass. The first block, whose convolution is cheap, also
// fuses the convolution (ConvBNPool) and never stores its output. Blocks
// without BatchNorm (Keras's) run the same kernels with BatchNorm the
// identity (ForwardReLUPool), whose arithmetic is then exact.
//
// The inner loops have assembly versions for amd64, written by
// gen_amd64.go for AVX-512 and for AVX2 with FMA and picked at run time;
// the pure-Go versions beside them (kernels_go.go) serve other CPUs and the
// purego build tag. Plain float64 implementations in the tests check both,
// and numerical gradients check the backward passes. Parallel spreads work
// over the CPUs with goroutines that persist between calls.
package kernel
