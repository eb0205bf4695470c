"""PyTorch's reference for one training step of an ONNX graph (issue 21).

For each fixture this script builds the graph's network in PyTorch by hand,
node for node, loads the ONNX file's initializers into it by name, and runs
one training step on a fixed batch of 8 images. lenetkit's onnxtrain, which
builds a Gorgonia training graph from any ONNX graph, must match what it
writes at PARITY_TOL: logits, loss, every gradient, the Adam update and
BatchNorm's running statistics.

The contract (also written into every manifest.json):

- input.npy is the graph input itself, already preprocessed: MNIST training
  images 0..7 as ToTensor pixels in [0, 1] (seeded uniform noise when MNIST
  cannot be read), then the preprocessing the graph declares (its
  `preprocess` metadata entry, else testdata/onnx/expected.json): zero
  padding of `pad` pixels, then (x - mean) / std; in the graph's input
  shape and layout (NHWC for the Keras graph).
- labels.npy: MNIST training labels 0..7 (int64).
- logits.npy: the graph's output, except when the graph ends in Softmax or
  LogSoftmax (possibly followed by Identity nodes): then the input of that
  node. loss.npy = F.cross_entropy(logits, labels), the mean over the 8.
- BatchNormalization runs in training mode: normalised by the batch mean and
  the biased batch variance; running statistics updated with torch momentum
  1 - m for ONNX momentum m (running = m * running + (1 - m) * batch), where
  PyTorch uses the UNBIASED batch variance (count / (count - 1) times the
  biased one) for running_var. bn/ holds the updated running statistics.
- Dropout, were a graph to have any, runs with p = 0 (none of these has one).
- grad/ holds d loss / d w for every trainable float initializer (Conv,
  Gemm and MatMul weights, their biases, BatchNormalization scale and bias),
  adam/ the weight after one torch.optim.Adam step (lr 1e-3, betas (0.9,
  0.999), eps 1e-8, no weight decay) from the ONNX file's weights.
- output.npy: the graph's own output in inference mode (BatchNorm on the
  file's running statistics) from the file's weights, before the step: a
  check that this script computes what the ONNX graph computes.

The graphs: testdata/onnx/lenet5.onnx, cnn28.onnx,
producers/keras2onnx_160.onnx, and dwbn.onnx (a depthwise-convolution and
BatchNormalization net that this script defines and exports itself, from
torch.manual_seed(0)). Each fixture's graph is read with onnx and checked
against what the hand-built module expects (node types, attributes, which
value feeds which node, initializer names and shapes); any difference stops
the script.

    /usr/bin/python3 reference/onnx_train_parity.py [--out DIR] [--dwbn FILE] [--data DIR]

writes DIR/<fixture>/ (default testdata/train_parity/), float32 .npy files
and manifest.json. Float32 throughout, one thread, deterministic algorithms.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import mnist_idx  # noqa: E402

BATCH = 8
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8
PARITY_TOL = 1e-4   # what onnxtrain must meet against these files
SELF_TOL = 1e-6     # what the files must meet against each other (Adam, loss)
RANDOM_SEED = 0     # the fallback batch's generator seed

CONTRACT = (
    "input.npy is the graph input, already preprocessed (pad, then (x - mean) / std, "
    "in the graph's input shape and layout). logits are the graph's output, or, when the graph "
    "ends in Softmax or LogSoftmax (possibly followed by Identity nodes), that node's input. "
    "loss = cross_entropy(logits, labels), mean over the batch. Gradients are of that loss, "
    "keyed by ONNX initializer name. adam/ holds each weight after one Adam step from the ONNX "
    "file's initializer. output.npy is the graph's output in inference mode before the step.")
BN_NOTE = (
    "BatchNormalization in training mode: batch mean and biased batch variance normalise; "
    "running = m * running + (1 - m) * batch for ONNX momentum m (torch momentum 1 - m); "
    "PyTorch updates running_var with the unbiased batch variance (count / (count - 1) times "
    "the biased one, count = N*H*W per channel), while ONNX's own training-mode reference uses "
    "the biased one; bn/ holds PyTorch's.")
DROPOUT_NOTE = "Dropout runs with p = 0 in the parity step (none of these graphs has a Dropout node)."


def fail(msg):
    raise SystemExit(f"onnx_train_parity: {msg}")


# ---------------------------------------------------------------------------
# Walking the ONNX graph node by node beside the torch computation


def attrs_of(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class Walk:
    """Steps through a graph's nodes in file order while the torch forward
    computes them, and fails on any node that is not the one the forward
    expects: op type, attributes, the value it reads (the previous mirrored
    node's output) and the initializers it takes."""

    def __init__(self, graph):
        self.g = graph
        self.pos = 0
        self.cur = graph.input_name

    def take(self, op, weights=(), allowed=(), **want):
        nodes = self.g.model.graph.node
        if self.pos >= len(nodes):
            fail(f"{self.g.name}: expected a {op} node after the last one")
        n = nodes[self.pos]
        where = f"{self.g.name}: node {self.pos} ({n.name or n.output[0]})"
        if n.op_type != op:
            fail(f"{where} is {n.op_type}, the torch module expects {op}")
        if n.domain not in ("", "ai.onnx"):
            fail(f"{where} is in domain {n.domain!r}")
        ins = list(n.input)
        if ins[:1] != [self.cur] and op != "Constant":
            fail(f"{where} reads {ins[:1]}, expected {self.cur!r}")
        if op != "Constant" and ins[1:] != list(weights):
            fail(f"{where} takes {ins[1:]}, expected {list(weights)}")
        a = attrs_of(n)
        for k, v in want.items():
            got = a.get(k)
            if isinstance(got, bytes):
                got = got.decode()
            if got != v:
                fail(f"{where}: attribute {k} is {got!r}, expected {v!r}")
        extra = set(a) - set(want) - set(allowed)
        if extra:
            fail(f"{where}: unexpected attributes {sorted(extra)}")
        if len(n.output) != 1:
            fail(f"{where} has {len(n.output)} outputs, expected 1")
        self.pos += 1
        if op != "Constant":
            self.cur = n.output[0]
        return n, a

    def done(self, out):
        nodes = self.g.model.graph.node
        if self.pos != len(nodes):
            fail(f"{self.g.name}: {len(nodes) - self.pos} nodes left after the torch module's last")
        outs = [o.name for o in self.g.model.graph.output]
        if outs != [self.cur]:
            fail(f"{self.g.name}: graph outputs {outs}, the torch module ends in {self.cur!r}")
        return out


class Model:
    """An ONNX file read for a fixture: its initializers as float32 tensors
    (checked against the shapes the torch module expects), trainable ones as
    leaf tensors that require grad, running statistics as plain tensors."""

    def __init__(self, name, path, shapes, buffers=()):
        self.name, self.path = name, path
        self.model = onnx.load(path)
        onnx.checker.check_model(self.model)
        g = self.model.graph
        inits = {t.name: t for t in g.initializer}
        float_inits = {k for k, t in inits.items() if t.data_type == onnx.TensorProto.FLOAT}
        if float_inits != set(shapes) | set(buffers):
            fail(f"{name}: float initializers {sorted(float_inits)}, the torch module expects "
                 f"{sorted(set(shapes) | set(buffers))}")
        for k in list(shapes) + list(buffers):
            got = list(inits[k].dims)
            want = list(shapes.get(k) or buffers[k])
            if got != want:
                fail(f"{name}: initializer {k!r} has shape {got}, the torch module expects {want}")
        ins = [i for i in g.input if i.name not in inits]
        if len(ins) != 1:
            fail(f"{name}: {len(ins)} graph inputs, expected 1")
        self.input_name = ins[0].name
        self.input_dims = [d.dim_value if d.HasField("dim_value") else -1
                           for d in ins[0].type.tensor_type.shape.dim]
        arrays = {k: numpy_helper.to_array(inits[k]).astype(np.float32) for k in float_inits}
        self.initial = {k: torch.from_numpy(arrays[k].copy()) for k in float_inits}
        self.params = {k: self.initial[k].clone().requires_grad_(True) for k in shapes}
        self.buffers = {k: self.initial[k].clone() for k in buffers}
        self.meta = {p.key: p.value for p in self.model.metadata_props}
        self.bn = []   # BatchNormalization nodes met in the training forward

    def p(self, name):
        return self.params[name]


# ---------------------------------------------------------------------------
# Operators, each checking its node


def conv(w, m, x, weight, bias=None, *, kernel, pads=None, auto_pad=None, group=1):
    """Conv with OIHW weights, stride 1, dilation 1; pads explicit or auto_pad."""
    names = [weight] + ([bias] if bias else [])
    want = dict(kernel_shape=[kernel, kernel], strides=[1, 1], group=group)
    if auto_pad:
        want["auto_pad"] = auto_pad
        if auto_pad != "SAME_UPPER" or kernel % 2 != 1:
            fail(f"{m.name}: auto_pad {auto_pad} with kernel {kernel} is not mirrored")
        pad = (kernel - 1) // 2     # stride 1, odd kernel: SAME_UPPER pads evenly
    else:
        want["pads"] = [pads] * 4
        pad = pads
    w.take("Conv", names, allowed=("dilations",), **want)
    n = m.model.graph.node[w.pos - 1]
    if attrs_of(n).get("dilations", [1, 1]) != [1, 1]:
        fail(f"{m.name}: {n.name}: dilations {attrs_of(n)['dilations']}")
    return F.conv2d(x, m.p(weight), m.p(bias) if bias else None, padding=pad, groups=group)


def unary(w, x, op):
    w.take(op)
    return {"Relu": torch.relu, "Tanh": torch.tanh}[op](x)


def maxpool(w, x, *, explicit=True):
    if explicit:
        w.take("MaxPool", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0)
    else:
        w.take("MaxPool", kernel_shape=[2, 2], strides=[2, 2], auto_pad="VALID")
    return F.max_pool2d(x, 2, 2)


def const_pad(w, m, x):
    """Constant (the pads) then Pad in constant mode: torch.onnx's AvgPool2d prologue."""
    c, a = w.take("Constant", allowed=("value",))
    pads = numpy_helper.to_array(a["value"]).tolist()
    n, _ = w.take("Pad", [c.output[0]], mode="constant")
    if len(pads) != 8 or pads[0] or pads[1] or pads[4] or pads[5] or min(pads) < 0:
        fail(f"{m.name}: {n.name}: pads {pads} are not mirrored")
    return F.pad(x, (pads[3], pads[7], pads[2], pads[6]))


def avgpool(w, x):
    w.take("AveragePool", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0)
    return F.avg_pool2d(x, 2, 2)


def flatten(w, x):
    w.take("Flatten", axis=1)
    return torch.flatten(x, 1)


def gemm(w, m, x, weight, bias):
    """Gemm with transB = 1: the weight is [out, in], as nn.Linear's."""
    w.take("Gemm", [weight, bias], alpha=1.0, beta=1.0, transB=1)
    return F.linear(x, m.p(weight), m.p(bias))


def matmul_add(w, m, x, weight, bias):
    """MatMul by a weight [in, out] (Keras' Dense kernel), then Add of the bias."""
    w.take("MatMul", [weight])
    w.take("Add", [bias])
    return x @ m.p(weight) + m.p(bias)


def transpose(w, x, perm):
    w.take("Transpose", perm=perm)
    return x.permute(*perm)


def batchnorm(w, m, x, scale, bias, mean, var, training):
    n, a = w.take("BatchNormalization", [scale, bias, mean, var], allowed=("epsilon", "momentum"))
    eps = float(np.float32(a.get("epsilon", 1e-5)))
    mom = float(np.float32(a.get("momentum", 0.9)))
    rm, rv = m.buffers[mean], m.buffers[var]
    count = x.shape[0] * x.shape[2] * x.shape[3]
    if training:
        m.bn.append({"node": n.name or n.output[0], "scale": scale, "bias": bias, "mean": mean,
                     "var": var, "epsilon": eps, "onnx_momentum": mom, "torch_momentum": 1 - mom,
                     "count": count})
    # F.batch_norm updates rm and rv in place when training.
    return F.batch_norm(x, rm, rv, m.p(scale), m.p(bias), training=training, momentum=1 - mom, eps=eps)


def gap(w, x):
    w.take("GlobalAveragePool")
    return x.mean(dim=(2, 3), keepdim=True)


def head(w, x, op, axis):
    """The closing Softmax or LogSoftmax (x is its input: the logits), then any Identity nodes."""
    w.take(op, axis=axis)
    if x.dim() != 2:
        fail(f"{op} on a rank-{x.dim()} tensor is not mirrored")
    out = torch.softmax(x, 1) if op == "Softmax" else torch.log_softmax(x, 1)
    nodes = w.g.model.graph.node
    while w.pos < len(nodes) and nodes[w.pos].op_type == "Identity":
        w.take("Identity")
    return out


# ---------------------------------------------------------------------------
# The four networks: forward(walk, model, x, training) -> (logits, output)


def lenet5_forward(w, m, x, training):
    x = unary(w, conv(w, m, x, "0.weight", "0.bias", kernel=5, pads=0), "Tanh")
    x = avgpool(w, const_pad(w, m, x))
    x = unary(w, conv(w, m, x, "3.weight", "3.bias", kernel=5, pads=0), "Tanh")
    x = avgpool(w, const_pad(w, m, x))
    x = flatten(w, x)
    x = unary(w, gemm(w, m, x, "7.weight", "7.bias"), "Tanh")
    x = unary(w, gemm(w, m, x, "9.weight", "9.bias"), "Tanh")
    logits = gemm(w, m, x, "11.weight", "11.bias")
    return logits, w.done(logits)


def cnn28_forward(w, m, x, training):
    x = maxpool(w, unary(w, conv(w, m, x, "0.weight", "0.bias", kernel=3, pads=1), "Relu"))
    x = maxpool(w, unary(w, conv(w, m, x, "3.weight", "3.bias", kernel=3, pads=1), "Relu"))
    x = flatten(w, x)
    x = unary(w, gemm(w, m, x, "7.weight", "7.bias"), "Relu")
    logits = gemm(w, m, x, "10.weight", "10.bias")
    return logits, w.done(head(w, logits, "LogSoftmax", 1))


def keras_forward(w, m, x, training):
    x = transpose(w, x, [0, 3, 1, 2])
    x = conv(w, m, x, "conv2d/kernel:0", "conv2d/bias:0", kernel=3, auto_pad="SAME_UPPER")
    x = maxpool(w, unary(w, x, "Relu"), explicit=False)
    x = conv(w, m, x, "conv2d_1/kernel:0", "conv2d_1/bias:0", kernel=3, auto_pad="SAME_UPPER")
    x = maxpool(w, unary(w, x, "Relu"), explicit=False)
    x = transpose(w, x, [0, 2, 3, 1])
    x = flatten(w, x)
    x = unary(w, matmul_add(w, m, x, "dense/kernel:0", "dense/bias:0"), "Relu")
    logits = matmul_add(w, m, x, "dense_1/kernel:0", "dense_1/bias:0")
    return logits, w.done(head(w, logits, "Softmax", -1))


def dwbn_forward(w, m, x, training):
    x = conv(w, m, x, "0.weight", kernel=3, pads=1)
    x = unary(w, batchnorm(w, m, x, "1.weight", "1.bias", "1.running_mean", "1.running_var", training), "Relu")
    x = conv(w, m, x, "3.weight", kernel=3, pads=1, group=8)
    x = unary(w, batchnorm(w, m, x, "4.weight", "4.bias", "4.running_mean", "4.running_var", training), "Relu")
    x = maxpool(w, x)
    x = unary(w, conv(w, m, x, "7.weight", "7.bias", kernel=1, pads=0), "Relu")
    x = flatten(w, gap(w, x))
    logits = gemm(w, m, x, "11.weight", "11.bias")
    return logits, w.done(logits)


# ---------------------------------------------------------------------------
# The depthwise + BatchNorm graph, made here


DWBN_PREPROCESS = {"pad": 0, "mean": 0.1307, "std": 0.3081}


def dwbn_module():
    """Conv 1->8 3x3, BN, ReLU, depthwise Conv 8->8 3x3 (group 8), BN, ReLU,
    MaxPool 2, pointwise Conv 8->16, ReLU, global average pool, Linear 16->10.
    The convolutions before BatchNorm have no bias: in training mode BN
    cancels it, so its gradient would be rounding noise, and Adam's first
    step (lr * g / (|g| + eps)) would turn that noise into a full-size update
    no two implementations agree on."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 10),
    )
    # BatchNorm's defaults (scale 1, bias 0, mean 0, var 1) would make a
    # weak test, and torch.onnx.export would merge the equal initializers
    # into Identity nodes; give each its own values.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for bn in (net[1], net[4]):
            c = bn.num_features
            bn.weight.copy_(0.5 + torch.rand(c, generator=g))
            bn.bias.copy_(0.4 * torch.rand(c, generator=g) - 0.2)
            bn.running_mean.copy_(0.2 * torch.randn(c, generator=g))
            bn.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
    return net.eval()


def export_dwbn(path):
    """torch.onnx.export at opset 13 in eval mode with PRESERVE, without
    constant folding, so BatchNorm stays a BatchNormalization node holding
    its running statistics rather than folded into the convolution."""
    import io
    buf = io.BytesIO()
    torch.onnx.export(dwbn_module(), torch.zeros(1, 1, 28, 28), buf, opset_version=13,
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    model = onnx.load_from_string(buf.getvalue())
    entry = model.metadata_props.add()
    entry.key, entry.value = "preprocess", json.dumps(DWBN_PREPROCESS, separators=(",", ":"))
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    if ops.count("BatchNormalization") != 2:
        fail(f"dwbn export has {ops.count('BatchNormalization')} BatchNormalization nodes, want 2: {ops}")
    data = model.SerializeToString()
    if len(data) > 100_000:
        fail(f"dwbn.onnx is {len(data)} bytes, more than 100 KB")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------
# Fixtures


FIXTURES = {
    "lenet5": dict(
        model="testdata/onnx/lenet5.onnx", forward=lenet5_forward,
        shapes={"0.weight": (6, 1, 5, 5), "0.bias": (6,), "3.weight": (16, 6, 5, 5), "3.bias": (16,),
                "7.weight": (120, 400), "7.bias": (120,), "9.weight": (84, 120), "9.bias": (84,),
                "11.weight": (10, 84), "11.bias": (10,)}),
    "cnn28": dict(
        model="testdata/onnx/cnn28.onnx", forward=cnn28_forward,
        shapes={"0.weight": (16, 1, 3, 3), "0.bias": (16,), "3.weight": (32, 16, 3, 3), "3.bias": (32,),
                "7.weight": (64, 1568), "7.bias": (64,), "10.weight": (10, 64), "10.bias": (10,)}),
    "keras2onnx_160": dict(
        model="testdata/onnx/producers/keras2onnx_160.onnx", forward=keras_forward,
        shapes={"conv2d/kernel:0": (8, 1, 3, 3), "conv2d/bias:0": (8,),
                "conv2d_1/kernel:0": (16, 8, 3, 3), "conv2d_1/bias:0": (16,),
                "dense/kernel:0": (784, 16), "dense/bias:0": (16,),
                "dense_1/kernel:0": (16, 10), "dense_1/bias:0": (10,)}),
    "dwbn": dict(
        model="testdata/onnx/dwbn.onnx", forward=dwbn_forward,
        shapes={"0.weight": (8, 1, 3, 3), "1.weight": (8,), "1.bias": (8,),
                "3.weight": (8, 1, 3, 3), "4.weight": (8,), "4.bias": (8,),
                "7.weight": (16, 8, 1, 1), "7.bias": (16,), "11.weight": (10, 16), "11.bias": (10,)},
        buffers={"1.running_mean": (8,), "1.running_var": (8,),
                 "4.running_mean": (8,), "4.running_var": (8,)}),
}


def sanitise(name):
    """A file name for an ONNX initializer name ("conv2d/kernel:0" -> "conv2d_kernel_0")."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def mnist_batch(data_dir):
    """(images [8,28,28] float32 in [0, 1], labels [8] int64, source), MNIST's
    first training images, or seeded noise and labels when it cannot be read."""
    try:
        d = data_dir or mnist_idx.default_data_dir()
        img, lab = mnist_idx.FILES["train"]
        x = mnist_idx.read_images(os.path.join(d, img))[:BATCH].to(torch.float32).div(255.0)
        y = mnist_idx.read_labels(os.path.join(d, lab))[:BATCH].to(torch.int64)
        return x, y, f"MNIST training images and labels 0..{BATCH - 1}, ToTensor pixels"
    except (SystemExit, OSError, ValueError) as e:
        if data_dir:
            raise
        print(f"onnx_train_parity: MNIST unavailable ({e}); using seeded noise", file=sys.stderr)
        g = torch.Generator().manual_seed(RANDOM_SEED)
        x = torch.rand(BATCH, 28, 28, generator=g)
        y = torch.randint(0, 10, (BATCH,), generator=g)
        return x, y, f"torch.Generator().manual_seed({RANDOM_SEED}): torch.rand(8,28,28), torch.randint(0,10,(8,))"


def preprocessing(m, rel):
    """The graph's preprocessing: its metadata entry, else expected.json's record."""
    if "preprocess" in m.meta:
        return json.loads(m.meta["preprocess"]), "the graph's preprocess metadata entry"
    exp_path = os.path.join(os.path.dirname(os.path.join(ROOT, rel)), "expected.json")
    with open(exp_path) as f:
        models = json.load(f)["models"]
    for v in models.values():
        if v.get("file") == os.path.basename(rel):
            return v["preprocess"], os.path.relpath(exp_path, ROOT).replace(os.sep, "/")
    fail(f"{rel}: no preprocess metadata and no entry in {exp_path}")


def graph_input(m, x28, pre):
    """The batch as the graph takes it: padded, normalised, in its layout."""
    p = int(pre["pad"])
    x = F.pad(x28.unsqueeze(1), (p, p, p, p))
    x = (x - float(pre["mean"])) / float(pre["std"])
    side = 28 + 2 * p
    dims = m.input_dims
    if dims[1:] == [1, side, side]:
        return x.contiguous(), "NCHW"
    if dims[1:] == [side, side, 1]:
        return x.permute(0, 2, 3, 1).contiguous(), "NHWC"
    fail(f"{m.name}: input shape {dims} does not take {side}x{side} images")


def save(path, t):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else t
    if a.dtype not in (np.float32, np.int64):
        fail(f"{path}: dtype {a.dtype}")
    # np.ascontiguousarray would make the 0-d loss 1-d; a copy in C order keeps its shape.
    np.save(path, np.array(a, order="C"), allow_pickle=False)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make(name, spec, model_path, out_dir, batch):
    m = Model(name, model_path, spec["shapes"], spec.get("buffers", {}))
    pre, pre_source = preprocessing(m, spec["model"])
    x28, y, source = batch
    x, layout = graph_input(m, x28, pre)

    # The graph's own output in inference mode, before the step.
    saved = {k: v.clone() for k, v in m.buffers.items()}
    with torch.no_grad():
        _, output = spec["forward"](Walk(m), m, x, False)
    for k, v in m.buffers.items():
        if not torch.equal(v, saved[k]):
            fail(f"{name}: inference forward changed {k}")

    # One training step.
    walk = Walk(m)
    logits, _ = spec["forward"](walk, m, x, True)
    loss = F.cross_entropy(logits, y)
    names = sorted(m.params)
    opt = torch.optim.Adam([m.params[k] for k in names], lr=LR, betas=BETAS, eps=EPS,
                           weight_decay=0, foreach=False)
    opt.zero_grad()
    loss.backward()
    grads = {k: m.params[k].grad.detach().clone() for k in names}
    opt.step()

    d = os.path.join(out_dir, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    files = {}
    save(os.path.join(d, "input.npy"), x)
    save(os.path.join(d, "labels.npy"), y)
    save(os.path.join(d, "logits.npy"), logits)
    save(os.path.join(d, "loss.npy"), loss)
    save(os.path.join(d, "output.npy"), output)
    used = set()
    for k in names:
        f = sanitise(k) + ".npy"
        if f in used:
            fail(f"{name}: two initializers sanitise to {f}")
        used.add(f)
        save(os.path.join(d, "grad", f), grads[k])
        save(os.path.join(d, "adam", f), m.params[k])
        files[k] = {"shape": list(m.params[k].shape), "grad": "grad/" + f, "adam": "adam/" + f}
    buffers = {}
    for k in sorted(m.buffers):
        f = sanitise(k) + ".npy"
        save(os.path.join(d, "bn", f), m.buffers[k])
        buffers[k] = {"shape": list(m.buffers[k].shape), "file": "bn/" + f}

    g = m.model.graph
    last = [n for n in g.node if n.op_type != "Identity"][-1]
    logits_value = last.input[0] if last.op_type in ("Softmax", "LogSoftmax") else g.output[0].name
    manifest = {
        "fixture": name,
        "model": spec["model"],
        "model_sha256": sha256(model_path),
        "contract": CONTRACT,
        "input": {"name": m.input_name, "file": "input.npy", "shape": list(x.shape), "layout": layout},
        "batch": {"source": source, "preprocess": pre, "preprocess_from": pre_source},
        "labels": "labels.npy",
        "logits": {"file": "logits.npy", "value": logits_value,
                   "head": last.op_type if last.op_type in ("Softmax", "LogSoftmax") else None},
        "loss": {"file": "loss.npy", "definition": "F.cross_entropy(logits, labels), mean over the batch"},
        "output": {"name": g.output[0].name, "file": "output.npy", "mode": "inference, before the step"},
        "optimizer": {"name": "Adam", "lr": LR, "betas": list(BETAS), "eps": EPS, "weight_decay": 0,
                      "steps": 1, "update": "w - lr * m_hat / (sqrt(v_hat) + eps)"},
        "tolerance": {"parity": PARITY_TOL, "self_consistency": SELF_TOL},
        "batchnorm": {"note": BN_NOTE, "nodes": m.bn},
        "dropout": DROPOUT_NOTE,
        "params": files,
        "buffers": buffers,
        "torch": torch.__version__,
    }
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    return float(loss), sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "testdata", "train_parity"),
                    help="folder for the fixtures' folders (default testdata/train_parity)")
    ap.add_argument("--dwbn", default=os.path.join(ROOT, FIXTURES["dwbn"]["model"]),
                    help="where to write dwbn.onnx, which the dwbn fixture then reads (default testdata/onnx/dwbn.onnx)")
    ap.add_argument("--data", help="folder of MNIST's gzipped IDX files (default: the GoMNIST module's)")
    ap.add_argument("--only", nargs="*", choices=sorted(FIXTURES), help="make only these fixtures")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)

    batch = mnist_batch(args.data)
    for name in args.only or FIXTURES:
        spec = FIXTURES[name]
        path = os.path.join(ROOT, spec["model"])
        if name == "dwbn":
            export_dwbn(args.dwbn)
            path = args.dwbn
        loss, size = make(name, spec, path, args.out, batch)
        print(f"{name}: loss {loss:.6f}, {size} bytes")


if __name__ == "__main__":
    main()
