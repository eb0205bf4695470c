"""ONNX graphs "other people made" with torch.onnx.export, and ONNX Runtime's figures on them.

    onnx_zoo.py [--out-dir DIR] [--data DIR] [--weights MODEL.pth]
    onnx_zoo.py --model NAME --opset N --out FILE [--out-dir DIR] [--retrain]
    onnx_zoo.py --add NAME[,NAME...] [--out-dir DIR] [--data DIR]

lenetkit's general ONNX importer is tested against these: graphs exported the
way other projects write them, not the way lenetkit's own exporter does. All
are float32, input "input" [batch, C, H, W] (mlp_flat: [batch, 784]) and output "output" [batch, 10],
with a symbolic batch axis "batch", do_constant_folding left at torch's
default (True) and, unless --opset says otherwise, opset 13.

- seed_view: the seed's LeNet (--weights, default testdata/lenet_trained.pth,
  loaded strictly into reference/lenet.py's LeNet), but flattening with
  x.view(x.size(0), -1) instead of nn.Flatten: the graph computes the shape
  (Shape, Gather, Unsqueeze, Concat, Reshape). Logits, input [1, 32, 32].
- seed_reshape: the same with x.reshape(x.shape[0], -1).
- seed_softmax: the seed's LeNet followed by nn.Softmax(dim=1): probabilities.
- lenet5: LeCun's LeNet-5 on the seed's 1x32x32 input (Conv 5x5, Tanh,
  AvgPool 2, Conv 5x5, Tanh, AvgPool 2, Linear 400-120-84-10 with Tanh),
  torch.manual_seed(0), trained for one epoch over the 60,000 training images
  in file order (Adam lr 3e-3, batches of 128, cross-entropy) on the seed's
  preprocessing (ToTensor then Pad(2), no normalisation). Logits.
- lenet5_resize: the same LeNet-5 trained the same way on MNIST's 28x28
  digits resized to 32x32 as LeNet-5 tutorials do, with torchvision's
  Resize(32) on its PIL images (PIL's bilinear) instead of Pad(2). Logits;
  "resize": 32 in its preprocessing.
- cnn28: a two-conv 28x28 MNIST CNN of the common kind (Conv 3x3 16, ReLU,
  MaxPool 2, Conv 3x3 32, ReLU, MaxPool 2, Linear 1568-64, ReLU,
  Dropout(0.25), Linear 64-10, LogSoftmax), torchvision-style
  Normalize(0.5, 0.5) on the unpadded 28x28 image, trained the same way with
  NLL loss. Log-probabilities, input [1, 28, 28].
- resnet_tiny: a small ResNet of the torchvision kind on the same 28x28
  input (Conv 3x3 16 + BatchNorm + ReLU, a basic block of two 3x3
  convolutions with BatchNorm and an identity shortcut, Conv 3x3 32 of
  stride 2 + BatchNorm + ReLU, a basic block of 32, global average
  pooling, Linear 32-10), trained the same way with cross-entropy. torch
  folds each BatchNorm into its convolution on export: the graph has Conv,
  Relu, Add, GlobalAveragePool, Flatten and Gemm. Logits.
- mobilenet_tiny: a small MobileNet (Conv 3x3 16 of stride 2 + BatchNorm +
  ReLU6, then depthwise-separable blocks of 16->32, 32->64 of stride 2 and
  64->64: depthwise 3x3, BatchNorm, ReLU6, pointwise 1x1, BatchNorm,
  ReLU6; global average pooling, Linear 64-10), trained likewise. ReLU6 is
  Clip with min and max inputs. Logits.
- mlp_flat: a multilayer perceptron as MNIST tutorials write it, whose
  caller flattens the image (x.view(-1, 784)) before the model: input
  [batch, 784], Linear 784-128, ReLU, Linear 128-128, ReLU, Linear 128-10,
  on the unpadded 28x28 image with no normalisation, trained the same way
  with cross-entropy. Logits.
- cnn28_rgb: cnn28 for colour images, its first convolution of 3 input
  channels, trained the same way on MNIST turned to 3 equal channels
  (torchvision's Grayscale(num_output_channels=3)), as RGB digit
  classifiers are: input [3, 28, 28], Normalize(0.5, 0.5) on each
  channel. Log-probabilities.
- seed_train: the seed's LeNet in train mode, exported with
  training=TrainingMode.TRAINING and do_constant_folding=False, for
  lenetkit's refusal tests; written as seed_train_op9/13/15.onnx. Its
  dropout is the element-wise nn.Dropout (LeNet(dropout_mode="element"),
  the same state dict): torch 1.13 cannot export the notebook's Dropout1d
  (aten::feature_dropout) in training mode at any opset. seed_train_row,
  the exact LeNet(), shows that failure.

The default mode writes NAME.onnx for the inference models and the
seed_train_op*.onnx files into --out-dir (default testdata/onnx next to this
folder), then runs every inference model in ONNX Runtime
(reference/ort_eval.js, npm onnxruntime-node) on all 10,000 MNIST test images
with its own preprocessing, and writes expected.json there: per model the
file, opset, input shape, preprocessing (pad, mean, std), output kind, ORT's
accuracy (percent, argmax == label) and mean cross-entropy loss computed in
float64 (logits: logsumexp(o) - o[label]; probabilities: -log p[label];
log-probabilities: -o[label]), and PyTorch's own figures on the same inputs
as torch_accuracy / torch_loss. A few minutes on 2 cores, most of it the
two training runs.

--add NAME,... trains and exports only those inference models and puts
their entries into --out-dir's expected.json beside the others, which it
leaves as they are.

--model NAME --opset N --out FILE writes one export at any opset 7..17 (the
tests call this at run time, so it takes seconds): lenet5 and cnn28 take
their trained weights from --out-dir's NAME.onnx, written by the default
mode, unless --retrain trains them again (needs the MNIST files).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mnist_idx  # noqa: E402
from lenet import LeNet  # noqa: E402

DEFAULT_OPSET = 13
TRAIN_BATCH = 128
TRAIN_LR = 3e-3
TRAINING_OPSETS = (9, 13, 15)
INFERENCE = ("seed_view", "seed_reshape", "seed_softmax", "lenet5", "cnn28", "resnet_tiny", "mobilenet_tiny", "mlp_flat",
             "cnn28_rgb", "lenet5_resize")


class ViewFlatten(nn.Module):
    """The seed's LeNet with its Flatten replaced by x.view or x.reshape."""

    def __init__(self, model, how):
        super().__init__()
        self.conv_layers = model.conv_layers
        self.fc = model.fc_layer[1:]  # Linear, Dropout1d, Linear: Flatten skipped
        self.how = how

    def forward(self, x):
        x = self.conv_layers(x)
        if self.how == "view":
            x = x.view(x.size(0), -1)
        else:
            x = x.reshape(x.shape[0], -1)
        return self.fc(x)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.Tanh(),
        nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10),
    )


