// Package qgemm multiplies int8 matrices for quantized inference: the
// product under ONNX's QLinearConv, QLinearMatMul, ConvInteger and
// MatMulInteger and the QDQ-fused Conv and Gemm, and the epilogues that
// turn its int32 result into the next layer's int8 or float32 input.
//
// # The product
//
// Gemm computes C = (A - za) (B - zb), exactly, in int32:
//
//		C[i,j] = sum over p < k of (A[i,p] - za) * (B[p,j] - zb[j])
//
//	  - A, m x k, is the activations: int8 or uint8, row-major with a row
//	    stride, or stored transposed (k x m, an im2col matrix); za is its one
//	    zero point, of its type.
//	  - B, k x n, is the weights: int8 or uint8 (the type need not be A's),
//	    row-major or stored transposed (n x k, ONNX Conv's [M][C*kH*kW]),
//	    with a zero point per column j (per output channel) or one for all.
//	    B is packed once by PackB, which also stores its column sums.
//	  - C, m x n, is int32, row-major with a row stride; it is written, not
//	    read.
//
// Every kernel multiplies unsigned bytes of A by signed bytes of B, what
// AVX512-VNNI's and AVX-VNNI's VPDPBUSD compute: an int8 of A is moved
// there by adding 128 (flipping its top bit) and a uint8 of B by taking
// 128, the zero points likewise, so that (A - za) and (B - zb) are
// unchanged, and
//
//	C = A'B' - zb'_j * rowsum_i(A') - za' * colsum_j(B') + k * za' * zb'_j
//
// where the column sums come with the packed B and the row sums from
// packing A (skipped when every zb' is 0, as for int8 weights quantized
// symmetrically). The kernels start each tile at the corrections and add
// the products.
//
// # Exactness and bounds
//
// Every step is int32 arithmetic that wraps: VPDPBUSD (which does not
// saturate, unlike its VPDPBUSDS sibling), VPMADDWD on bytes widened to
// int16 for AVX2 (whose pair sums of at most 2*255*128 cannot overflow;
// VPMADDUBSW, which saturates to int16, is not used), VPADDD, VPMULLD and
// Go's int32. So C is the exact sum modulo 2^32, for any k: it equals the
// exact sum whenever that fits in int32, as the int32 result of ONNX's
// operators must. Since |A - za| <= 255 and |B - zb| <= 255, it always
// fits for k <= 33025; when |B - zb| <= 128 (int8 weights with zero point
// 0, the usual case, with any activations) for k <= 65792. Beyond that
// only extreme inputs overflow, and they wrap.
//
// # Kernels
//
// PackB packs for the best kernel set this CPU runs, picked at start-up
// with golang.org/x/sys/cpu: AVX512-VNNI on ZMM registers (AVX512F and
// AVX512VNNI), AVX-VNNI (VEX VPDPBUSD on YMM; Go's assembler has only the
// EVEX form, so those instructions are written as bytes, checked against
// GNU as), AVX2 (bytes widened to int16, VPMADDWD), or pure Go (other
// CPUs and builds with the tag purego). KernelName names it; a PackedB
// records the kernel it was packed for. Each set has a wide tile and a
// narrow one for products with few columns. A fifth set, avx512vnni-ymm,
// is the AVX-VNNI kernels with VPDPBUSD's EVEX encoding, never the
// default: CPUs with AVX512VL run the AVX-VNNI kernels' code through it.
// Kernels lists the sets this CPU runs and PackBFor packs for one, for
// tests of code built on this package.
//
// A is packed per call (into the Workspace) as the kernels read it, with
// assembly on amd64: from a row-major A, panels of a tile's rows; from a
// transposed A (an im2col matrix, k x m), its rows interleaved four (or
// two) at a time.
//
// # Convolutions read in place
//
// GemmInPlace takes A where it lies instead of as a matrix: each row's
// 4-byte units at a table of offsets from the row's start, rows lda
// apart. A stride-1 convolution over a padded channels-last (NHWC) image
// of C channels, C a multiple of 4, is such an A: an output pixel's row
// is its kernel's taps, 3x3 of them a run of 3C contiguous bytes per
// kernel row, and consecutive pixels of an output row are C bytes apart.
// The kernels of 4-byte units have direct forms that broadcast those
// units from the image itself, so no im2col matrix is written and A is
// not packed: for uint8 A and B's zero points 0 in the kernels' domain
// (int8 weights quantized symmetrically). Any other case gathers the rows
// into the workspace first, with the same result. C comes out a row per
// output pixel, which is the next layer's NHWC.
//
// MaxPool takes the maximum (or, per column, the minimum) of the int32
// accumulators over pooling windows of those rows: before a
// requantization that does not decrease (its multiplier is positive),
// pooling the accumulators and requantizing the maxima gives what
// requantizing every pixel and pooling the bytes gives, for a quarter
// (2x2) of the epilogue's work. RequantizeFloor is Requantize with a
// Relu's clamp taken in.
//
// # Epilogues
//
// Requantize adds a per-column int32 bias to C, scales it by a float32
// multiplier (per column or per tensor, a_scale*w_scale/y_scale), rounds
// half to even, adds the output zero point and saturates to int8 or
// uint8: ONNX Runtime's MlasRequantizeOutput, float32 arithmetic step for
// step, so that QLinearConv's and QLinearMatMul's outputs match ONNX
// Runtime's exactly on x86-64 (tested against its MatMulInteger and
// QLinearMatMul; on ARM64 ONNX Runtime may requantize in fixed point,
// rounding half up, instead). Dequantize is the float output instead:
// float32(C + bias) * scale.
//
// Epilogue is a convolution's whole epilogue in one pass over a band of
// accumulators: max pooling first (on the int32 accumulators, which is
// exact before a requantization that does not decrease), then the
// requantization, then a per-column table of 256 bytes (a
// BatchNormalization between two quantizations). The table is looked up
// a byte at a time, unless Epilogue.Affine found it to be an affine map
// rounded, checked at every value the requantization gives: then the
// vector code computes the same bytes with one multiply and one add.
//
// # Contract
//
// The exported functions check their arguments (negative dimensions,
// strides shorter than a row, slices too short for their matrices, bias,
// scale and zero-point counts) and return an error rather than panic or
// read outside a slice; on an error nothing is written. Inputs must not
// overlap outputs.
//
// Nothing here starts goroutines or keeps mutable global state: a call runs
// on the caller's goroutine, with the Workspace it is given (one per
// goroutine), and callers parallelise over images or rows of A as they see
// fit. A PackedB may be shared by any number of goroutines.
package qgemm
