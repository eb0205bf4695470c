"""PyTorch's twin of `lenetkit train --model FILE.onnx --init`: an ONNX graph's architecture trained from scratch.

    /usr/bin/python3 reference/train_graph_reference.py --model lenet5 --seed 0 --json out.json
    /usr/bin/python3 reference/train_graph_reference.py --model cnn28 --seed 1 --epochs 5

The peer of docs/study/graph-training.md. For --model lenet5
(testdata/onnx/lenet5.onnx) or cnn28 (testdata/onnx/cnn28.onnx) it builds the
graph's network as an nn.Sequential whose parameter names are the ONNX file's
initializer names ("0.weight", "7.bias", ...), checks that it is that graph
(below), initialises it as PyTorch's modules do under torch.manual_seed(seed),
and trains it with what lenetkit's --model run does:

- data: MNIST (or any IDX set with MNIST's file names, --data), ToTensor
  pixels in [0, 1]; lenet5 takes Pad(2) (32x32: lenetkit pads a 32x32 graph's
  28x28 images by 2), cnn28 nothing more (lenetkit feeds a graph without
  `preprocess` metadata mean 0, std 1; cnn28.onnx was made with
  Normalize(0.5, 0.5), which is not used here, as lenetkit does not).
  Validation: 1/12 of the training part ((n + 6) // 12: 5,000 of 60,000),
  split off with random_split seeded with --seed (lenetkit splits with its
  --seed too, with its own generator, so not the same images); batch 128,
  shuffled every epoch, drop_last (429 steps an epoch).
- loss: F.cross_entropy of the logits, mean over the batch. cnn28's graph
  ends in LogSoftmax: the module stops before it and the loss takes its
  input, as lenetkit's loss reads past a final (Log)Softmax. The Dropout
  that made cnn28.onnx's node 9 is not in the graph, so neither here nor in
  lenetkit.
- optimiser: torch.optim.Adam(lr=max_lr/25, betas (0.9, 0.999), eps 1e-8,
  weight_decay=0.002: coupled L2, on every parameter, biases included)
  under OneCycleLR(max_lr, total_steps = epochs * steps, pct_start 0.3,
  cos annealing, div_factor 25, final_div_factor 1e4, cycle_momentum with
  base/max momentum 0.85/0.95: beta1 0.95 -> 0.85 -> 0.95), stepped after
  every batch: the schedule of train/schedule.go, which the repository's
  testdata/onecycle.json checks against PyTorch's at every step.
- figures: validation after every epoch and the 10,000 test images at the
  end, every image counted once (accuracy, mean per-image cross-entropy),
  and per-class accuracy, as lenetkit's --model run reports them.

The check: the ONNX file's own weights are loaded into the module and its
logits compared with onnx_train_parity.py's node-for-node mirror of the
graph (which also fails on any node, attribute or initializer it does not
expect) on 64 test images; the largest difference is printed and written.

--json FILE writes the run's figures (history per epoch, test, per class,
seconds, the check) as JSON.

--init-from FILE.onnx starts from that file's initializers instead of
PyTorch's initialisation (everything else as above): given the graph
lenetkit's --init drew (written after one step at a negligible rate), it
trains lenetkit's starting point, so that only the data's order differs.

--evaluate FILE.onnx trains nothing: it loads that file's initializers (a
graph lenetkit trained, say) into the module and prints its test figures as
JSON, PyTorch's measure of lenetkit's weights.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset, random_split

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import mnist_idx  # noqa: E402
import onnx_train_parity as parity  # noqa: E402

MODELS = ("lenet5", "cnn28")
PAD = {"lenet5": 2, "cnn28": 0}
CHECK_TOL = 1e-5


def build(name):
    """The graph's network; parameter names are the ONNX initializer names."""
    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),      # 0 1 2 (the graph's Pad of zeros, then AveragePool)
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),     # 3 4 5
            nn.Flatten(),                                        # 6
            nn.Linear(400, 120), nn.Tanh(),                      # 7 8
            nn.Linear(120, 84), nn.Tanh(),                       # 9 10
            nn.Linear(84, 10))                                   # 11
    if name == "cnn28":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 0 1 2
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 3 4 5
            nn.Flatten(),                                                  # 6
            nn.Linear(1568, 64), nn.ReLU(),                                # 7 8
            nn.Identity(),                                                 # 9: was Dropout, absent from the graph
            nn.Linear(64, 10))                                             # 10; the graph's LogSoftmax follows
    raise ValueError(name)


def mirror_check(name, x):
    """Largest |logit difference| between the module holding the ONNX file's
    weights and onnx_train_parity.py's node-for-node mirror of the graph."""
    spec = parity.FIXTURES[name]
    m = parity.Model(name, os.path.join(ROOT, spec["model"]), spec["shapes"], spec.get("buffers", {}))
    with torch.no_grad():
        want, _ = spec["forward"](parity.Walk(m), m, x, False)
        net = build(name)
        got_names = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        if got_names != {k: tuple(v) for k, v in spec["shapes"].items()}:
            raise SystemExit(f"{name}: module parameters {got_names} are not the graph's {spec['shapes']}")
        net.load_state_dict({k: v.detach() for k, v in m.params.items()}, strict=True)
        net.eval()
        got = net(x)
    return float((got - want).abs().max())


def images(data_dir, part, pad):
    """(x [N,1,28+2p,28+2p] float32 in [0, 1], y [N] int64): ToTensor, then Pad(pad)."""
    img, lab = mnist_idx.FILES[part]
    x = mnist_idx.read_images(os.path.join(data_dir, img)).to(torch.float32).div(255.0).unsqueeze(1)
    if pad:
        x = F.pad(x, (pad, pad, pad, pad))
    y = mnist_idx.read_labels(os.path.join(data_dir, lab)).to(torch.int64)
    if x.shape[0] != y.shape[0]:
        raise SystemExit(f"{part}: {x.shape[0]} images but {y.shape[0]} labels")
    return x, y