def cnn28(channels=1):
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1568, 64), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(64, 10),
        nn.LogSoftmax(dim=1),
    )


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block, identity shortcut: relu(x + bn(conv(relu(bn(conv(x))))))."""

    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


def mlp_flat():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


def conv_bn(cin, cout, stride, act):
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), act()]


def resnet_tiny():
    return nn.Sequential(
        *conv_bn(1, 16, 1, nn.ReLU), BasicBlock(16),
        *conv_bn(16, 32, 2, nn.ReLU), BasicBlock(32),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )


def separable(cin, cout, stride):
    return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]


def mobilenet_tiny():
    return nn.Sequential(
        *conv_bn(1, 16, 2, nn.ReLU6),
        *separable(16, 32, 1), *separable(32, 64, 2), *separable(64, 64, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


# name -> input [C, H, W], preprocessing, output kind
SPECS = {
    "seed_view": ([1, 32, 32], {"pad": 2, "mean": 0, "std": 1}, "logits"),
    "seed_reshape": ([1, 32, 32], {"pad": 2, "mean": 0, "std": 1}, "logits"),
    "seed_softmax": ([1, 32, 32], {"pad": 2, "mean": 0, "std": 1}, "probabilities"),
    "lenet5": ([1, 32, 32], {"pad": 2, "mean": 0, "std": 1}, "logits"),
    "lenet5_resize": ([1, 32, 32], {"pad": 0, "mean": 0, "std": 1, "resize": 32}, "logits"),
    "cnn28": ([1, 28, 28], {"pad": 0, "mean": 0.5, "std": 0.5}, "log_probabilities"),
    "resnet_tiny": ([1, 28, 28], {"pad": 0, "mean": 0.5, "std": 0.5}, "logits"),
    "mobilenet_tiny": ([1, 28, 28], {"pad": 0, "mean": 0.5, "std": 0.5}, "logits"),
    "mlp_flat": ([784], {"pad": 0, "mean": 0, "std": 1}, "logits"),
    "cnn28_rgb": ([3, 28, 28], {"pad": 0, "mean": 0.5, "std": 0.5}, "log_probabilities"),
    "seed_train": ([1, 32, 32], {"pad": 2, "mean": 0, "std": 1}, "logits"),
    "seed_train_row": ([1, 32, 32], {"pad": 2, "mean": 0, "std": 1}, "logits"),
}
TRAINING = ("seed_train", "seed_train_row")
ARCHITECTURES = {"lenet5": lenet5, "lenet5_resize": lenet5, "cnn28": cnn28, "resnet_tiny": resnet_tiny, "mobilenet_tiny": mobilenet_tiny,
                 "mlp_flat": mlp_flat, "cnn28_rgb": lambda: cnn28(3)}


def prepare(x32, spec):
    """The seed's [N,1,32,32] images in a model's preprocessing."""
    _, pre, _ = spec
    x = x32 if pre["pad"] == 2 else x32[:, :, 2:30, 2:30].contiguous()
    if pre.get("resize"):
        x = pil_resize(x, pre["resize"])
    if pre["mean"] != 0 or pre["std"] != 1:
        x = (x - pre["mean"]) / pre["std"]
    if len(spec[0]) == 1:  # flattened by the caller, row by row
        x = x.reshape(x.shape[0], -1)
    elif spec[0][0] > 1:  # grey as equal colour channels
        x = x.expand(-1, spec[0][0], -1, -1).contiguous()
    return x


def pil_resize(x, side):
    """[N,1,28,28] images in [0, 1] resized to side x side as torchvision's
    Resize(side) does to the PIL images its MNIST gives: PIL's bilinear on
    the 8-bit pixels, then ToTensor's /255."""
    from PIL import Image
    import numpy as np

    pix = (x[:, 0] * 255).round().to(torch.uint8).numpy()
    out = np.stack([np.asarray(Image.fromarray(p, mode="L").resize((side, side), Image.BILINEAR)) for p in pix])
    return torch.from_numpy(out).to(torch.float32).div(255).unsqueeze(1)


