"""ONNX files laid out as other converters write them, with trained weights, and ONNX Runtime's figures.

    onnx_producers.py [--out-dir DIR] [--data DIR]

lenetkit's ONNX backend is tested against these: graphs built node by node
with onnx.helper (not torch.onnx.export) to mirror the files keras2onnx,
tf2onnx and CNTK write, each with the weights of a small PyTorch CNN trained
from torch.manual_seed(0) for one epoch over the 60,000 MNIST training
images in file order (Adam lr 1e-3, batches of 128, cross-entropy on the
logits), on plain ToTensor pixels in [0, 1], 28x28, no padding and no
normalisation. Every file classifies 28x28 digits into 10 classes from a
float32 input with a symbolic batch dimension, and carries lenetkit's
"preprocess" metadata entry, {"pad":0,"mean":0,"std":1}, so that lenetkit
feeds it what ONNX Runtime got here.

- keras2onnx_151.onnx: a Keras Sequential CNN as keras2onnx 1.5.1 writes it
  (producer "keras2onnx" 1.5.1, opset 10, IR 5). Input "conv2d_input"
  [N, 28, 28, 1] (NHWC); Transpose [0,3,1,2]; Conv 3x3 (8) auto_pad
  SAME_UPPER, no pads; Relu; MaxPool 2x2/2 VALID; Conv 3x3 (16) SAME_UPPER;
  Relu; MaxPool; Transpose [0,2,3,1] back to NHWC (Keras flattens
  channels-last); Reshape to a constant [-1, 784]; MatMul + Add (Dense 16);
  Relu; MatMul + Add (Dense 10); Softmax axis -1; Identity to "dense_1".
  The nodes are written out of topological order (Identity and Softmax
  first) and every initializer is also a graph input (old IR style):
  onnx.checker refuses the file for its order, and accepts a sorted copy.
- keras2onnx_160.onnx: the same network and weights as keras2onnx 1.6.0
  writes it: opset 11, IR 6, nodes in order, Flatten (axis 1) instead of
  Reshape, initializers not listed as inputs, and a chain of two Identity
  nodes to "dense_1".
- tf2onnx.onnx: a one-conv Keras model as tf2onnx writes it (producer
  "tf2onnx", opset 13, IR 7): input "input_1:0" [unk__6, 28, 28, 1]
  (NHWC); Transpose; Conv 3x3 (8) with explicit pads [1,1,1,1]; Relu;
  MaxPool 2x2/2; Transpose back; Reshape to a constant [-1, 1568]; MatMul +
  Add; Softmax axis -1 writing "Identity:0".
- cntk_mnist8.onnx: the ONNX model zoo's mnist-8 (made by CNTK 2.5.1) node
  for node and name for name: opset 8, IR 3, input "Input3" [N, 1, 28, 28]
  (mnist-8's batch is a fixed 1; symbolic here); Conv 5x5 (8) auto_pad
  SAME_UPPER with no bias input, then a broadcasting Add of a [8,1,1] bias;
  Relu; MaxPool 2x2/2; Conv 5x5 (16) SAME_UPPER + Add [16,1,1] + Relu;
  MaxPool 3x3/3 (14 -> 4); Reshape of the map to a constant [-1, 256]
  (mnist-8 has [1, 256]); MatMul with a weight that is itself a Reshape of
  the initializer Parameter193 [16,4,4,10] to [256, 10]; Add of a [1, 10]
  bias; output "Plus214_Output_0", logits. The initializers are in
  float_data / int64_data, not raw_data, and are graph inputs too (IR 3
  requires it). mnist-8 itself declares no preprocessing; these weights
  were trained on pixels in [0, 1].

Before writing expected.json the script checks that ONNX Runtime's outputs
(reference/ort_eval.js, npm onnxruntime-node) match PyTorch's on the first
64 test images within 1e-4, and runs onnx.checker.check_model(full_check=True)
on every file (on keras2onnx_151 also on a topologically sorted copy),
recording what it says. Then ONNX Runtime runs every file on all 10,000
test images: expected.json has per model the file, producer, opset, IR
version, input name and layout, the input shape of one image, preprocessing
(pad, mean, std), output kind, ORT's accuracy (percent, argmax == label)
and mean cross-entropy in float64 (logits: logsumexp(o) - o[label];
probabilities: -log p[label]; as testdata/onnx/expected.json), PyTorch's
own figures on the same inputs (torch_accuracy, torch_loss), the checker's
verdicts and "out_of_order". A few minutes on 2 cores, most of it the three
training runs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mnist_idx  # noqa: E402
from onnx_zoo import figures, ort_version, write_json  # noqa: E402

TRAIN_BATCH = 128
TRAIN_LR = 1e-3
CHECK_IMAGES = 64
TOLERANCE = 1e-4
PREPROCESS = {"pad": 0, "mean": 0, "std": 1}
META = [("preprocess", json.dumps(PREPROCESS, separators=(",", ":")))]


# The PyTorch networks the weights come from.

def keras_cnn():
    """Conv 3x3 8, ReLU, MaxPool 2, Conv 3x3 16, ReLU, MaxPool 2, Dense 784-16, ReLU, Dense 16-10."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(784, 16), nn.ReLU(),
        nn.Linear(16, 10),
    )