def evaluate(net, x, y, classes=10, batch=1000):
    """Every image once: (accuracy %, mean cross-entropy, per-class accuracy %)."""
    net.eval()
    correct = torch.zeros(classes, dtype=torch.int64)
    count = torch.bincount(y, minlength=classes)
    total = 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            out = net(x[i:i + batch])
            t = y[i:i + batch]
            total += F.cross_entropy(out, t, reduction="sum").double().item()
            hit = out.argmax(1) == t
            correct += torch.bincount(t[hit], minlength=classes)
    per_class = {str(k): 100.0 * int(correct[k]) / int(count[k]) for k in range(classes) if count[k] > 0}
    return 100.0 * int(correct.sum()) / x.shape[0], total / x.shape[0], per_class


def onnx_weights(path):
    """An ONNX file's float initializers, by name."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    return {t.name: torch.from_numpy(numpy_helper.to_array(t).astype("float32"))
            for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}


def evaluate_file(name, path, tx, ty):
    """PyTorch's test figures for the float initializers of an ONNX file of the graph."""
    net = build(name)
    net.load_state_dict(onnx_weights(path), strict=True)
    acc, loss, per_class = evaluate(net, tx, ty)
    return {"torch": torch.__version__, "test_accuracy": acc, "test_loss": loss, "test_images": tx.shape[0],
            "per_class_accuracy": per_class}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=MODELS, required=True)
    p.add_argument("--data", help="folder with the four IDX .gz files (default: GoMNIST's data/ in the Go module cache)")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed before the model is built; the split's seed")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--max-lr", type=float, default=1e-2)
    p.add_argument("--weight-decay", type=float, default=0.002)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", metavar="FILE", help="write the run's figures here as JSON")
    p.add_argument("--evaluate", metavar="FILE", help="only test this ONNX file's weights (of --model's graph)")
    p.add_argument("--init-from", metavar="FILE", help="start from this ONNX file's weights (of --model's graph)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    data_dir = args.data or mnist_idx.default_data_dir()
    pad = PAD[args.model]
    x, y = images(data_dir, "train", pad)
    tx, ty = images(data_dir, "test", pad)
    check = mirror_check(args.model, tx[:64])
    print(f"{args.model}: the module holding the ONNX file's weights gives the graph's logits "
          f"within {check:.2e} on 64 test images")
    if not check <= CHECK_TOL:
        raise SystemExit(f"{args.model}: the module is not the graph (difference {check:g} > {CHECK_TOL})")
    if args.evaluate:
        print(json.dumps(evaluate_file(args.model, args.evaluate, tx, ty)))
        return

    n_val = (x.shape[0] + 6) // 12
    train_set, val_set = random_split(TensorDataset(x, y), [x.shape[0] - n_val, n_val],
                                      generator=torch.Generator().manual_seed(args.seed))
    vx, vy = x[val_set.indices], y[val_set.indices]

    torch.manual_seed(args.seed)
    net = build(args.model)            # PyTorch's default initialisation, seeded
    if args.init_from:
        net.load_state_dict(onnx_weights(args.init_from), strict=True)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True)
    steps = len(loader)
    opt = torch.optim.Adam(net.parameters(), lr=args.max_lr / 25, betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.max_lr, total_steps=args.epochs * steps, pct_start=0.3, anneal_strategy="cos",
        cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0, final_div_factor=1e4)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(train_set)} training, "
          f"{n_val} validation, {tx.shape[0]} test images; {steps} steps/epoch, schedule over {args.epochs * steps}")

    history = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        net.train()
        t0 = time.perf_counter()
        total, last = 0.0, 0.0
        for bx, by in loader:
            opt.zero_grad()
            loss = F.cross_entropy(net(bx), by)
            loss.backward()
            opt.step()
            sched.step()
            last = loss.item()
            total += last
        train_s = time.perf_counter() - t0
        val_acc, val_loss, _ = evaluate(net, vx, vy)
        history.append({"epoch": epoch, "train_loss": total / steps, "last_step_loss": last,
                        "val_acc": val_acc, "val_loss": val_loss, "train_seconds": train_s,
                        "seconds": time.perf_counter() - t0})
        print(f"epoch {epoch}: train loss {total / steps:.4f} (last step {last:.4f}), validation accuracy "
              f"{val_acc:.2f} %, loss {val_loss:.4f} ({train_s:.1f} s)", flush=True)
    acc, loss, per_class = evaluate(net, tx, ty)
    seconds = time.perf_counter() - start
    print(f"Accuracy: {acc:.2f}%")
    print(f"Average Loss: {loss:.4f}")
    print(f"({tx.shape[0]} test images, {seconds:.0f} s)")
    if args.json:
        result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "model": args.model,
                  "onnx": parity.FIXTURES[args.model]["model"], "mirror_check_max_abs_diff": check,
                  "seed": args.seed, "epochs": args.epochs, "batch_size": args.batch_size,
                  "max_lr": args.max_lr, "weight_decay": args.weight_decay, "pad": pad,
                  "init_from": os.path.basename(args.init_from) if args.init_from else None,
                  "train_images": len(train_set), "val_images": n_val, "steps_per_epoch": steps,
                  "parameters": sum(p.numel() for p in net.parameters()),
                  "history": history, "seconds": seconds,
                  "test_accuracy": acc, "test_loss": loss, "test_images": tx.shape[0],
                  "per_class_accuracy": per_class}
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
