"""PyTorch's figures for a state dict on the MNIST test set, both protocols.

    /usr/bin/python3 reference/eval_reference.py MODEL.pth [--data DIR]

Loads MODEL into reference/lenet.py's LeNet with strict=True (weights_only),
then prints JSON: the seed protocol (batches of 128, drop_last: 9,984 images,
mean of batch losses) and the full one (10,000 images, mean per-image loss),
each with the seed's printed lines. The peer figure for `lenetkit eval`.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_idx  # noqa: E402
from lenet import LeNet  # noqa: E402
from train_reference import evaluate, evaluate_full, loaders  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = args.data or mnist_idx.default_data_dir()
    model = LeNet()
    model.load_state_dict(torch.load(args.model, weights_only=True), strict=True)
    _, _, test_loader = loaders(data, 128)
    seed_acc, seed_loss = evaluate(model, test_loader)
    x, y = mnist_idx.load(data, "test")
    full_acc, full_loss = evaluate_full(model, x, y)
    out = {}
    for name, acc, loss, n in (("seed", seed_acc, seed_loss, 9984), ("full", full_acc, full_loss, x.shape[0])):
        out[name] = {"images": n, "accuracy": acc, "loss": loss,
                     "accuracy_line": f"Accuracy: {acc:.2f}%", "loss_line": f"Average Loss: {loss:.4f}"}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