def seed_lenet(weights, dropout_mode="row"):
    model = LeNet(dropout_mode=dropout_mode)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    return model


def train(model, spec, data_dir, loss_fn):
    """One epoch of Adam (lr TRAIN_LR) over the 60,000 training images, in file order."""
    x, y = mnist_idx.load(data_dir, "train")
    x = prepare(x, spec)
    opt = torch.optim.Adam(model.parameters(), lr=TRAIN_LR)
    model.train()
    for first in range(0, x.shape[0], TRAIN_BATCH):
        opt.zero_grad()
        loss = loss_fn(model(x[first:first + TRAIN_BATCH]), y[first:first + TRAIN_BATCH])
        loss.backward()
        opt.step()
    return model


def from_fixture(name, out_dir):
    """lenet5 or cnn28 with the weights of out_dir/NAME.onnx (initializers named as the state dict).

    resnet_tiny and mobilenet_tiny cannot come back this way: torch folded
    their BatchNorms into the convolutions.
    """
    import onnx
    from onnx import numpy_helper

    if name not in ("lenet5", "cnn28"):
        raise SystemExit(f"--model {name}: its fixture's BatchNorms are folded into the convolutions; "
                         "it cannot be exported again at another opset")
    path = os.path.join(out_dir, name + ".onnx")
    if not os.path.exists(path):
        raise SystemExit(f"{path}: missing; run onnx_zoo.py without --model first, or pass --retrain")
    inits = {t.name: t for t in onnx.load(path).graph.initializer}
    model = ARCHITECTURES[name]()
    state = {}
    for key in model.state_dict():
        if key not in inits:
            raise SystemExit(f"{path}: no initializer {key!r}")
        state[key] = torch.from_numpy(numpy_helper.to_array(inits[key]).copy())
    model.load_state_dict(state, strict=True)
    return model.eval()


