"""Check a lenetkit training checkpoint with real PyTorch.

    checkpoint_check.py CHECKPOINT.pth

Loads the file with torch.load(..., weights_only=True), the loader that runs
no code, loads its "model" entry into reference/lenet.py's LeNet with
strict=True, and prints JSON: the top-level keys, the format, whether the
model loaded, the optimizer's entries with their tensor counts, and the
state's epoch, step and global_step. Exits 1 if any of it fails.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lenet import LeNet  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    ck = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
    model = LeNet()
    model.load_state_dict(ck["model"], strict=True)
    state = json.loads(ck["state"])
    print(json.dumps({
        "keys": sorted(ck),
        "format": ck["format"],
        "model_loaded": True,
        "optimizer": {k: len(v) for k, v in ck["optimizer"].items()},
        "epoch": state["epoch"], "step": state["step"], "global_step": state["global_step"],
    }))


if __name__ == "__main__":
    main()
