"""Write the ONNX fixtures in testdata/onnx/ with real PyTorch.

    onnx_fixtures.py [OUT_DIR]      (default: testdata/onnx next to this folder)

- mlp.onnx: torch.onnx.export (opset 13) of a small network that is not the
  seed's LeNet, Flatten -> Linear(1024, 16) -> ReLU -> Linear(16, 10), with
  torch.manual_seed(0) weights and the seed's input [batch, 1, 32, 32]. The
  import tests check that lenetkit refuses it with an error naming the first
  difference. About 67 KB.
"""
import os
import sys
import warnings

import torch
from torch import nn


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "testdata", "onnx")
    os.makedirs(out_dir, exist_ok=True)

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 16), nn.ReLU(), nn.Linear(16, 10)).eval()
    out = os.path.join(out_dir, "mlp.onnx")
    tmp = out + ".tmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            mlp, torch.zeros(1, 1, 32, 32), tmp, opset_version=13,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    os.replace(tmp, out)
    print(os.path.relpath(out), os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