def build(name, weights, data_dir, out_dir=None):
    """The module for NAME, in the mode its export wants.

    lenet5, cnn28, resnet_tiny and mobilenet_tiny are trained from
    torch.manual_seed(0), or lenet5 and cnn28 with out_dir read from the
    fixture there.
    """
    if name in ("seed_view", "seed_reshape"):
        return ViewFlatten(seed_lenet(weights), name[len("seed_"):]).eval()
    if name == "seed_softmax":
        return nn.Sequential(seed_lenet(weights), nn.Softmax(dim=1)).eval()
    if name == "seed_train":
        return seed_lenet(weights, dropout_mode="element").train()
    if name == "seed_train_row":
        return seed_lenet(weights).train()
    if name in ARCHITECTURES:
        if out_dir is not None:
            return from_fixture(name, out_dir)
        torch.manual_seed(0)
        loss = nn.functional.nll_loss if SPECS[name][2] == "log_probabilities" else nn.functional.cross_entropy
        return train(ARCHITECTURES[name](), SPECS[name], data_dir, loss).eval()
    raise SystemExit(f"unknown model {name!r}; want one of {', '.join(SPECS)}")


def export(name, model, opset, out):
    shape = SPECS[name][0]
    kwargs = dict(
        opset_version=opset,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )
    if name in TRAINING:
        kwargs.update(training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    tmp = out + ".tmp"
    try:
        with warnings.catch_warnings():
            # torch warns about Dropout1d's input rank, training-mode
            # exports and other harmless things.
            warnings.simplefilter("ignore")
            torch.onnx.export(model, torch.zeros(1, *shape), tmp, **kwargs)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, out)


def figures(out, y, kind):
    """(accuracy %, mean cross-entropy) of outputs [N,10] against labels, in float64."""
    o = out.to(torch.float64)
    acc = 100.0 * (o.argmax(dim=1) == y).to(torch.float64).mean().item()
    picked = o.gather(1, y.unsqueeze(1)).squeeze(1)
    if kind == "logits":
        loss = torch.logsumexp(o, dim=1) - picked
    elif kind == "probabilities":
        loss = -torch.log(picked)
    else:
        loss = -picked
    return acc, loss.mean().item()


def ort_outputs(path, x, tmpdir):
    """ONNX Runtime's first output [N,10] for x [N,C,H,W] or [N,D] (reference/ort_eval.js)."""
    n, c, h, w = x.shape if x.dim() == 4 else (x.shape[0], x.shape[1], "-", "-")
    inp = os.path.join(tmpdir, "input.f32")
    outp = os.path.join(tmpdir, "output.f32")
    x.contiguous().numpy().astype("<f4").tofile(inp)
    subprocess.run(["node", os.path.join(HERE, "ort_eval.js"), path, inp,
                    str(n), str(c), str(h), str(w), outp], check=True)
    with open(outp, "rb") as f:
        raw = f.read()
    os.remove(outp)
    if len(raw) != n * 10 * 4:
        raise SystemExit(f"ort_eval.js on {path}: {len(raw)} bytes, want {n * 10 * 4}")
    return torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(n, 10)


