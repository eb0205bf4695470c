"""Check a .pth file with real PyTorch and describe it as JSON.

    pth_check.py FILE [--lenet]        describe FILE
    pth_check.py FILE --compare OTHER  compare FILE's tensors with OTHER's
    pth_check.py FILE --resave OUT     torch.save FILE's tensors to OUT

Describe loads FILE twice, with torch.load and with torch.load(...,
weights_only=True), requires both to give the same tensors, and prints
{"tensors": [{"name", "dtype", "shape", "sha256"}, ...], "weights_only": true}
in file order; sha256 is of the tensor's raw little-endian bytes, row-major.
With --lenet it also loads the dict into reference/lenet.py's LeNet with
strict=True and requires the model's state dict to equal the file's
("lenet_strict": true).

Compare prints {"equal": bool, "diffs": [...]}: same names in the same order,
and torch.equal, dtype and shape for every tensor.

Resave writes collections.OrderedDict(torch.load(FILE)) with torch.save, so
that a caller can compare its own writer's bytes with torch's.

Used by lenetkit's Go tests to check what convert.WritePTH writes.
"""
import argparse
import collections
import hashlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def raw_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16; the bits are what matter
    return t.numpy().tobytes()


def dtype_name(dtype):
    return str(dtype).replace("torch.", "")


def describe(t):
    return {
        "dtype": dtype_name(t.dtype),
        "shape": list(t.shape),
        "sha256": hashlib.sha256(raw_bytes(t)).hexdigest(),
    }


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


def load_dict(path, weights_only=False):
    sd = torch.load(path, map_location="cpu", weights_only=weights_only)
    if not isinstance(sd, dict):
        raise SystemExit(f"{path}: holds a {type(sd).__name__}, not a dict of tensors")
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise SystemExit(f"{path}: {k} is a {type(v).__name__}, not a tensor")
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--lenet", action="store_true")
    ap.add_argument("--compare")
    ap.add_argument("--resave")
    args = ap.parse_args()

    sd = load_dict(args.file)

    if args.resave:
        torch.save(collections.OrderedDict(sd.items()), args.resave)
        return

    if args.compare:
        other = load_dict(args.compare)
        diffs = []
        if list(sd.keys()) != list(other.keys()):
            diffs.append(f"names differ: {list(sd.keys())} vs {list(other.keys())}")
        for k in sd.keys() & other.keys():
            if not same(sd[k], other[k]):
                diffs.append(f"{k}: {sd[k].dtype} {list(sd[k].shape)} vs "
                             f"{other[k].dtype} {list(other[k].shape)} or values differ")
        print(json.dumps({"equal": not diffs, "diffs": sorted(diffs)}))
        return

    safe = load_dict(args.file, weights_only=True)
    weights_only = list(safe.keys()) == list(sd.keys()) and all(
        same(sd[k], safe[k]) for k in sd)
    out = {
        "tensors": [dict(name=k, **describe(v)) for k, v in sd.items()],
        "weights_only": weights_only,
    }
    if args.lenet:
        from lenet import LeNet
        model = LeNet()
        model.load_state_dict(sd, strict=True)
        got = model.state_dict()
        out["lenet_strict"] = list(got.keys()) == list(sd.keys()) and all(
            same(got[k], sd[k]) for k in sd)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
