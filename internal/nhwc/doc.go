// Package nhwc holds the kernels of channels-last (NHWC) maps that
// MobileNet's separable blocks run on: a depthwise 3x3 convolution
// vectorised across channels, a vector of one pixel's channels at a time
// (with the nine taps' weight vectors kept in registers, where one plane
// at a time spent its time on the borders of many small planes), a 1x1
// convolution reading the pixels in place with its bias and clamp fused,
// and the channels' means (GlobalAveragePool).
//
// On amd64 the kernels are assembly, AVX-512 (the last channels masked)
// or AVX2 (the channels past the last whole vector in Go), picked at run
// time; elsewhere, or with the tag purego, Go.
package nhwc
