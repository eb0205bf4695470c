"""Check a lenetkit --model run's training checkpoint with real PyTorch.

    graph_checkpoint_check.py CHECKPOINT.pth [STATE_DICT.pth]

Loads the checkpoint with torch.load(..., weights_only=True), the loader
that runs no code, and checks that Adam's moments under "optimizer" have a
tensor of their weight's shape for every trained weight. With STATE_DICT
(the initializers train writes beside the graph with --out FILE.pth), also
compares its tensors with the checkpoint's "model" by torch.equal. Prints
JSON: the top-level keys, the format, the state's kind, epoch, step and
global_step, the model's and the optimizer's tensor counts, and whether the
state dict is equal (with the names that differ). Exits 1 if loading fails.
"""
import json
import sys

import torch


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    ck = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
    state = json.loads(ck["state"])
    model = ck["model"]
    moments_fit = all(
        name in model and t.shape == model[name].shape
        for moments in ck["optimizer"].values() for name, t in moments.items())
    out = {
        "keys": sorted(ck),
        "format": ck["format"],
        "kind": state.get("kind", ""),
        "epoch": state["epoch"], "step": state["step"], "global_step": state["global_step"],
        "model": len(model),
        "optimizer": {k: len(v) for k, v in ck["optimizer"].items()},
        "moments_fit": moments_fit,
    }
    if len(sys.argv) == 3:
        sd = torch.load(sys.argv[2], map_location="cpu", weights_only=True)
        diffs = sorted(set(sd) ^ set(model))
        diffs += [k for k in sd if k in model and not torch.equal(sd[k], model[k])]
        out["equal"], out["diffs"] = not diffs, diffs
    print(json.dumps(out))


if __name__ == "__main__":
    main()