def tf_cnn():
    """Conv 3x3 8, ReLU, MaxPool 2, Dense 1568-10."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1568, 10),
    )


def cntk_cnn():
    """mnist-8's network: Conv 5x5 8, ReLU, MaxPool 2, Conv 5x5 16, ReLU, MaxPool 3, Dense 256-10."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3),
        nn.Flatten(),
        nn.Linear(256, 10),
    )


def train(model, x, y):
    """One epoch of Adam over the training images in file order, from the caller's seed."""
    opt = torch.optim.Adam(model.parameters(), lr=TRAIN_LR)
    model.train()
    for first in range(0, x.shape[0], TRAIN_BATCH):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[first:first + TRAIN_BATCH]), y[first:first + TRAIN_BATCH])
        loss.backward()
        opt.step()
    return model.eval()


def arr(t):
    return t.detach().cpu().numpy().astype(np.float32)


def nhwc_rows(w, c, h, wd):
    """nn.Linear weight [out, C*H*W] (NCHW flatten) -> MatMul weight [H*W*C, out] (NHWC flatten)."""
    out = w.shape[0]
    return np.ascontiguousarray(arr(w).T.reshape(c, h, wd, out).transpose(1, 2, 0, 3).reshape(h * wd * c, out))


def value(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def init_inputs(inits):
    """Graph inputs for initializers (the pre-IR-4 style)."""
    out = []
    for t in inits:
        out.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return out


def finish(graph, producer, version, opset, ir):
    m = helper.make_model(graph, producer_name=producer, producer_version=version,
                          opset_imports=[helper.make_operatorsetid("", opset)])
    m.ir_version = ir
    for k, v in META:
        e = m.metadata_props.add()
        e.key, e.value = k, v
    return m


# The graphs.

def keras2onnx(net, version):
    """keras2onnx 1.5.1 (opset 10, out of order, Reshape) or 1.6.0 (opset 11, Flatten, Identity chain)."""
    conv1, conv2, d1, d2 = net[0], net[3], net[7], net[9]
    old = version == "1.5.1"
    inits = [
        numpy_helper.from_array(arr(conv1.weight), "conv2d/kernel:0"),
        numpy_helper.from_array(arr(conv1.bias), "conv2d/bias:0"),
        numpy_helper.from_array(arr(conv2.weight), "conv2d_1/kernel:0"),
        numpy_helper.from_array(arr(conv2.bias), "conv2d_1/bias:0"),
        numpy_helper.from_array(nhwc_rows(d1.weight, 16, 7, 7), "dense/kernel:0"),
        numpy_helper.from_array(arr(d1.bias), "dense/bias:0"),
        numpy_helper.from_array(np.ascontiguousarray(arr(d2.weight).T), "dense_1/kernel:0"),
        numpy_helper.from_array(arr(d2.bias), "dense_1/bias:0"),
    ]
    conv = dict(auto_pad="SAME_UPPER", kernel_shape=[3, 3], strides=[1, 1], dilations=[1, 1], group=1)
    pool = dict(auto_pad="VALID", kernel_shape=[2, 2], strides=[2, 2])
    N = helper.make_node
    nodes = [
        N("Transpose", ["conv2d_input"], ["adjusted_input"], name="Transpose", perm=[0, 3, 1, 2]),
        N("Conv", ["adjusted_input", "conv2d/kernel:0", "conv2d/bias:0"], ["convolution_output"], name="conv2d", **conv),
        N("Relu", ["convolution_output"], ["conv2d/Relu:0"], name="Relu"),
        N("MaxPool", ["conv2d/Relu:0"], ["max_pooling2d/MaxPool:0"], name="max_pooling2d", **pool),
        N("Conv", ["max_pooling2d/MaxPool:0", "conv2d_1/kernel:0", "conv2d_1/bias:0"], ["convolution_output1"],
          name="conv2d_1", **conv),
        N("Relu", ["convolution_output1"], ["conv2d_1/Relu:0"], name="Relu1"),
        N("MaxPool", ["conv2d_1/Relu:0"], ["max_pooling2d_1/MaxPool_transposed:0"], name="max_pooling2d_1", **pool),
        N("Transpose", ["max_pooling2d_1/MaxPool_transposed:0"], ["max_pooling2d_1/MaxPool:0"],
          name="Transpose1", perm=[0, 2, 3, 1]),
    ]
    if old:
        inits.append(numpy_helper.from_array(np.array([-1, 784], dtype=np.int64), "flatten/Reshape/shape:0"))
        nodes.append(N("Reshape", ["max_pooling2d_1/MaxPool:0", "flatten/Reshape/shape:0"], ["flatten/Reshape:0"],
                       name="flatten"))
    else:
        nodes.append(N("Flatten", ["max_pooling2d_1/MaxPool:0"], ["flatten/Reshape:0"], name="flatten", axis=1))
    nodes += [
        N("MatMul", ["flatten/Reshape:0", "dense/kernel:0"], ["transformed_tensor"], name="dense"),
        N("Add", ["transformed_tensor", "dense/bias:0"], ["biased_tensor_name"], name="Add"),
        N("Relu", ["biased_tensor_name"], ["dense/Relu:0"], name="Relu2"),
        N("MatMul", ["dense/Relu:0", "dense_1/kernel:0"], ["transformed_tensor1"], name="dense_1"),
        N("Add", ["transformed_tensor1", "dense_1/bias:0"], ["biased_tensor_name1"], name="Add1"),
        N("Softmax", ["biased_tensor_name1"], ["dense_1/Softmax:0"], name="Softmax", axis=-1),
    ]
    if old:
        nodes.append(N("Identity", ["dense_1/Softmax:0"], ["dense_1"], name="Identity"))
        # keras2onnx 1.5.1 wrote the nodes in no topological order: the
        # output's Identity and Softmax first, then the rest.
        order = [15, 14, 0, 12, 1, 13, 2, 8, 3, 9, 11, 10, 4, 7, 5, 6]
        assert sorted(order) == list(range(len(nodes)))
        nodes = [nodes[i] for i in order]
    else:
        nodes += [
            N("Identity", ["dense_1/Softmax:0"], ["dense_1/Softmax_identity:0"], name="Identity"),
            N("Identity", ["dense_1/Softmax_identity:0"], ["dense_1"], name="Identity1"),
        ]
    inputs = [value("conv2d_input", ["N", 28, 28, 1])]
    if old:
        inputs += init_inputs(inits)
    graph = helper.make_graph(nodes, "sequential", inputs, [value("dense_1", ["N", 10])], initializer=inits)
    return finish(graph, "keras2onnx", version, 10 if old else 11, 5 if old else 6)


def tf2onnx(net):
    conv, dense = net[0], net[4]
    inits = [
        numpy_helper.from_array(arr(conv.weight), "sequential/conv2d/Conv2D/ReadVariableOp:0"),
        numpy_helper.from_array(arr(conv.bias), "sequential/conv2d/BiasAdd/ReadVariableOp:0"),
        numpy_helper.from_array(np.array([-1, 1568], dtype=np.int64), "const_fold_opt__12"),
        numpy_helper.from_array(nhwc_rows(dense.weight, 8, 14, 14), "sequential/dense/MatMul/ReadVariableOp:0"),
        numpy_helper.from_array(arr(dense.bias), "sequential/dense/BiasAdd/ReadVariableOp:0"),
    ]
    N = helper.make_node
    nodes = [
        N("Transpose", ["input_1:0"], ["sequential/conv2d/BiasAdd__6:0"], name="sequential/conv2d/BiasAdd__6",
          perm=[0, 3, 1, 2]),
        N("Conv", ["sequential/conv2d/BiasAdd__6:0", "sequential/conv2d/Conv2D/ReadVariableOp:0",
                   "sequential/conv2d/BiasAdd/ReadVariableOp:0"], ["sequential/conv2d/BiasAdd:0"],
          name="sequential/conv2d/BiasAdd", dilations=[1, 1], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
          strides=[1, 1], group=1),
        N("Relu", ["sequential/conv2d/BiasAdd:0"], ["sequential/conv2d/Relu:0"], name="sequential/conv2d/Relu"),
        N("MaxPool", ["sequential/conv2d/Relu:0"], ["sequential/max_pooling2d/MaxPool:0"],
          name="sequential/max_pooling2d/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        N("Transpose", ["sequential/max_pooling2d/MaxPool:0"], ["sequential/max_pooling2d/MaxPool__10:0"],
          name="sequential/max_pooling2d/MaxPool__10", perm=[0, 2, 3, 1]),
        N("Reshape", ["sequential/max_pooling2d/MaxPool__10:0", "const_fold_opt__12"],
          ["sequential/flatten/Reshape:0"], name="sequential/flatten/Reshape"),
        N("MatMul", ["sequential/flatten/Reshape:0", "sequential/dense/MatMul/ReadVariableOp:0"],
          ["sequential/dense/MatMul:0"], name="sequential/dense/MatMul"),
        N("Add", ["sequential/dense/MatMul:0", "sequential/dense/BiasAdd/ReadVariableOp:0"],
          ["sequential/dense/BiasAdd:0"], name="sequential/dense/BiasAdd"),
        N("Softmax", ["sequential/dense/BiasAdd:0"], ["Identity:0"], name="sequential/dense/Softmax", axis=-1),
    ]
    graph = helper.make_graph(nodes, "tf2onnx", [value("input_1:0", ["unk__6", 28, 28, 1])],
                              [value("Identity:0", ["unk__7", 10])], initializer=inits)
    return finish(graph, "tf2onnx", "1.9.3 1190aa", 13, 7)


def float_tensor(name, a):
    """A float32 initializer in float_data, as CNTK wrote them."""
    a = np.asarray(a, dtype=np.float32)
    return helper.make_tensor(name, TensorProto.FLOAT, list(a.shape), a.flatten().tolist(), raw=False)


def int64_tensor(name, vals):
    return helper.make_tensor(name, TensorProto.INT64, [len(vals)], list(vals), raw=False)


def cntk(net):
    conv1, conv2, dense = net[0], net[3], net[7]
    inits = [
        float_tensor("Parameter5", arr(conv1.weight)),
        float_tensor("Parameter6", arr(conv1.bias).reshape(8, 1, 1)),
        float_tensor("Parameter87", arr(conv2.weight)),
        float_tensor("Parameter88", arr(conv2.bias).reshape(16, 1, 1)),
        int64_tensor("Pooling160_Output_0_reshape0_shape", [-1, 256]),
        # nn.Linear's weight [10, 256] transposed is the MatMul's [256, 10];
        # mnist-8 stores it as [16, 4, 4, 10] and reshapes it in the graph.
        float_tensor("Parameter193", arr(dense.weight).T.reshape(16, 4, 4, 10)),
        int64_tensor("Parameter193_reshape1_shape", [256, 10]),
        float_tensor("Parameter194", arr(dense.bias).reshape(1, 10)),
    ]
    conv = dict(kernel_shape=[5, 5], strides=[1, 1], auto_pad="SAME_UPPER", group=1, dilations=[1, 1])
    N = helper.make_node
    nodes = [
        N("Reshape", ["Parameter193", "Parameter193_reshape1_shape"], ["Parameter193_reshape1"],
          name="Times212_reshape1"),
        N("Conv", ["Input3", "Parameter5"], ["Convolution28_Output_0"], name="Convolution28", **conv),
        N("Add", ["Convolution28_Output_0", "Parameter6"], ["Plus30_Output_0"], name="Plus30"),
        N("Relu", ["Plus30_Output_0"], ["ReLU32_Output_0"], name="ReLU32"),
        N("MaxPool", ["ReLU32_Output_0"], ["Pooling66_Output_0"], name="Pooling66",
          kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], auto_pad="NOTSET"),
        N("Conv", ["Pooling66_Output_0", "Parameter87"], ["Convolution110_Output_0"], name="Convolution110", **conv),
        N("Add", ["Convolution110_Output_0", "Parameter88"], ["Plus112_Output_0"], name="Plus112"),
        N("Relu", ["Plus112_Output_0"], ["ReLU114_Output_0"], name="ReLU114"),
        N("MaxPool", ["ReLU114_Output_0"], ["Pooling160_Output_0"], name="Pooling160",
          kernel_shape=[3, 3], strides=[3, 3], pads=[0, 0, 0, 0], auto_pad="NOTSET"),
        N("Reshape", ["Pooling160_Output_0", "Pooling160_Output_0_reshape0_shape"],
          ["Pooling160_Output_0_reshape0"], name="Times212_reshape0"),
        N("MatMul", ["Pooling160_Output_0_reshape0", "Parameter193_reshape1"], ["Times212_Output_0"],
          name="Times212"),
        N("Add", ["Times212_Output_0", "Parameter194"], ["Plus214_Output_0"], name="Plus214"),
    ]
    graph = helper.make_graph(nodes, "CNTKGraph", [value("Input3", ["N", 1, 28, 28])] + init_inputs(inits),
                              [value("Plus214_Output_0", ["N", 10])], initializer=inits)
    m = finish(graph, "CNTK", "2.5.1", 8, 3)
    m.domain = "ai.cntk"
    m.model_version = 1
    return m


