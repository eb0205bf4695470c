"""ONNX files of opsets older than 7, as the first exporters wrote them, and ONNX Runtime's figures.

    onnx_legacy.py [--out-dir DIR] [--data DIR]

ONNX Runtime no longer reads opsets 1 to 6. lenetkit reads such a file
itself, in opset 7's forms (onnx.Upgrade), and is tested against ONNX
Runtime on the same network written at opset 8.

Both files carry the weights of testdata/onnx/producers/cntk_mnist8.onnx
(reference/onnx_producers.py: a small CNN trained on MNIST), so they are
the same network as that file, written the old way:

- cntk_mnist1.onnx: the zoo's mnist-1 (CNTK, opset 1, IR 3) node for node:
  Reshape with a shape attribute (opset 1 to 4); Conv 5x5 SAME_UPPER; Add
  of the bias with broadcast 1 and axis 1, the bias stored [C] as Caffe2's
  exporter wrote it (mnist-1 stores [C, 1, 1]); Relu; MaxPool; the same
  again; Reshape to [-1, 256]; MatMul; Add of a [10] bias with broadcast 1
  and no axis (the end of the shape).
- caffe2_opset6.onnx: opset 6, IR 3, as Caffe2 and PyTorch 0.3 wrote it:
  each bias as a BatchNormalization with is_test 1 (scale 1, mean 0,
  variance 1 - epsilon, the bias as its B), Relu,
  MaxPool, Dropout with is_test 1, Flatten, and Gemm with broadcast 1.

ONNX Runtime runs cntk_mnist8.onnx, the same network at opset 8, on the
10,000 test images: legacy.json has, per file, what producers/expected.json
has per model (accuracy and mean cross-entropy of the logits, in float64),
those figures being the twin's. It also records how far ONNX Runtime on the
version converter's copy of each file is from the twin on the first 64
images, and requires 1e-4 for caffe2_opset6.onnx. For cntk_mnist1.onnx
there is no such figure: ONNX 1.12's converter unsqueezes a broadcast
operand of rank 1 at axes [1, 2, 3] (its axis attribute ignored, giving
[8, 1, 1, 1] for a [N, 8, 28, 28] map), and ONNX Runtime refuses the
Reshape shapes it writes; the error is recorded. Seconds on 2 cores.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper, version_converter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mnist_idx  # noqa: E402
from onnx_producers import (PREPROCESS, TOLERANCE, CHECK_IMAGES, checker, finish, float_tensor,  # noqa: E402
                            init_inputs, int64_tensor, ort_outputs, value)
from onnx_zoo import figures, ort_version, write_json  # noqa: E402

PRODUCERS = os.path.join(HERE, "..", "testdata", "onnx", "producers")
EPSILON = 1e-5


def weights():
    m = onnx.load(os.path.join(PRODUCERS, "cntk_mnist8.onnx"))
    return {t.name: numpy_helper.to_array(t).astype(np.float32) for t in m.graph.initializer
            if t.data_type == onnx.TensorProto.FLOAT}


def conv_attrs():
    return dict(kernel_shape=[5, 5], strides=[1, 1], auto_pad="SAME_UPPER", group=1, dilations=[1, 1])


def cntk_mnist1(w):
    inits = [
        float_tensor("Parameter5", w["Parameter5"]),
        float_tensor("Parameter6", w["Parameter6"].reshape(8)),
        float_tensor("Parameter87", w["Parameter87"]),
        float_tensor("Parameter88", w["Parameter88"].reshape(16)),
        float_tensor("Parameter193", w["Parameter193"]),
        float_tensor("Parameter194", w["Parameter194"].reshape(10)),
    ]
    N = helper.make_node
    bcast = dict(broadcast=1, axis=1)
    nodes = [
        N("Reshape", ["Parameter193"], ["Parameter193_reshape1"], name="Times212_reshape1", shape=[256, 10]),
        N("Conv", ["Input3", "Parameter5"], ["Convolution28_Output_0"], name="Convolution28", **conv_attrs()),
        N("Add", ["Convolution28_Output_0", "Parameter6"], ["Plus30_Output_0"], name="Plus30", **bcast),
        N("Relu", ["Plus30_Output_0"], ["ReLU32_Output_0"], name="ReLU32"),
        N("MaxPool", ["ReLU32_Output_0"], ["Pooling66_Output_0"], name="Pooling66",
          kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], auto_pad="NOTSET"),
        N("Conv", ["Pooling66_Output_0", "Parameter87"], ["Convolution110_Output_0"], name="Convolution110",
          **conv_attrs()),
        N("Add", ["Convolution110_Output_0", "Parameter88"], ["Plus112_Output_0"], name="Plus112", **bcast),
        N("Relu", ["Plus112_Output_0"], ["ReLU114_Output_0"], name="ReLU114"),
        N("MaxPool", ["ReLU114_Output_0"], ["Pooling160_Output_0"], name="Pooling160",
          kernel_shape=[3, 3], strides=[3, 3], pads=[0, 0, 0, 0], auto_pad="NOTSET"),
        N("Reshape", ["Pooling160_Output_0"], ["Pooling160_Output_0_reshape0"], name="Times212_reshape0",
          shape=[-1, 256]),
        N("MatMul", ["Pooling160_Output_0_reshape0", "Parameter193_reshape1"], ["Times212_Output_0"],
          name="Times212"),
        N("Add", ["Times212_Output_0", "Parameter194"], ["Plus214_Output_0"], name="Plus214", broadcast=1),
    ]
    graph = helper.make_graph(nodes, "CNTKGraph", [value("Input3", ["N", 1, 28, 28])] + init_inputs(inits),
                              [value("Plus214_Output_0", ["N", 10])], initializer=inits)
    m = finish(graph, "CNTK", "2.4", 1, 3)
    m.domain = "ai.cntk"
    return m


def caffe2_opset6(w):
    inits = [float_tensor("conv1_w", w["Parameter5"]), float_tensor("conv2_w", w["Parameter87"])]
    for name, c, bias in (("bn1", 8, w["Parameter6"]), ("bn2", 16, w["Parameter88"])):
        inits += [float_tensor(name + "_scale", np.ones(c)), float_tensor(name + "_b", bias.reshape(c)),
                  float_tensor(name + "_mean", np.zeros(c)), float_tensor(name + "_var", np.full(c, 1 - EPSILON))]
    inits += [float_tensor("fc_w", w["Parameter193"].reshape(256, 10)),
              float_tensor("fc_b", w["Parameter194"].reshape(10))]
    N = helper.make_node
    nodes = []
    x = "input"
    for i, (conv, pool) in enumerate((("conv1_w", 2), ("conv2_w", 3)), start=1):
        bn = f"bn{i}"
        nodes += [
            N("Conv", [x, conv], [f"conv{i}"], **conv_attrs()),
            N("BatchNormalization", [f"conv{i}", bn + "_scale", bn + "_b", bn + "_mean", bn + "_var"], [bn],
              is_test=1, epsilon=EPSILON),
            N("Relu", [bn], [f"relu{i}"]),
            N("MaxPool", [f"relu{i}"], [f"pool{i}"], kernel_shape=[pool, pool], strides=[pool, pool]),
        ]
        x = f"pool{i}"
    nodes += [
        N("Dropout", [x], ["drop"], is_test=1, ratio=0.5),
        N("Flatten", ["drop"], ["flat"], axis=1),
        N("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], broadcast=1),
    ]
    graph = helper.make_graph(nodes, "torch-jit-export", [value("input", ["N", 1, 28, 28])] + init_inputs(inits),
                              [value("logits", ["N", 10])], initializer=inits)
    return finish(graph, "pytorch", "0.3", 6, 3)


def convert(model):
    """The converter's opset 7 copy. Its broadcast adapters want every operand's shape: it converts a
    copy whose batch is 1, with the shapes of cntk_mnist8.onnx's values of the same names (shape
    inference stops at opset 1's Add), and makes the batch dimension symbolic again (the rewrites
    depend on ranks only)."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    twin = onnx.load(os.path.join(PRODUCERS, "cntk_mnist8.onnx"))
    for m in (fixed, twin):
        for v in list(m.graph.input[:1]) + list(m.graph.output):
            v.type.tensor_type.shape.dim[0].dim_value = 1
    fixed = onnx.shape_inference.infer_shapes(fixed)
    known = {v.name for v in fixed.graph.value_info}
    fixed.graph.value_info.extend(v for v in onnx.shape_inference.infer_shapes(twin).graph.value_info
                                  if v.name not in known)
    out = version_converter.convert_version(fixed, 7)
    del out.graph.value_info[:]
    for v in list(out.graph.input[:1]) + list(out.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    return out


MODELS = {"cntk_mnist1": cntk_mnist1, "caffe2_opset6": caffe2_opset6}


def converted_diff(model, xte, want, tmpdir):
    """How far ONNX Runtime on the converter's copy is from want, or why there is no such figure."""
    path = os.path.join(tmpdir, "converted.onnx")
    try:
        onnx.save(convert(model), path)
        return (ort_outputs(path, xte, "NCHW", tmpdir) - want).abs().max().item()
    except subprocess.CalledProcessError as e:
        return f"ONNX Runtime refused the converter's copy (ort_eval.js exited {e.returncode})"
    except Exception as e:  # noqa: BLE001 - recorded
        return (f"{type(e).__name__}: " + " ".join(str(e).split()))[:300]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", default=PRODUCERS)
    p.add_argument("--data", help="MNIST .gz folder (default: the GoMNIST module's data/)")
    a = p.parse_args()
    xte, yte = mnist_idx.load(a.data or mnist_idx.default_data_dir(), "test")
    xte = xte[:, :, 2:30, 2:30].contiguous()
    w = weights()
    result = {"onnxruntime": ort_version(), "onnx": onnx.__version__, "twin": "cntk_mnist8.onnx", "models": {}}
    with tempfile.TemporaryDirectory() as tmpdir:
        twin = ort_outputs(os.path.join(PRODUCERS, "cntk_mnist8.onnx"), xte, "NCHW", tmpdir)
        acc, loss = figures(twin, yte, "logits")
        for name, build in MODELS.items():
            model = build(w)
            diff = converted_diff(model, xte[:CHECK_IMAGES], twin[:CHECK_IMAGES], tmpdir)
            if name == "caffe2_opset6" and not (isinstance(diff, float) and diff <= TOLERANCE):
                raise SystemExit(f"{name}: ONNX Runtime on the converter's copy: {diff} (tolerance {TOLERANCE:g})")
            out = os.path.join(a.out_dir, name + ".onnx")
            onnx.save(model, out + ".tmp")
            os.replace(out + ".tmp", out)
            result["models"][name] = {
                "file": name + ".onnx",
                "producer": model.producer_name,
                "producer_version": model.producer_version,
                "opset": model.opset_import[0].version,
                "ir_version": model.ir_version,
                "input_name": model.graph.input[0].name,
                "input_layout": "NCHW",
                "input": [1, 28, 28],
                "preprocess": PREPROCESS,
                "output_name": model.graph.output[0].name,
                "output": "logits",
                "accuracy": acc,
                "loss": loss,
                "images": int(xte.shape[0]),
                "converted_max_diff": diff,
                "checker": checker(model),
                "out_of_order": False,
            }
            print(f"{name}: the converter's copy in ONNX Runtime: {diff}")
    print(f"cntk_mnist8.onnx in ONNX Runtime: {acc:.2f}% loss {loss:.6f}")
    write_json(os.path.join(a.out_dir, "legacy.json"), result)


if __name__ == "__main__":
    main()
