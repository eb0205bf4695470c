// Package quantize makes an ONNX float model a static int8 one in QDQ form,
// as ONNX Runtime's quantize_static writes it (quant_format=QDQ), without
// Python: lenetkit's backend runs the float model over calibration images
// and records every activation's range (Calibrate), and a rewrite of the
// graph puts a QuantizeLinear -> DequantizeLinear pair on each activation,
// int8 weights and int32 biases behind DequantizeLinear nodes (Plan.Apply).
// Describe lists what a model, QDQ or QOperator, has quantized.
//
// The rules are ONNX Runtime's (1.30) for the operators of lenetkit's
// models, the ones testdata/quant/ reproduces:
//
//   - Calibration (Method): MinMax, each tensor's [min, max] over all the
//     images; Percentile, ONNX Runtime's PercentileCalibrater (a
//     histogram of |x| in 2,048 bins, the threshold at the 99.999th
//     percentile, the range (-t, t) cut to [min, max]); Entropy, its
//     EntropyCalibrater (a histogram of x in 128 bins over (-m, m), m the
//     largest |x|; the threshold whose quantized distribution is nearest
//     the data's in KL divergence, cut to [min, max]). At ONNX Runtime's
//     defaults, 128 bins and 128 quantized bins, Entropy has one candidate
//     threshold, the whole histogram, and gives MinMax's ranges; more bins
//     (Options.Bins) give it a choice.
//   - Activations: uint8 (or int8), asymmetric, the range widened to
//     include 0: scale = (max - min) / 255, zero point = round(qmin - min /
//     scale). A Q -> DQ pair on the graph input and on every input and
//     output of Conv, Gemm, MatMul and BatchNormalization; MaxPool (opset
//     12 on), Reshape, Transpose, Squeeze, Unsqueeze and AveragePool give
//     their output their input's parameters; a Relu or Clip whose input
//     feeds it alone is removed, the node before it writing its output
//     and that output's Q taking its range; other operators (Flatten,
//     Add, Softmax...) run in float between a DQ and the next Q.
//   - Weights: int8, symmetric in [-127, 127], scale = max|w| / 127, per
//     output channel (Conv axis 0, Gemm axis 0 with transB else 1, MatMul
//     axis 1) or per tensor; BatchNormalization's scale per tensor.
//   - Biases: int32, scale = input scale x weight scale, zero point 0; a
//     weight scale so small that its bias would overflow int32 is widened.
package quantize