def ort_version():
    with open(os.path.join(HERE, "node_modules", "onnxruntime-node", "package.json")) as f:
        return json.load(f)["version"]


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def zoo(out_dir, weights, data_dir, names=INFERENCE):
    """Every fixture and expected.json; with names, only those models, merged into it."""
    os.makedirs(out_dir, exist_ok=True)
    merge = names != INFERENCE
    models = {}
    for name in names:
        models[name] = build(name, weights, data_dir)
        out = os.path.join(out_dir, name + ".onnx")
        export(name, models[name], DEFAULT_OPSET, out)
        print(os.path.relpath(out), os.path.getsize(out), "bytes")

    training = []
    for opset in () if merge else TRAINING_OPSETS:
        out = os.path.join(out_dir, f"seed_train_op{opset}.onnx")
        try:
            export("seed_train", build("seed_train", weights, data_dir), opset, out)
        except Exception as e:  # noqa: BLE001 - reported, the rest goes on
            first = (str(e).splitlines() or [""])[0]
            print(f"{os.path.relpath(out)}: not written: {type(e).__name__}: {first}", file=sys.stderr)
            continue
        training.append(os.path.basename(out))
        print(os.path.relpath(out), os.path.getsize(out), "bytes")

    x32, y = mnist_idx.load(data_dir, "test")
    out = os.path.join(out_dir, "expected.json")
    result = {"onnxruntime": ort_version(), "torch": torch.__version__, "models": {}}
    if merge:
        with open(out) as f:
            result = json.load(f)
        if result["onnxruntime"] != ort_version() or result["torch"] != torch.__version__:
            raise SystemExit(f"{out} was made with ONNX Runtime {result['onnxruntime']} and torch {result['torch']}, "
                             f"this is {ort_version()} and {torch.__version__}: run onnx_zoo.py without --add")
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in names:
            shape, pre, kind = SPECS[name]
            x = prepare(x32, SPECS[name])
            path = os.path.join(out_dir, name + ".onnx")
            acc, loss = figures(ort_outputs(path, x, tmpdir), y, kind)
            with torch.no_grad():
                t_out = torch.cat([models[name](x[i:i + 500]) for i in range(0, x.shape[0], 500)])
            t_acc, t_loss = figures(t_out, y, kind)
            result["models"][name] = {
                "file": name + ".onnx",
                "opset": DEFAULT_OPSET,
                "input": shape,
                "preprocess": pre,
                "output": kind,
                "accuracy": acc,
                "loss": loss,
                "images": int(x.shape[0]),
                "torch_accuracy": t_acc,
                "torch_loss": t_loss,
            }
            print(f"{name}: ORT {acc:.2f} % loss {loss:.6f}; torch {t_acc:.2f} % loss {t_loss:.6f}")
    if not merge:
        result["training_mode"] = training
        result["training_mode_model"] = (
            "seed LeNet with dropout_mode='element' (nn.Dropout), train mode, "
            "TrainingMode.TRAINING, do_constant_folding=False: torch "
            f"{torch.__version__} cannot export Dropout1d in training mode")
    write_json(out, result)
    print(os.path.relpath(out))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="one model: " + ", ".join(SPECS))
    p.add_argument("--add", help="only these inference models, comma-separated, merged into expected.json")
    p.add_argument("--opset", type=int, help=f"with --model: 7..17 (default {DEFAULT_OPSET})")
    p.add_argument("--out", help="with --model: the .onnx to write")
    p.add_argument("--out-dir", default=os.path.join(HERE, "..", "testdata", "onnx"))
    p.add_argument("--weights", default=os.path.join(HERE, "..", "testdata", "lenet_trained.pth"))
    p.add_argument("--data", help="MNIST .gz folder (default: the GoMNIST module's data/)")
    p.add_argument("--retrain", action="store_true",
                   help="with --model lenet5|cnn28: train again instead of reading --out-dir's fixture")
    a = p.parse_args()
    if (a.model is None) != (a.out is None):
        p.error("--model and --out go together")
    if a.add is not None and (a.model is not None or a.retrain):
        p.error("--add goes without --model and --retrain")
    added = tuple(a.add.split(",")) if a.add else INFERENCE
    if unknown := [n for n in added if n not in INFERENCE]:
        p.error(f"--add {','.join(unknown)}: want inference models among {', '.join(INFERENCE)}")
    if a.model is None and a.opset is not None:
        p.error("--opset goes with --model (the fixtures are opset 13, training-mode ones 9, 13, 15)")
    if a.opset is None:
        a.opset = DEFAULT_OPSET
    if not 7 <= a.opset <= 17:
        p.error(f"--opset {a.opset}: torch {torch.__version__} exports opsets 7..17")

    torch.set_num_threads(2)
    if a.retrain and a.model not in ("lenet5", "cnn28"):
        p.error("--retrain goes with --model lenet5 or cnn28")
    needs_data = a.model is None or a.retrain
    data_dir = a.data or (mnist_idx.default_data_dir() if needs_data else None)
    if a.model is not None:
        fixture_dir = None if a.retrain else a.out_dir
        export(a.model, build(a.model, a.weights, data_dir, fixture_dir), a.opset, a.out)
        return
    zoo(a.out_dir, a.weights, data_dir, added)


if __name__ == "__main__":
    main()