# name -> (network, builder(s), input layout, output kind)
MODELS = {
    "keras2onnx_151": ("keras", lambda net: keras2onnx(net, "1.5.1"), "NHWC", "probabilities"),
    "keras2onnx_160": ("keras", lambda net: keras2onnx(net, "1.6.0"), "NHWC", "probabilities"),
    "tf2onnx": ("tf", tf2onnx, "NHWC", "probabilities"),
    "cntk_mnist8": ("cntk", cntk, "NCHW", "logits"),
}
NETWORKS = {"keras": keras_cnn, "tf": tf_cnn, "cntk": cntk_cnn}


def torch_out(net, x, kind):
    with torch.no_grad():
        o = torch.cat([net(x[i:i + 500]) for i in range(0, x.shape[0], 500)])
    return torch.softmax(o, dim=1) if kind == "probabilities" else o




def ort_outputs(path, x, layout, tmpdir):
    """ONNX Runtime's first output [N,10] for x [N,1,28,28], fed as [N,28,28,1] to an NHWC graph
    (one channel: the same floats in the same order)."""
    n = x.shape[0]
    dims = (1, 28, 28) if layout == "NCHW" else (28, 28, 1)
    inp = os.path.join(tmpdir, "input.f32")
    outp = os.path.join(tmpdir, "output.f32")
    x.contiguous().numpy().astype("<f4").tofile(inp)
    subprocess.run(["node", os.path.join(HERE, "ort_eval.js"), path, inp, str(n), *map(str, dims), outp],
                   check=True)
    with open(outp, "rb") as f:
        raw = f.read()
    os.remove(outp)
    if len(raw) != n * 40:
        raise SystemExit(f"ort_eval.js on {path}: {len(raw)} bytes, want {n * 40}")
    return torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(n, 10)


