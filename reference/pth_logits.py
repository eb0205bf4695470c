"""Run PyTorch's LeNet on raw images and write its logits.

    pth_logits.py MODEL.pth INPUT.f32 N OUT.f32

Loads MODEL.pth strictly (load_state_dict(strict=True)) into
reference/lenet.py's LeNet, puts it in eval mode (BatchNorm on its running
statistics, dropout off), runs the N images of INPUT.f32 (raw little-endian
float32, shape [N, 1, 32, 32]) through it and writes the [N, 10] logits to
OUT.f32 as raw little-endian float32. The reference for lenetkit's own
forward pass.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lenet import LeNet  # noqa: E402


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    model_path, input_path, n, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

    raw = np.fromfile(input_path, dtype="<f4")
    if raw.size != n * 32 * 32:
        sys.exit(f"{input_path}: {raw.size} floats, want {n} x 1 x 32 x 32 = {n * 32 * 32}")
    x = torch.from_numpy(raw.reshape(n, 1, 32, 32).copy())

    model = LeNet()
    model.load_state_dict(torch.load(model_path, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(x)

    tmp = out_path + ".tmp"
    logits.numpy().astype("<f4").tofile(tmp)
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
