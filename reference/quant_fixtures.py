"""Quantized ONNX fixtures in testdata/quant/, and ONNX Runtime's outputs and figures on them.

    quant_fixtures.py [--out-dir DIR] [--data DIR] [--ops NAME,...]

Graphs written node by node with onnx.helper in the forms ONNX Runtime's
quantization tool writes, for lenetkit's quantized operators to be tested
against (ONNX Runtime through Node: reference/ort_quant.js):

- seed_qdq_tensor.onnx, seed_qdq_channel.onnx: the seed's LeNet
  (reference/lenet.py, weights testdata/lenet_trained.pth, eval mode) in
  QDQ form, quantized as onnxruntime.quantization.quantize_static (1.30)
  does with quant_format=QDQ, activation_type=QUInt8, weight_type=QInt8,
  calibrate_method=MinMax and its default extra options, per tensor or
  per_channel=True; opset 13. The float graph is torch.onnx.export's
  (same names) less the Unsqueeze/Squeeze pair Dropout1d leaves in eval
  mode (an identity). Its rules, reproduced here in numpy:
  * calibration: the float graph runs in ONNX Runtime with its graph
    optimizations off (as the calibrator runs it) on MNIST training images
    0..255; each tensor's range is [min, max] over them;
  * a Relu whose input feeds only it is removed and its input takes its
    range (QDQRemovableActivation): Conv -> Q(range of the Relu's output,
    zero point 0) clamps as the Relu did. The seed's BatchNorm follows the
    Relu, so it cannot fold into the Conv: it stays a node, its scale
    quantized as a weight (int8, per tensor even in the per-channel file:
    rank 1 has no axis 1), its bias as a bias (int32, scale input_scale *
    scale_scale), its mean and variance left float;
  * activations: uint8, asymmetric, range widened to include 0, scale =
    (rmax - rmin) / 255 (float64, stored float32), zero point =
    round(-rmin / scale); Q -> DQ after every Conv, BatchNormalization,
    MaxPool and Gemm output and on the graph input; a MaxPool's output
    reuses its input's scale and zero point (QDQDirect8BitOp); Flatten is
    not a QDQ operator: DQ -> Flatten -> Q with Flatten's own range;
  * weights: int8 symmetric in [-127, 127], scale = max|w| / 127, zero
    point 0, per output channel (axis 0: Conv OIHW, Gemm transB=1) in the
    _channel file; values round(w / scale) half to even in float32;
  * biases: int32, scale = input_scale * weight_scale (float32), zero
    point 0, round(b / scale); ONNX Runtime's weight-scale widening for a
    bias that would overflow int32 is reproduced (it does not trigger here).
- seed_qoperator.onnx: the ONNX model zoo's mnist-12-int8 laid out anew
  (QOperator form, opset 12 + com.microsoft 1): QuantizeLinear on the
  input, QLinearConv 5x5 (8, SAME_UPPER, the Relu folded into its output
  range), MaxPool 2 on uint8, QLinearConv 5x5 (16), MaxPool 3 on uint8,
  Reshape on uint8 to [-1, 256], QLinearMatMul (per-column int8 weight),
  com.microsoft QLinearAdd for the bias (quantized as uint8, asymmetric,
  as ONNX Runtime quantizes an Add's constant input), DequantizeLinear to
  float logits. The weights are the zoo's mnist-12 network (Conv 5x5 8,
  ReLU, MaxPool 2, Conv 5x5 16, ReLU, MaxPool 3, MatMul 256x10 + Add)
  trained here from torch.manual_seed(0) for one epoch over the 60,000
  training images (reference/onnx_producers.py's recipe and network, so
  the same weights as testdata/onnx/producers/cntk_mnist8.onnx), on 28x28
  pixels in [0, 1]; calibrated on training images 0..255 (28x28). Its
  float graph, in the form ONNX Runtime's optimizer leaves mnist-12 (the
  Conv's Add folded into its bias, the weight Reshape folded), is
  mnist12_float.onnx.
- ops_dynamicquantizelinear.onnx, ops_matmulinteger.onnx,
  ops_convinteger.onnx: one or two nodes each on small random or
  hand-picked tensors (several test_data_set_N); ops_dynamic_matmul.onnx:
  a MatMul as onnxruntime.quantization.quantize_dynamic writes it
  (DynamicQuantizeLinear, MatMulInteger, Cast, Mul of the scales, Mul,
  then the bias Add in float); ops_qgemm: com.microsoft QGemm, the form
  ONNX Runtime's quantization tool writes a Gemm in (QOperator): uint8 x
  int8 with per-column weight scales, an int32 bias and transB, per tensor
  without a bias, and int8 x int8. --ops writes these alone, merged into
  figures.json.

Each NAME.onnx has NAME/test_data_set_0/input_0.pb ... and output_0.pb ...
(TensorProto named after the graph's input or output, ONNX's backend test
layout, which `lenetkit run NAME.onnx NAME/test_data_set_0 --expect`
reads): ONNX Runtime's outputs with its default graph optimizations. The
image models' input is MNIST test images 0..31; beside the data set,
NAME/labels.pb (int64), NAME/float_output_0.pb (the unquantized model's
logits in ONNX Runtime) and NAME/noopt_output_0.pb (ONNX Runtime with its
graph optimizations disabled: every Q, DQ and float operator run as
written, no QDQ fusion). figures.json has ONNX Runtime's accuracy and mean
cross-entropy on the MNIST test set for every image model and its float
original, under the seed's protocol (78 batches of 128, drop_last: the
mean of the batch means over 9,984 images) and over all 10,000 images,
both optimization levels, the file sizes, the quantization parameters
and the calibration. Every file passes onnx.checker.check_model(
full_check=True). Deterministic: a rerun writes the same bytes. About 45
seconds on 2 cores, most of it the one-epoch training run.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mnist_idx  # noqa: E402
from lenet import LeNet  # noqa: E402
from onnx_producers import cntk_cnn, train as train_one_epoch  # noqa: E402
from onnx_zoo import ort_version, write_json  # noqa: E402

CAL_IMAGES = 256
CHECK_IMAGES = 32
SEED_BATCH = 128
TOLERANCE = 1e-4
SEED_PREPROCESS = {"pad": 2, "mean": 0, "std": 1}
MNIST12_PREPROCESS = {"pad": 0, "mean": 0, "std": 1}

NP_TO_JS = {np.dtype(np.float32): "float32", np.dtype(np.uint8): "uint8", np.dtype(np.int8): "int8",
            np.dtype(np.int32): "int32", np.dtype(np.int64): "int64"}
JS_TO_NP = {v: k for k, v in NP_TO_JS.items()}
N = helper.make_node


# ONNX Runtime through Node.

def ort_run(jobs, tmpdir):
    """Run jobs in reference/ort_quant.js, one Node process. A job is a dict: model (path),
    inputs ({name: ndarray}, in the graph's order), and optionally outputs (names), batch,
    optimization. Returns, per job, a dict name -> ndarray in the order of the outputs."""
    specs = []
    written = {}  # id of an array -> its file: one array fed to several jobs is written once
    for j, job in enumerate(jobs):
        ins = []
        for k, (name, arr) in enumerate(job["inputs"].items()):
            f = written.get(id(arr))
            if f is None:
                f = os.path.join(tmpdir, f"job{j}_in{k}.bin")
                np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tofile(f)
                written[id(arr)] = f
            ins.append({"name": name, "file": f, "type": NP_TO_JS[arr.dtype], "dims": list(arr.shape)})
        spec = {"model": job["model"], "inputs": ins, "out": os.path.join(tmpdir, f"job{j}_out")}
        for key in ("outputs", "batch", "optimization"):
            if job.get(key) is not None:
                spec[key] = job[key]
        specs.append(spec)
    jf = os.path.join(tmpdir, "jobs.json")
    with open(jf, "w") as f:
        json.dump(specs, f)
    subprocess.run(["node", os.path.join(HERE, "ort_quant.js"), jf], check=True)
    results = []
    for spec in specs:
        with open(os.path.join(spec["out"], "outputs.json")) as f:
            listing = json.load(f)
        out = {}
        for o in listing:
            p = os.path.join(spec["out"], o["file"])
            out[o["name"]] = np.fromfile(p, dtype=JS_TO_NP[o["type"]].newbyteorder("<")).reshape(o["dims"])
            os.remove(p)
        results.append(out)
    return results


# Quantization arithmetic, as onnxruntime.quantization's quant_utils has it.

def compute_scale_zp(rmin, rmax, qmin, qmax, symmetric):
    """(zero_point, scale float32) for the range [rmin, rmax] (float32) on [qmin, qmax]."""
    rmin = np.minimum(np.float32(rmin), np.float32(0))
    rmax = np.maximum(np.float32(rmax), np.float32(0))
    if symmetric:
        absmax = np.maximum(np.abs(rmin), np.abs(rmax))
        rmin, rmax = -absmax, absmax
    dr = np.float64(rmax - rmin)
    scale = dr / (np.float64(qmax) - np.float64(qmin))
    if scale < np.finfo(np.float32).tiny:
        return 0, np.float32(1.0)
    if symmetric:
        zp = int(np.round((qmin + qmax) / 2.0))
    else:
        zp = int(np.round(qmin - np.float64(rmin) / scale))
    return zp, np.float32(scale)


def quantize(arr, scale, zp, qmin, qmax, dtype):
    """round(arr / scale) + zp in float32, half to even, saturated."""
    q = (np.asarray(arr, np.float32) / np.float32(scale)).round() + np.float32(zp)
    return np.clip(q, qmin, qmax).astype(dtype)


def act_params(rng):
    """uint8 asymmetric activation parameters of a calibrated range."""
    zp, scale = compute_scale_zp(rng[0], rng[1], 0, 255, symmetric=False)
    return scale, np.uint8(zp)


def weight_params(w):
    """int8 symmetric [-127, 127] parameters of a weight (or one channel of it)."""
    zp, scale = compute_scale_zp(w.min() if w.size else 0, w.max() if w.size else 0, -127, 127, symmetric=True)
    return scale, np.int8(zp)


def quantize_weight(w, axis):
    """(q int8, scale, zero_point): per tensor (axis None) or per channel along axis."""
    if axis is None:
        scale, zp = weight_params(w)
        return quantize(w, scale, zp, -127, 127, np.int8), scale, zp
    scales, zps, parts = [], [], []
    for i in range(w.shape[axis]):
        ch = w.take(i, axis)
        s, z = weight_params(ch)
        scales.append(s)
        zps.append(z)
        parts.append(np.expand_dims(quantize(ch, s, z, -127, 127, np.int8), axis))
    return np.concatenate(parts, axis), np.array(scales, np.float32), np.array(zps, np.int8)


def widen_for_int32_bias(input_scale, weight_scale, bias):
    """ONNX Runtime's _adjust_weight_scale_for_int32_bias: a weight scale so small that the bias
    would overflow int32 at input_scale * weight_scale is widened. Returns (scale, widened?)."""
    qrange = np.float64(np.iinfo(np.int32).max) - np.float64(np.iinfo(np.int32).min + 1)
    eps = 1.0001
    ws = np.array(weight_scale, np.float32, copy=True)
    widened = False
    if ws.ndim == 0:
        absmax = max(abs(min(float(bias.min()), 0.0)), abs(max(float(bias.max()), 0.0)))
        smallest = eps * 2.0 * absmax / qrange
        cand = np.float64(input_scale) * np.float64(ws)
        if 0.0 < cand < smallest:
            ws = np.float32(np.float64(ws) * (smallest / cand))
            widened = True
    else:
        for i in range(ws.shape[0]):
            absmax = abs(float(bias[i]))
            smallest = eps * 2.0 * absmax / qrange
            cand = np.float64(input_scale) * np.float64(ws[i])
            if 0.0 < cand < smallest:
                ws[i] = np.float32(np.float64(ws[i]) * (smallest / cand))
                widened = True
    return ws, widened


def quantize_weight_with_scale(w, scale, axis):
    if axis is None:
        return quantize(w, scale, 0, -127, 127, np.int8)
    shape = [1] * w.ndim
    shape[axis] = -1
    return quantize(w, np.asarray(scale, np.float32).reshape(shape), 0, -127, 127, np.int8)


def quantize_bias(bias, input_scale, weight_scale):
    """int32 bias and its scale input_scale * weight_scale (float32)."""
    bias_scale = np.float32(input_scale) * np.asarray(weight_scale, np.float32)
    q = (np.asarray(bias, np.float32) / bias_scale).round()
    q = np.clip(q, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32)
    return q, np.asarray(bias_scale, np.float32)


# Graph helpers.

def arr(t):
    return t.detach().cpu().numpy().astype(np.float32)


def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def scalar(name, value, dtype):
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def float_value(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def make_model(graph, opsets, doc, preprocess=None, producer=("onnx.quantize", "0.1.0")):
    m = helper.make_model(graph, producer_name=producer[0], producer_version=producer[1],
                          opset_imports=[helper.make_operatorsetid(d, v) for d, v in opsets])
    m.ir_version = 7
    m.doc_string = doc
    if preprocess is not None:
        e = m.metadata_props.add()
        e.key, e.value = "preprocess", json.dumps(preprocess, separators=(",", ":"))
    return m


def checker(model):
    try:
        onnx.checker.check_model(model, full_check=True)
        return "ok"
    except Exception as e:  # noqa: BLE001 - recorded, and the script stops on it
        return (f"{type(e).__name__}: " + " ".join(str(e).split()))[:300]


def with_all_outputs(model):
    """A copy whose graph outputs are every node output too (float32), for calibration."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o not in have:
                m.graph.output.append(helper.make_tensor_value_info(o, TensorProto.FLOAT, None))
                have.add(o)
    return m


# The seed's LeNet: the float graph, then its QDQ forms.

SEED_IN, SEED_OUT = "input", "logits"


def seed_float(sd):
    """torch.onnx.export's graph of LeNet at opset 13 (names and attributes), without the
    Unsqueeze/Squeeze pair of Dropout1d in eval mode."""
    nodes, inits = [], []
    x = SEED_IN
    conv_i = [0, 4, 8]
    pools = [2, 4, 2]
    for k, (ci, pool) in enumerate(zip(conv_i, pools)):
        c, r, b, p = ci, ci + 1, ci + 2, ci + 3
        w, bias = f"conv_layers.{c}.weight", f"conv_layers.{c}.bias"
        inits += [init(w, sd[w].numpy()), init(bias, sd[bias].numpy())]
        conv_out = f"/conv_layers/conv_layers.{c}/Conv_output_0"
        nodes.append(N("Conv", [x, w, bias], [conv_out], name=f"/conv_layers/conv_layers.{c}/Conv",
                       dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
        relu_out = f"/conv_layers/conv_layers.{r}/Relu_output_0"
        nodes.append(N("Relu", [conv_out], [relu_out], name=f"/conv_layers/conv_layers.{r}/Relu"))
        bn = [f"conv_layers.{b}.{s}" for s in ("weight", "bias", "running_mean", "running_var")]
        inits += [init(n_, sd[n_].numpy()) for n_ in bn]
        bn_out = f"/conv_layers/conv_layers.{b}/BatchNormalization_output_0"
        nodes.append(N("BatchNormalization", [relu_out] + bn, [bn_out],
                       name=f"/conv_layers/conv_layers.{b}/BatchNormalization", epsilon=1e-5, momentum=0.9))
        pool_out = f"/conv_layers/conv_layers.{p}/MaxPool_output_0"
        nodes.append(N("MaxPool", [bn_out], [pool_out], name=f"/conv_layers/conv_layers.{p}/MaxPool",
                       ceil_mode=0, kernel_shape=[pool, pool], pads=[0, 0, 0, 0], strides=[pool, pool]))
        x = pool_out
    flat = "/fc_layer/fc_layer.0/Flatten_output_0"
    nodes.append(N("Flatten", [x], [flat], name="/fc_layer/fc_layer.0/Flatten", axis=1))
    for i, (src, out) in enumerate(((flat, "/fc_layer/fc_layer.1/Gemm_output_0"),
                                     ("/fc_layer/fc_layer.1/Gemm_output_0", SEED_OUT))):
        li = 1 if i == 0 else 3
        w, b = f"fc_layer.{li}.weight", f"fc_layer.{li}.bias"
        inits += [init(w, sd[w].numpy()), init(b, sd[b].numpy())]
        nodes.append(N("Gemm", [src, w, b], [out], name=f"/fc_layer/fc_layer.{li}/Gemm", alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(nodes, "torch_jit", [float_value(SEED_IN, ["batch", 1, 32, 32])],
                              [float_value(SEED_OUT, ["batch", 10])], initializer=inits)
    return make_model(graph, [("", 13)], "The seed's LeNet, float (reference/quant_fixtures.py).",
                      SEED_PREPROCESS, producer=("pytorch", "1.13.0"))


def qdq_quantize(fmodel, ranges, per_channel):
    """fmodel in QDQ form as quantize_static writes it for the operators the seed has.
    ranges: tensor name -> (min, max) from calibration. Returns (model, params for figures.json)."""
    g = fmodel.graph
    floats = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    graph_inputs = {i.name for i in g.input}
    graph_outputs = {o.name for o in g.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    ranges = dict(ranges)
    # Relu and Clip: the input takes the output's range when the Relu is its only consumer.
    for n in g.node:
        if n.op_type == "Relu" and len(consumers.get(n.input[0], [])) == 1:
            ranges[n.input[0]] = ranges[n.output[0]]

    nodes = [onnx.NodeProto() for _ in g.node]
    for dst, src in zip(nodes, g.node):
        dst.CopyFrom(src)
    to_quantize = {}   # activation tensor -> name whose scale/zp it uses (itself, or a MaxPool's input)
    weights = {}       # weight initializer -> axis (None: per tensor)
    biases = {}        # bias initializer -> (input tensor, weight initializer)
    removed = set()

    def quantize_act(t):
        if t not in to_quantize:
            to_quantize[t] = t

    def rename_output(old, new):
        for n in nodes:
            for k, o in enumerate(n.output):
                if o == old:
                    n.output[k] = new

    for n in nodes:
        if n.op_type == "Conv":
            quantize_act(n.input[0])
            quantize_act(n.output[0])
            weights[n.input[1]] = 0 if per_channel else None
            if len(n.input) > 2:
                biases[n.input[2]] = (n.input[0], n.input[1])
        elif n.op_type == "Gemm":
            quantize_act(n.input[0])
            trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
            weights[n.input[1]] = (0 if trans_b else 1) if per_channel else None
            if len(n.input) > 2:
                biases[n.input[2]] = (n.input[0], n.input[1])
            quantize_act(n.output[0])
        elif n.op_type == "Relu":
            up = n.input[0]
            if up not in to_quantize:
                continue
            if len(consumers.get(up, [])) == 1 and up not in graph_outputs and up not in graph_inputs:
                rename_output(up, n.output[0])
                del to_quantize[up]
                removed.add(n.name)
            else:
                quantize_act(up)
            quantize_act(n.output[0])
        elif n.op_type == "BatchNormalization":
            quantize_act(n.input[0])
            # The scale is per tensor: its axis would be 1 and it has rank 1.
            weights[n.input[1]] = None
            biases[n.input[2]] = (n.input[0], n.input[1])
            quantize_act(n.output[0])
        elif n.op_type == "MaxPool":
            if n.input[0] in to_quantize:
                to_quantize[n.output[0]] = to_quantize[n.input[0]]
        elif n.op_type == "Flatten":
            pass
        else:
            raise SystemExit(f"qdq_quantize: no rule for {n.op_type}")
    nodes = [n for n in nodes if n.name not in removed]

    # Parameters.
    act = {t: act_params(ranges[t]) for t in set(to_quantize.values())}
    params = {"activations": {t: {"range": [float(ranges[t][0]), float(ranges[t][1])], "scale": float(s),
                                  "zero_point": int(z)} for t, (s, z) in sorted(act.items())},
              "shared": {t: p for t, p in sorted(to_quantize.items()) if t != p},
              "weights": {}, "biases": {}, "widened_for_int32_bias": []}
    wq = {}
    for w, axis in weights.items():
        q, s, z = quantize_weight(floats[w], axis)
        wq[w] = [q, s, z, axis]
    for b, (x, w) in biases.items():
        in_scale = act[to_quantize[x]][0]
        s, widened = widen_for_int32_bias(in_scale, wq[w][1], floats[b])
        if widened:
            wq[w][1] = s
            wq[w][0] = quantize_weight_with_scale(floats[w], s, wq[w][3])
            params["widened_for_int32_bias"].append(w)

    inits = [t for t in g.initializer if t.name not in weights and t.name not in biases]
    # Activations' scale and zero point initializers.
    for t, (s, z) in sorted(act.items()):
        inits += [scalar(t + "_scale", s, np.float32), scalar(t + "_zero_point", z, np.uint8)]
    for w, (q, s, z, axis) in wq.items():
        inits += [init(w + "_quantized", q)]
        if axis is None:
            inits += [scalar(w + "_scale", s, np.float32), scalar(w + "_zero_point", z, np.int8)]
        else:
            inits += [init(w + "_scale", np.asarray(s, np.float32)), init(w + "_zero_point", np.asarray(z, np.int8))]
        params["weights"][w] = {"axis": axis, "shape": list(q.shape),
                                "scale": np.asarray(s, np.float64).reshape(-1).tolist() if axis is not None else float(s)}
    bq = {}
    for b, (x, w) in biases.items():
        q, bs = quantize_bias(floats[b], act[to_quantize[x]][0], wq[w][1])
        axis = 0 if wq[w][3] is not None else None
        bq[b] = axis
        inits += [init(b + "_quantized", q), init(b + "_quantized_scale", bs.reshape(-1))]
        if per_channel:
            inits.append(init(b + "_quantized_zero_point", np.zeros(bs.reshape(-1).shape, np.int32)))
        else:
            inits.append(scalar(b + "_quantized_zero_point", 0, np.int32))
        params["biases"][b] = {"axis": axis, "scale_of": [to_quantize[x], w], "shape": list(q.shape)}

    def q_in(t):
        return t + "_QuantizeLinear_Input" if t in graph_outputs else t

    def dq_out(t):
        return t if t in graph_outputs else t + "_DequantizeLinear_Output"

    out_nodes = []

    def emit_qdq(t):
        p = to_quantize[t]
        out_nodes.append(N("QuantizeLinear", [q_in(t), p + "_scale", p + "_zero_point"], [t + "_QuantizeLinear_Output"],
                           name=t + "_QuantizeLinear"))
        out_nodes.append(N("DequantizeLinear", [t + "_QuantizeLinear_Output", p + "_scale", p + "_zero_point"],
                           [dq_out(t)], name=t + "_DequantizeLinear"))

    for t in [i.name for i in g.input]:
        if t in to_quantize:
            emit_qdq(t)
    for n in nodes:
        for k, i in enumerate(n.input):
            if i in weights:
                axis = wq[i][3]
                kw = {} if axis is None else {"axis": axis}
                out_nodes.append(N("DequantizeLinear", [i + "_quantized", i + "_scale", i + "_zero_point"],
                                   [i + "_DequantizeLinear_Output"], name=i + "_DequantizeLinear", **kw))
                n.input[k] = i + "_DequantizeLinear_Output"
            elif i in biases:
                kw = {} if bq[i] is None else {"axis": bq[i]}
                out_nodes.append(N("DequantizeLinear", [i + "_quantized", i + "_quantized_scale",
                                                        i + "_quantized_zero_point"], [i], name=i + "_DequantizeLinear", **kw))
            elif i in to_quantize:
                n.input[k] = dq_out(i)
        for k, o in enumerate(n.output):
            if o in to_quantize:
                n.output[k] = q_in(o)
        out_nodes.append(n)
        for o in n.output:
            o = o[:-len("_QuantizeLinear_Input")] if o.endswith("_QuantizeLinear_Input") else o
            if o in to_quantize:
                emit_qdq(o)
    graph = helper.make_graph(out_nodes, g.name, list(g.input), list(g.output), initializer=inits)
    kind = "per channel" if per_channel else "per tensor"
    doc = (f"The seed's LeNet (testdata/lenet_trained.pth) in QDQ form as onnxruntime.quantization.quantize_static "
           f"writes it: uint8 asymmetric activations (MinMax over MNIST training images 0..255), int8 symmetric "
           f"weights {kind}, int32 biases. Written by reference/quant_fixtures.py.")
    return make_model(graph, [("", 13)], doc, SEED_PREPROCESS), params


# The zoo's mnist-12 network: float graph and its QOperator form.

M_IN, M_OUT = "Input3", "Plus214_Output_0"


def mnist12_float(net):
    conv1, conv2, dense = net[0], net[3], net[7]
    inits = [
        init("Parameter5", arr(conv1.weight)), init("Parameter6", arr(conv1.bias)),
        init("Parameter87", arr(conv2.weight)), init("Parameter88", arr(conv2.bias)),
        init("Pooling160_Output_0_reshape0_shape", np.array([-1, 256], np.int64)),
        init("Parameter193_reshape1", np.ascontiguousarray(arr(dense.weight).T)),
        init("Parameter194", arr(dense.bias).reshape(1, 10)),
    ]
    conv = dict(kernel_shape=[5, 5], strides=[1, 1], auto_pad="SAME_UPPER", group=1, dilations=[1, 1])
    pool = dict(pads=[0, 0, 0, 0], auto_pad="NOTSET")
    nodes = [
        N("Conv", [M_IN, "Parameter5", "Parameter6"], ["Plus30_Output_0"], name="Convolution28", **conv),
        N("Relu", ["Plus30_Output_0"], ["ReLU32_Output_0"], name="ReLU32"),
        N("MaxPool", ["ReLU32_Output_0"], ["Pooling66_Output_0"], name="Pooling66", kernel_shape=[2, 2], strides=[2, 2], **pool),
        N("Conv", ["Pooling66_Output_0", "Parameter87", "Parameter88"], ["Plus112_Output_0"], name="Convolution110", **conv),
        N("Relu", ["Plus112_Output_0"], ["ReLU114_Output_0"], name="ReLU114"),
        N("MaxPool", ["ReLU114_Output_0"], ["Pooling160_Output_0"], name="Pooling160", kernel_shape=[3, 3], strides=[3, 3], **pool),
        N("Reshape", ["Pooling160_Output_0", "Pooling160_Output_0_reshape0_shape"], ["Pooling160_Output_0_reshape0"],
          name="Times212_reshape0"),
        N("MatMul", ["Pooling160_Output_0_reshape0", "Parameter193_reshape1"], ["Times212_Output_0"], name="Times212"),
        N("Add", ["Times212_Output_0", "Parameter194"], [M_OUT], name="Plus214"),
    ]
    graph = helper.make_graph(nodes, "CNTKGraph", [float_value(M_IN, ["N", 1, 28, 28])], [float_value(M_OUT, ["N", 10])],
                              initializer=inits)
    doc = ("The ONNX model zoo's mnist-12 network (CNTK's names), trained one epoch from torch.manual_seed(0), in the form "
           "ONNX Runtime's optimizer leaves it (Conv bias fused, weight Reshape folded): the float original of "
           "seed_qoperator.onnx. Written by reference/quant_fixtures.py.")
    return make_model(graph, [("", 12)], doc, MNIST12_PREPROCESS, producer=("CNTK", "2.5.1"))


def mnist12_qoperator(fmodel, ranges):
    """QOperator form of mnist12_float, laid out as the zoo's mnist-12-int8."""
    f = {t.name: numpy_helper.to_array(t) for t in fmodel.graph.initializer}
    r = dict(ranges)
    r["Plus30_Output_0"] = r["ReLU32_Output_0"]     # the Relu folds into the QLinearConv's output range
    r["Plus112_Output_0"] = r["ReLU114_Output_0"]
    a = {t: act_params(r[t]) for t in (M_IN, "Plus30_Output_0", "Plus112_Output_0", "Times212_Output_0", M_OUT)}
    inits, params = [], {"activations": {}, "weights": {}, "widened_for_int32_bias": []}
    for t, (s, z) in a.items():
        inits += [scalar(t + "_scale", s, np.float32), scalar(t + "_zero_point", z, np.uint8)]
        params["activations"][t] = {"range": [float(r[t][0]), float(r[t][1])], "scale": float(s), "zero_point": int(z)}

    def conv_weights(w, b, x):
        q, s, z = quantize_weight(f[w], 0)
        s2, widened = widen_for_int32_bias(a[x][0], s, f[b])
        if widened:
            s = s2
            q = quantize_weight_with_scale(f[w], s, 0)
            params["widened_for_int32_bias"].append(w)
        qb, _ = quantize_bias(f[b], a[x][0], s)
        inits.extend([init(w + "_quantized", q), init(w + "_scale", s), init(w + "_zero_point", z),
                      init(b + "_quantized", qb)])
        params["weights"][w] = {"axis": 0, "shape": list(q.shape), "scale": s.astype(np.float64).tolist()}

    conv_weights("Parameter5", "Parameter6", M_IN)
    conv_weights("Parameter87", "Parameter88", "Plus30_Output_0")
    # MatMul's weight per column (axis -1, the last).
    qm, sm, zm = quantize_weight(f["Parameter193_reshape1"], 1)
    inits += [init("Parameter193_reshape1_quantized", qm), init("Parameter193_reshape1_scale", sm),
              init("Parameter193_reshape1_zero_point", zm)]
    params["weights"]["Parameter193_reshape1"] = {"axis": 1, "shape": list(qm.shape), "scale": sm.astype(np.float64).tolist()}
    # The Add's constant input is quantized as an activation: uint8, asymmetric, its own range.
    bias = f["Parameter194"]
    zb, sb = compute_scale_zp(bias.min(), bias.max(), 0, 255, symmetric=False)
    qb = quantize(bias, sb, zb, 0, 255, np.uint8)
    inits += [init("Parameter194_quantized", qb), scalar("Parameter194_scale", sb, np.float32),
              scalar("Parameter194_zero_point", zb, np.uint8)]
    params["weights"]["Parameter194"] = {"axis": None, "shape": list(qb.shape), "scale": float(sb), "zero_point": int(zb),
                                         "type": "uint8"}
    inits.append(init("Pooling160_Output_0_reshape0_shape", np.array([-1, 256], np.int64)))

    def sz(t):
        return [t + "_scale", t + "_zero_point"]

    conv = dict(kernel_shape=[5, 5], strides=[1, 1], auto_pad="SAME_UPPER", group=1, dilations=[1, 1])
    pool = dict(pads=[0, 0, 0, 0], auto_pad="NOTSET")
    nodes = [
        N("QuantizeLinear", [M_IN] + sz(M_IN), [M_IN + "_quantized"], name=M_IN + "_QuantizeLinear"),
        N("QLinearConv", [M_IN + "_quantized"] + sz(M_IN) + ["Parameter5_quantized"] + sz("Parameter5")
          + sz("Plus30_Output_0") + ["Parameter6_quantized"], ["Plus30_Output_0_quantized"], name="Convolution28_quant", **conv),
        N("MaxPool", ["Plus30_Output_0_quantized"], ["Pooling66_Output_0_quantized"], name="Pooling66",
          kernel_shape=[2, 2], strides=[2, 2], **pool),
        N("QLinearConv", ["Pooling66_Output_0_quantized"] + sz("Plus30_Output_0") + ["Parameter87_quantized"]
          + sz("Parameter87") + sz("Plus112_Output_0") + ["Parameter88_quantized"], ["Plus112_Output_0_quantized"],
          name="Convolution110_quant", **conv),
        N("MaxPool", ["Plus112_Output_0_quantized"], ["Pooling160_Output_0_quantized"], name="Pooling160",
          kernel_shape=[3, 3], strides=[3, 3], **pool),
        N("Reshape", ["Pooling160_Output_0_quantized", "Pooling160_Output_0_reshape0_shape"],
          ["Pooling160_Output_0_reshape0_quantized"], name="Times212_reshape0"),
        N("QLinearMatMul", ["Pooling160_Output_0_reshape0_quantized"] + sz("Plus112_Output_0")
          + ["Parameter193_reshape1_quantized"] + sz("Parameter193_reshape1") + sz("Times212_Output_0"),
          ["Times212_Output_0_quantized"], name="Times212_quant"),
        N("QLinearAdd", ["Times212_Output_0_quantized"] + sz("Times212_Output_0") + ["Parameter194_quantized"]
          + sz("Parameter194") + sz(M_OUT), [M_OUT + "_quantized"], name="Plus214_quant", domain="com.microsoft"),
        N("DequantizeLinear", [M_OUT + "_quantized"] + sz(M_OUT), [M_OUT], name=M_OUT + "_DequantizeLinear"),
    ]
    graph = helper.make_graph(nodes, "CNTKGraph", [float_value(M_IN, ["N", 1, 28, 28])], [float_value(M_OUT, ["N", 10])],
                              initializer=inits)
    doc = ("The ONNX model zoo's mnist-12-int8 layout (QOperator form: QuantizeLinear, QLinearConv with the Relu folded "
           "into its output range, MaxPool and Reshape on uint8, QLinearMatMul, com.microsoft QLinearAdd, "
           "DequantizeLinear) with weights trained one epoch from torch.manual_seed(0) (mnist12_float.onnx): uint8 "
           "asymmetric activations (MinMax over MNIST training images 0..255), int8 symmetric weights per channel. "
           "Written by reference/quant_fixtures.py.")
    return make_model(graph, [("", 12), ("com.microsoft", 1)], doc, MNIST12_PREPROCESS), params


# Operator graphs.

def ops_models():
    """name -> (model, [input dicts, one per test data set], note)."""
    rng = np.random.default_rng(0)
    out = {}

    # DynamicQuantizeLinear.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5])
    g = helper.make_graph([N("DynamicQuantizeLinear", ["x"], ["y", "y_scale", "y_zero_point"], name="dql")],
                          "ops_dynamicquantizelinear", [x],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [3, 4, 5]),
                           helper.make_tensor_value_info("y_scale", TensorProto.FLOAT, []),
                           helper.make_tensor_value_info("y_zero_point", TensorProto.UINT8, [])])
    ties = np.zeros(60, np.float32)
    vals = [-2.5, 252.5, 0.5, 1.5, 2.5, -0.5, -1.5, 100.5, 3.5, 125.5, 7.25, -2.25, 0.0, 1.0, 251.5]
    ties[:len(vals)] = vals
    sets = [
        (rng.normal(0, 2, (3, 4, 5)).astype(np.float32), "normal(0, 2): mixed signs"),
        (rng.uniform(0.5, 3, (3, 4, 5)).astype(np.float32), "all positive: the range widens to 0, zero point 0"),
        (-rng.uniform(0.5, 3, (3, 4, 5)).astype(np.float32), "all negative: zero point 255"),
        (ties.reshape(3, 4, 5), "range [-2.5, 252.5]: scale exactly 1, the zero point 2.5 and most values exact halves "
                                "(round half to even)"),
        (np.zeros((3, 4, 5), np.float32), "all zero: ONNX Runtime answers scale 1, zero point 0"),
    ]
    out["ops_dynamicquantizelinear"] = (make_model(g, [("", 13)], "DynamicQuantizeLinear (reference/quant_fixtures.py)."),
                                        [{"x": s} for s, _ in sets], [n for _, n in sets])

    # MatMulInteger: uint8 x int8 with a per-column int8 zero point, uint8 x uint8, int8 x int8.
    a = helper.make_tensor_value_info("A", TensorProto.UINT8, [2, 3, 8])
    a8 = helper.make_tensor_value_info("A_int8", TensorProto.INT8, [3, 8])
    inits = [
        init("B_int8", rng.integers(-128, 128, (8, 5)).astype(np.int8)),
        scalar("a_zero_point", 131, np.uint8),
        init("b_zero_point", np.array([0, 3, -7, 12, -128], np.int8)),
        init("B_uint8", rng.integers(0, 256, (8, 5)).astype(np.uint8)),
        scalar("b_uint8_zero_point", 119, np.uint8),
        init("B_s8", rng.integers(-128, 128, (8, 4)).astype(np.int8)),
        scalar("a_int8_zero_point", -5, np.int8),
        scalar("b_s8_zero_point", 2, np.int8),
    ]
    g = helper.make_graph([
        N("MatMulInteger", ["A", "B_int8", "a_zero_point", "b_zero_point"], ["Y_u8s8"], name="u8s8"),
        N("MatMulInteger", ["A", "B_uint8", "a_zero_point", "b_uint8_zero_point"], ["Y_u8u8"], name="u8u8"),
        N("MatMulInteger", ["A_int8", "B_s8", "a_int8_zero_point", "b_s8_zero_point"], ["Y_s8s8"], name="s8s8"),
        N("MatMulInteger", ["A", "B_int8"], ["Y_nozp"], name="u8s8_no_zero_points"),
    ], "ops_matmulinteger", [a, a8], [
        helper.make_tensor_value_info("Y_u8s8", TensorProto.INT32, [2, 3, 5]),
        helper.make_tensor_value_info("Y_u8u8", TensorProto.INT32, [2, 3, 5]),
        helper.make_tensor_value_info("Y_s8s8", TensorProto.INT32, [3, 4]),
        helper.make_tensor_value_info("Y_nozp", TensorProto.INT32, [2, 3, 5]),
    ], initializer=inits)
    sets = [{"A": rng.integers(0, 256, (2, 3, 8)).astype(np.uint8), "A_int8": rng.integers(-128, 128, (3, 8)).astype(np.int8)}
            for _ in range(2)]
    sets.append({"A": np.full((2, 3, 8), 255, np.uint8), "A_int8": np.full((3, 8), -128, np.int8)})
    out["ops_matmulinteger"] = (make_model(g, [("", 13)], "MatMulInteger (reference/quant_fixtures.py)."), sets,
                                ["random", "random", "extremes: 255 and -128"])

    # ConvInteger: uint8 weights with pads, int8 weights with strides 2 and group 2, no zero points.
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, [2, 2, 7, 7])
    inits = [
        init("w_uint8", rng.integers(0, 256, (3, 2, 3, 3)).astype(np.uint8)),
        scalar("x_zero_point", 128, np.uint8),
        scalar("w_uint8_zero_point", 131, np.uint8),
        init("w_int8", rng.integers(-128, 128, (4, 1, 3, 3)).astype(np.int8)),
        scalar("w_int8_zero_point", -3, np.int8),
        init("w_plain", rng.integers(0, 256, (2, 2, 2, 2)).astype(np.uint8)),
    ]
    g = helper.make_graph([
        N("ConvInteger", ["x", "w_uint8", "x_zero_point", "w_uint8_zero_point"], ["y_pads"], name="pads1",
          pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        N("ConvInteger", ["x", "w_int8", "x_zero_point", "w_int8_zero_point"], ["y_group"], name="stride2_group2",
          strides=[2, 2], group=2, dilations=[1, 1]),
        N("ConvInteger", ["x", "w_plain"], ["y_nozp"], name="no_zero_points", dilations=[2, 2], pads=[0, 1, 1, 0]),
    ], "ops_convinteger", [x], [
        helper.make_tensor_value_info("y_pads", TensorProto.INT32, [2, 3, 7, 7]),
        helper.make_tensor_value_info("y_group", TensorProto.INT32, [2, 4, 3, 3]),
        helper.make_tensor_value_info("y_nozp", TensorProto.INT32, [2, 2, 6, 6]),
    ], initializer=inits)
    sets = [{"x": rng.integers(0, 256, (2, 2, 7, 7)).astype(np.uint8)} for _ in range(2)]
    out["ops_convinteger"] = (make_model(g, [("", 13)], "ConvInteger (reference/quant_fixtures.py)."), sets,
                              ["random", "random"])

    # A MatMul as quantize_dynamic writes it: uint8 activations, int8 symmetric weight per tensor.
    w = rng.normal(0, 0.3, (16, 8)).astype(np.float32)
    b = rng.normal(0, 0.1, (8,)).astype(np.float32)
    wq, ws, wz = quantize_weight(w, None)
    inits = [init("W_quantized", wq), scalar("W_scale", ws, np.float32), scalar("W_zero_point", wz, np.int8), init("B", b)]
    g = helper.make_graph([
        N("DynamicQuantizeLinear", ["X"], ["X_quantized", "X_scale", "X_zero_point"], name="X_QuantizeLinear"),
        N("MatMulInteger", ["X_quantized", "W_quantized", "X_zero_point", "W_zero_point"], ["MatMul_output_quantized"],
          name="MatMul_quant"),
        N("Mul", ["X_scale", "W_scale"], ["MatMul_quant_scales_mul:0"], name="MatMul_quant_scales_mul"),
        N("Cast", ["MatMul_output_quantized"], ["MatMul_output_quantized_cast_output"], name="MatMul_output_quantized_cast",
          to=TensorProto.FLOAT),
        N("Mul", ["MatMul_output_quantized_cast_output", "MatMul_quant_scales_mul:0"], ["MatMul_output"],
          name="MatMul_quant_output_scale_mul"),
        N("Add", ["MatMul_output", "B"], ["Y"], name="Add"),
    ], "ops_dynamic_matmul", [float_value("X", ["N", 16])], [float_value("Y", ["N", 8])], initializer=inits)
    sets = [{"X": rng.normal(0, 1, (4, 16)).astype(np.float32)}, {"X": rng.uniform(0, 2, (3, 16)).astype(np.float32)}]
    out["ops_dynamic_matmul"] = (make_model(g, [("", 13)], "A MatMul as onnxruntime.quantization.quantize_dynamic writes "
                                            "it (reference/quant_fixtures.py)."), sets, ["normal(0, 1)", "all positive"])

    # com.microsoft QGemm, as onnxruntime.quantization writes a Gemm in QOperator form: uint8 x int8 with
    # per-column weight scales, an int32 bias and transB; per tensor without a bias; int8 x int8. The
    # weights are 7-bit, [-64, 64], as with reduce_range: ONNX Runtime's uint8 x int8 pairs saturate at
    # int16 on CPUs without VNNI, and these are exact on every CPU.
    a = helper.make_tensor_value_info("A", TensorProto.UINT8, [3, 8])
    a8 = helper.make_tensor_value_info("A_int8", TensorProto.INT8, [3, 8])
    inits = [
        scalar("a_scale", 0.02, np.float32), scalar("a_zero_point", 131, np.uint8),
        init("W", rng.integers(-64, 65, (5, 8)).astype(np.int8)),
        init("w_scale", rng.uniform(0.001, 0.01, 5).astype(np.float32)), init("w_zero_point", np.zeros(5, np.int8)),
        init("C", rng.integers(-3000, 3000, 5).astype(np.int32)),
        scalar("y_scale", 0.05, np.float32), scalar("y_zero_point", 120, np.uint8),
        init("W2", rng.integers(-64, 65, (8, 4)).astype(np.int8)),
        scalar("w2_scale", 0.004, np.float32), scalar("w2_zero_point", 0, np.int8),
        scalar("y2_scale", 0.03, np.float32), scalar("y2_zero_point", 0, np.uint8),
        scalar("a8_scale", 0.03, np.float32), scalar("a8_zero_point", -5, np.int8),
        scalar("y8_scale", 0.04, np.float32), scalar("y8_zero_point", 3, np.int8),
    ]
    g = helper.make_graph([
        N("QGemm", ["A", "a_scale", "a_zero_point", "W", "w_scale", "w_zero_point", "C", "y_scale", "y_zero_point"], ["Y"],
          name="per_column_bias_transB", domain="com.microsoft", transB=1),
        N("QGemm", ["A", "a_scale", "a_zero_point", "W2", "w2_scale", "w2_zero_point", "", "y2_scale", "y2_zero_point"],
          ["Y2"], name="per_tensor_no_bias", domain="com.microsoft"),
        N("QGemm", ["A_int8", "a8_scale", "a8_zero_point", "W", "w_scale", "w_zero_point", "C", "y8_scale",
                    "y8_zero_point"], ["Y8"], name="int8", domain="com.microsoft", transB=1),
    ], "ops_qgemm", [a, a8], [
        helper.make_tensor_value_info("Y", TensorProto.UINT8, [3, 5]),
        helper.make_tensor_value_info("Y2", TensorProto.UINT8, [3, 4]),
        helper.make_tensor_value_info("Y8", TensorProto.INT8, [3, 5]),
    ], initializer=inits)
    sets = [{"A": rng.integers(0, 256, (3, 8)).astype(np.uint8), "A_int8": rng.integers(-128, 128, (3, 8)).astype(np.int8)}
            for _ in range(2)]
    sets.append({"A": np.full((3, 8), 255, np.uint8), "A_int8": np.full((3, 8), -128, np.int8)})
    out["ops_qgemm"] = (make_model(g, [("", 13), ("com.microsoft", 1)], "com.microsoft QGemm as ONNX Runtime's "
                                   "quantization tool writes it (reference/quant_fixtures.py)."), sets,
                        ["random", "random", "extremes: 255 and -128"])
    return out


# Figures.

def ce(logits, y):
    o = logits.astype(np.float64)
    m = o.max(axis=1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(o - m).sum(axis=1)))
    return lse - o[np.arange(len(y)), y]


def figures(logits, y):
    """The seed's protocol (78 batches of 128, drop_last, mean of batch means) and all images."""
    loss = ce(logits, y)
    right = logits.argmax(axis=1) == y
    nb = len(y) // SEED_BATCH
    cut = nb * SEED_BATCH
    return {
        "seed": {"images": cut, "batches": nb, "accuracy": 100.0 * right[:cut].mean(),
                 "loss": float(np.mean([loss[i * SEED_BATCH:(i + 1) * SEED_BATCH].mean() for i in range(nb)]))},
        "full": {"images": len(y), "accuracy": 100.0 * right.mean(), "loss": float(loss.mean())},
    }


def write_pb(path, a, name):
    # np.require keeps a 0-d array 0-d (np.ascontiguousarray would make it [1]).
    t = numpy_helper.from_array(np.require(a, requirements="C"), name)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(t.SerializeToString())
    os.replace(tmp, path)


def save_model(model, path):
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def node_list(model):
    return [n.op_type for n in model.graph.node]


def write_ops(out_dir, result, tmp, ops):
    """Write each operator graph, its test data sets and ONNX Runtime's outputs on them, and its entry in result."""
    jobs, keys = [], []
    for name, (m, sets, notes) in ops.items():
        v = checker(m)
        if v != "ok":
            raise SystemExit(f"{name}: checker: {v}")
        path = os.path.join(out_dir, name + ".onnx")
        save_model(m, path)
        for k, s in enumerate(sets):
            jobs.append({"model": path, "inputs": s})
            keys.append((name, k))
    runs = dict(zip(keys, ort_run(jobs, tmp)))
    for name, (m, sets, notes) in ops.items():
        path = os.path.join(out_dir, name + ".onnx")
        outs = [o.name for o in m.graph.output]
        for k, s in enumerate(sets):
            ds = os.path.join(out_dir, name, f"test_data_set_{k}")
            os.makedirs(ds, exist_ok=True)
            for i, (iname, val) in enumerate(s.items()):
                write_pb(os.path.join(ds, f"input_{i}.pb"), val, iname)
            for i, oname in enumerate(outs):
                write_pb(os.path.join(ds, f"output_{i}.pb"), runs[(name, k)][oname], oname)
        result["models"][name] = {
            "file": name + ".onnx", "bytes": os.path.getsize(path), "sha256": sha256(path),
            "opset": {o.domain or "ai.onnx": o.version for o in m.opset_import}, "ir_version": m.ir_version,
            "inputs": [i.name for i in m.graph.input], "outputs": outs, "nodes": node_list(m),
            "checker": checker(m), "test_data_sets": notes,
        }
        print(f"{name}: {os.path.getsize(path)} bytes, {len(sets)} data sets")


def add_ops(out_dir, names):
    """The operator graphs names alone, their entries merged into out_dir's figures.json."""
    ops = ops_models()
    unknown = [n for n in names if n not in ops]
    if unknown:
        raise SystemExit(f"--ops {','.join(unknown)}: want some of {', '.join(ops)}")
    path = os.path.join(out_dir, "figures.json")
    with open(path) as f:
        result = json.load(f)
    have = {"onnxruntime": ort_version(), "onnx": onnx.__version__, "numpy": np.__version__}
    if any(result.get(k) != v for k, v in have.items()):
        raise SystemExit(f"{path} was made with {', '.join(f'{k} {result.get(k)}' for k in have)}; this is "
                         f"{', '.join(f'{k} {v}' for k, v in have.items())}: run quant_fixtures.py without --ops")
    with tempfile.TemporaryDirectory() as tmp:
        write_ops(out_dir, result, tmp, {n: ops[n] for n in names})
    write_json(path, result)
    print(os.path.relpath(path))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", default=os.path.join(HERE, "..", "testdata", "quant"))
    p.add_argument("--data", help="MNIST .gz folder (default: the GoMNIST module's data/)")
    p.add_argument("--ops", help="only these operator graphs (comma-separated, e.g. ops_qgemm), merged into figures.json")
    a = p.parse_args()
    torch.set_num_threads(2)
    data_dir = a.data or mnist_idx.default_data_dir()
    out_dir = a.out_dir
    os.makedirs(out_dir, exist_ok=True)
    if a.ops:
        add_ops(out_dir, a.ops.split(","))
        return

    xtr, ytr = mnist_idx.load(data_dir, "train")
    xte, yte = mnist_idx.load(data_dir, "test")
    cal32 = xtr[:CAL_IMAGES].numpy()
    cal28 = np.ascontiguousarray(cal32[:, :, 2:30, 2:30])
    te32 = xte.numpy()
    te28 = np.ascontiguousarray(te32[:, :, 2:30, 2:30])
    labels = yte.numpy().astype(np.int64)

    sd = torch.load(os.path.join(HERE, "..", "testdata", "lenet_trained.pth"), map_location="cpu", weights_only=True)
    lenet = LeNet()
    lenet.load_state_dict(sd, strict=True)
    lenet.eval()
    torch.manual_seed(0)
    mnet = train_one_epoch(cntk_cnn(), xtr[:, :, 2:30, 2:30].contiguous(), ytr)
    print("trained the mnist-12 network")

    result = {
        "onnxruntime": ort_version(), "onnx": onnx.__version__, "torch": torch.__version__, "numpy": np.__version__,
        "ort_threads": 2,
        "calibration": {
            "images": f"MNIST training images 0..{CAL_IMAGES - 1} (file order), ToTensor pixels; padded to 32x32 "
                      "for the seed, 28x28 for mnist-12",
            "count": CAL_IMAGES,
            "method": "MinMax: each tensor's [min, max] over the calibration images, ONNX Runtime running the float "
                      "graph with graph optimizations disabled; the range then widened to include 0",
            "activations": "uint8 asymmetric: scale = (rmax - rmin) / 255, zero_point = round(-rmin / scale)",
            "weights": "int8 symmetric [-127, 127]: scale = max|w| / 127, zero_point 0",
            "biases": "int32: scale = input_scale * weight_scale, zero_point 0",
        },
        "check_images": f"MNIST test images 0..{CHECK_IMAGES - 1}",
        "protocols": {
            "seed": "batches of 128 in file order, drop_last: 78 batches, 9,984 images; accuracy = correct / images "
                    "* 100; loss = mean of the batch-mean cross-entropies",
            "full": "all 10,000 test images; loss = mean of the per-image cross-entropies",
            "loss": "cross-entropy of the logits, logsumexp(o) - o[label], in float64",
            "optimization": "all: ONNX Runtime's default graph optimizations (QDQ groups fused into integer "
                            "kernels); disabled: every node run as written",
        },
        "models": {},
    }

    with tempfile.TemporaryDirectory() as tmp:
        def tpath(name):
            return os.path.join(tmp, name)

        # Float graphs: check them against PyTorch, then calibrate.
        seed_f = seed_float(sd)
        m12_f = mnist12_float(mnet)
        for m in (seed_f, m12_f):
            v = checker(m)
            if v != "ok":
                raise SystemExit(f"float graph: checker: {v}")
        save_model(seed_f, tpath("seed_float.onnx"))
        save_model(m12_f, tpath("mnist12_float.onnx"))
        save_model(with_all_outputs(seed_f), tpath("seed_float_all.onnx"))
        save_model(with_all_outputs(m12_f), tpath("mnist12_float_all.onnx"))
        with torch.no_grad():
            want_seed = lenet(xte[:CHECK_IMAGES]).numpy()
            want_m12 = mnet(xte[:CHECK_IMAGES, :, 2:30, 2:30].contiguous()).numpy()
        r = ort_run([
            {"model": tpath("seed_float.onnx"), "inputs": {SEED_IN: te32[:CHECK_IMAGES]}},
            {"model": tpath("mnist12_float.onnx"), "inputs": {M_IN: te28[:CHECK_IMAGES]}},
            {"model": tpath("seed_float_all.onnx"), "inputs": {SEED_IN: cal32}, "optimization": "disabled"},
            {"model": tpath("mnist12_float_all.onnx"), "inputs": {M_IN: cal28}, "optimization": "disabled"},
        ], tmp)
        for name, got, want in (("seed float", r[0][SEED_OUT], want_seed), ("mnist-12 float", r[1][M_OUT], want_m12)):
            diff = float(np.abs(got - want).max())
            if diff > TOLERANCE:
                raise SystemExit(f"{name}: ONNX Runtime differs from PyTorch by {diff:g}")
            print(f"{name}: ONNX Runtime within {diff:.2g} of PyTorch on {CHECK_IMAGES} test images")
        seed_ranges = {k: (v.min(), v.max()) for k, v in r[2].items()}
        seed_ranges[SEED_IN] = (cal32.min(), cal32.max())
        m12_ranges = {k: (v.min(), v.max()) for k, v in r[3].items()}
        m12_ranges[M_IN] = (cal28.min(), cal28.max())

        # The quantized graphs.
        q_tensor, par_tensor = qdq_quantize(seed_f, seed_ranges, per_channel=False)
        q_channel, par_channel = qdq_quantize(seed_f, seed_ranges, per_channel=True)
        q_op, par_op = mnist12_qoperator(m12_f, m12_ranges)
        images = {
            "seed_qdq_tensor": (q_tensor, par_tensor, "seed_float", SEED_IN, SEED_OUT, te32),
            "seed_qdq_channel": (q_channel, par_channel, "seed_float", SEED_IN, SEED_OUT, te32),
            "seed_qoperator": (q_op, par_op, "mnist12_float", M_IN, M_OUT, te28),
        }
        floats = {"seed_float": (seed_f, SEED_IN, SEED_OUT, te32), "mnist12_float": (m12_f, M_IN, M_OUT, te28)}
        for name, (m, *_rest) in images.items():
            v = checker(m)
            if v != "ok":
                raise SystemExit(f"{name}: checker: {v}")
            save_model(m, os.path.join(out_dir, name + ".onnx"))
        save_model(m12_f, os.path.join(out_dir, "mnist12_float.onnx"))

        # ONNX Runtime on the whole test set, both optimization levels, batches of 128.
        jobs, keys = [], []
        for name, (m, inp, outp, x) in floats.items():
            path = os.path.join(out_dir, name + ".onnx") if name == "mnist12_float" else tpath(name + ".onnx")
            jobs.append({"model": path, "inputs": {inp: x}, "batch": SEED_BATCH})
            keys.append((name, "all"))
        for name, (m, _, _, inp, outp, x) in images.items():
            for level in ("all", "disabled"):
                jobs.append({"model": os.path.join(out_dir, name + ".onnx"), "inputs": {inp: x}, "batch": SEED_BATCH,
                             "optimization": level})
                keys.append((name, level))
        runs = dict(zip(keys, ort_run(jobs, tmp)))
        print("ran ONNX Runtime on the test set")

        for name, (m, inp, outp, x) in floats.items():
            logits = runs[(name, "all")][outp]
            entry = {"file": name + ".onnx" if name == "mnist12_float" else None,
                     "source": "testdata/lenet_trained.pth" if name == "seed_float" else
                     "one epoch of reference/onnx_producers.py's recipe from torch.manual_seed(0)",
                     "input": {"name": inp, "shape": list(x.shape[1:])}, "output": outp,
                     "preprocess": SEED_PREPROCESS if name == "seed_float" else MNIST12_PREPROCESS,
                     "nodes": node_list(m), "checker": checker(m),
                     "ort": {"all": figures(logits, labels)}}
            if name == "mnist12_float":
                path = os.path.join(out_dir, name + ".onnx")
                entry["bytes"] = os.path.getsize(path)
                entry["sha256"] = sha256(path)
                producers = os.path.join(HERE, "..", "testdata", "onnx", "producers", "cntk_mnist8.onnx")
                if os.path.exists(producers):
                    pm = {t.name: numpy_helper.to_array(t) for t in onnx.load(producers).graph.initializer}
                    same = (np.array_equal(pm["Parameter5"], numpy_helper.to_array(m.graph.initializer[0]))
                            and np.array_equal(pm["Parameter193"].reshape(256, 10),
                                               numpy_helper.to_array(m.graph.initializer[5])))
                    entry["same_weights_as"] = {"testdata/onnx/producers/cntk_mnist8.onnx": bool(same)}
            result["models"][name] = entry

        for name, (m, par, fname, inp, outp, x) in images.items():
            path = os.path.join(out_dir, name + ".onnx")
            logits = runs[(name, "all")][outp]
            noopt = runs[(name, "disabled")][outp]
            flog = runs[(fname, "all")][floats[fname][2]]
            d = os.path.join(out_dir, name)
            ds = os.path.join(d, "test_data_set_0")
            os.makedirs(ds, exist_ok=True)
            write_pb(os.path.join(ds, "input_0.pb"), x[:CHECK_IMAGES], inp)
            write_pb(os.path.join(ds, "output_0.pb"), logits[:CHECK_IMAGES], outp)
            write_pb(os.path.join(d, "noopt_output_0.pb"), noopt[:CHECK_IMAGES], outp)
            write_pb(os.path.join(d, "float_output_0.pb"), flog[:CHECK_IMAGES], outp)
            write_pb(os.path.join(d, "labels.pb"), labels[:CHECK_IMAGES], "labels")
            opsets = {o.domain or "ai.onnx": o.version for o in m.opset_import}
            result["models"][name] = {
                "file": name + ".onnx", "bytes": os.path.getsize(path), "sha256": sha256(path),
                "form": "QOperator" if name == "seed_qoperator" else "QDQ",
                "weights": "per channel" if name != "seed_qdq_tensor" else "per tensor",
                "float_model": fname, "opset": opsets, "ir_version": m.ir_version,
                "input": {"name": inp, "shape": list(x.shape[1:])}, "output": outp,
                "preprocess": SEED_PREPROCESS if fname == "seed_float" else MNIST12_PREPROCESS,
                "nodes": node_list(m), "checker": checker(m),
                "ort": {"all": figures(logits, labels), "disabled": figures(noopt, labels)},
                "check_images": {
                    "max_abs_all_vs_disabled": float(np.abs(logits[:CHECK_IMAGES] - noopt[:CHECK_IMAGES]).max()),
                    "max_abs_vs_float": float(np.abs(logits[:CHECK_IMAGES] - flog[:CHECK_IMAGES]).max()),
                },
                "test_set": {
                    "argmax_differs_all_vs_disabled": int((logits.argmax(1) != noopt.argmax(1)).sum()),
                    "argmax_differs_vs_float": int((logits.argmax(1) != flog.argmax(1)).sum()),
                    "max_abs_all_vs_disabled": float(np.abs(logits - noopt).max()),
                },
                "quantization": par,
            }
            f = result["models"][name]["ort"]
            print(f"{name}: {result['models'][name]['bytes']} bytes; ORT {f['all']['full']['accuracy']:.2f} % "
                  f"loss {f['all']['full']['loss']:.6f} (disabled: {f['disabled']['full']['accuracy']:.2f} % "
                  f"{f['disabled']['full']['loss']:.6f}); float {result['models'][fname]['ort']['all']['full']['accuracy']:.2f} %")

        write_ops(out_dir, result, tmp, ops_models())

    write_json(os.path.join(out_dir, "figures.json"), result)
    print(os.path.relpath(os.path.join(out_dir, "figures.json")))


if __name__ == "__main__":
    main()
