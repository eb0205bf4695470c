// Package nchw holds the float32 inference kernels that lenetkit's ONNX
// backend runs on one image at a time, in ONNX's channel-major layout: each
// function works on a single image [C][H][W] or a single row-major matrix,
// and runs on the calling goroutine; the caller parallelises over images.
//
// Sizes are not checked here: the graph compiler that calls these kernels
// has already validated every shape, and checking again per image would
// only cost time. Each function documents what it expects; a call that
// breaks those preconditions may panic on a slice index or compute
// garbage, but never loops forever.
//
// Functions that take y and x write y and only read x. Unless a function
// says otherwise, y must not overlap its inputs.
package nchw
