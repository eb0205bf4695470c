"""A small colour (RGB) image classifier as torch.onnx.export writes it.

    rgb_model.py [--out FILE]

lenetkit's images are grey, but a served model takes tensors, and people
bring colour models (CIFAR-sized CNNs). This writes one for lenetkit serve's
tensor routes to run against ONNX Runtime: input "input" [batch, 3, 16, 16],
output "output" [batch, 4] logits; Conv 3x3 3->8, ReLU, MaxPool 2, Conv 3x3
8->16, ReLU, global average pooling, Linear 16->4. Its weights are
torch.manual_seed(0)'s initialisation, untrained: what is checked is that
the same tensors give the same logits, not what they mean. Opset 13, a
symbolic batch axis. Default --out: testdata/onnx/rgb_tiny.onnx beside this
folder.
"""

import argparse
import os
import warnings

import torch
from torch import nn


def model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4),
    ).eval()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(here, "..", "testdata", "onnx", "rgb_tiny.onnx"))
    args = p.parse_args()
    tmp = args.out + ".tmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model(), torch.zeros(1, 3, 16, 16), tmp, opset_version=13,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    os.replace(tmp, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