def topo_sorted(model):
    """A copy of model with its nodes in a topological order."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    known = {i.name for i in m.graph.input} | {t.name for t in m.graph.initializer}
    left = list(m.graph.node)
    done = []
    while left:
        ready = [n for n in left if all(i == "" or i in known for i in n.input)]
        if not ready:
            raise SystemExit("graph has a cycle")
        for n in ready:
            done.append(n)
            known.update(n.output)
        left = [n for n in left if n not in ready]
    del m.graph.node[:]
    m.graph.node.extend(done)
    return m


def checker(model):
    try:
        onnx.checker.check_model(model, full_check=True)
        return "ok"
    except Exception as e:  # noqa: BLE001 - recorded
        return (f"{type(e).__name__}: " + " ".join(str(e).split()))[:300]


def out_of_order(model):
    known = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer}
    for n in model.graph.node:
        if any(i and i not in known for i in n.input):
            return True
        known.update(n.output)
    return False






def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", default=os.path.join(HERE, "..", "testdata", "onnx", "producers"))
    p.add_argument("--data", help="MNIST .gz folder (default: the GoMNIST module's data/)")
    a = p.parse_args()
    torch.set_num_threads(2)
    data_dir = a.data or mnist_idx.default_data_dir()
    os.makedirs(a.out_dir, exist_ok=True)

    # ToTensor pixels, 28x28: the seed's 32x32 less its Pad(2).
    xtr, ytr = mnist_idx.load(data_dir, "train")
    xtr = xtr[:, :, 2:30, 2:30].contiguous()
    xte, yte = mnist_idx.load(data_dir, "test")
    xte = xte[:, :, 2:30, 2:30].contiguous()

    nets = {}
    for key, make in NETWORKS.items():
        torch.manual_seed(0)
        nets[key] = train(make(), xtr, ytr)
        print(f"trained {key}")

    result = {"onnxruntime": ort_version(), "torch": torch.__version__, "onnx": onnx.__version__,
              "train": {"epochs": 1, "optimizer": "Adam", "lr": TRAIN_LR, "batch": TRAIN_BATCH, "seed": 0,
                        "order": "file order", "loss": "cross_entropy on logits"},
              "models": {}}
    with tempfile.TemporaryDirectory() as tmpdir:
        for name, (key, build, layout, kind) in MODELS.items():
            net = nets[key]
            model = build(net)
            verdict = checker(model)
            sorted_verdict = checker(topo_sorted(model)) if out_of_order(model) else None
            tmp = os.path.join(tmpdir, name + ".onnx")
            onnx.save(model, tmp)
            # ORT against PyTorch on a few images before anything is written.
            want = torch_out(net, xte[:CHECK_IMAGES], kind)
            got = ort_outputs(tmp, xte[:CHECK_IMAGES], layout, tmpdir)
            diff = (got - want).abs().max().item()
            if diff > TOLERANCE:
                raise SystemExit(f"{name}: ONNX Runtime differs from PyTorch by {diff:g} on the first "
                                 f"{CHECK_IMAGES} test images (tolerance {TOLERANCE:g})")
            out = os.path.join(a.out_dir, name + ".onnx")
            os.replace(tmp, out)
            acc, loss = figures(ort_outputs(out, xte, layout, tmpdir), yte, kind)
            t_acc, t_loss = figures(torch_out(net, xte, kind), yte, kind)
            op = model.opset_import[0].version
            entry = {
                "file": name + ".onnx",
                "producer": model.producer_name,
                "producer_version": model.producer_version,
                "opset": op,
                "ir_version": model.ir_version,
                "input_name": model.graph.input[0].name,
                "input_layout": layout,
                "input": [1, 28, 28] if layout == "NCHW" else [28, 28, 1],
                "preprocess": PREPROCESS,
                "output_name": model.graph.output[0].name,
                "output": kind,
                "accuracy": acc,
                "loss": loss,
                "images": int(xte.shape[0]),
                "torch_accuracy": t_acc,
                "torch_loss": t_loss,
                "ort_torch_max_diff": diff,
                "out_of_order": out_of_order(model),
                "checker": verdict,
            }
            if sorted_verdict is not None:
                entry["checker_sorted"] = sorted_verdict
            result["models"][name] = entry
            print(f"{name}: {os.path.getsize(out)} bytes; ORT {acc:.2f} % loss {loss:.6f}; "
                  f"torch {t_acc:.2f} % loss {t_loss:.6f}; max |ORT-torch| {diff:.2g}; checker: {verdict}"
                  + (f"; sorted copy: {sorted_verdict}" if sorted_verdict is not None else ""))
    out = os.path.join(a.out_dir, "expected.json")
    write_json(out, result)
    print(os.path.relpath(out))


if __name__ == "__main__":
    main()
