"""The seed's recipe end to end in PyTorch: the peer that lenetkit's trainer is measured against.

    /usr/bin/python3 reference/train_reference.py --epochs 10 --out parameter.pth

Data: real MNIST (see mnist_idx.py), 55k/5k random_split of the training file
with torch.Generator().manual_seed(0), batch 128, drop_last everywhere, train
shuffled each epoch. Model: LeNet (lenet.py), Dropout1d 0.3. Loss:
CrossEntropyLoss. Optimiser: Adam(lr=1e-4, weight_decay=0.002), with
OneCycleLR(max_lr=1e-2) stepped every batch.

One deliberate difference from the notebook: the notebook gave OneCycleLR
steps_per_epoch=128, but its loader has 429 batches per epoch and PyTorch raises
once the schedule is stepped past its 1,280 steps. This script schedules
epochs * len(train_loader) steps, which is what any run that finished must have
done.

Test figures use the seed's protocol: test loader batch 128, drop_last=True
(78 batches, 9,984 images), accuracy = correct / 9,984, "Average Loss" = mean of
the 78 batch-mean losses.

Recipes (--recipe), which differ only in when the model leaves train mode:
  standard   model.train() every epoch, as the seed's text describes
  notebook   the notebook's code as it ran: train() once before the loop, and
             its accuracy() calls eval() with nothing switching back, so
             epochs 2-10 train in eval mode (BatchNorm's running statistics
             frozen, Dropout1d off; Adam still updates every parameter)
  published  what the published parameter.pth shows (num_batches_tracked 79):
             train mode for the first 79 steps, eval mode after
--freeze-bn-after N moves the switch point of notebook and published.
--json FILE writes the run's history, test and validation figures, seconds,
num_batches_tracked and the SHA-256 of the training images it read as JSON.

--data may name any folder of the four gzipped IDX files under MNIST's names,
Debian's Fashion-MNIST (/usr/share/datasets/fashion-mnist) among them.

--bench-steps N times N training steps (after 3 warm-up steps) on batches drawn
beforehand, so loader time is not counted, and prints {"train_ms_per_step": ...}.
"""
import argparse
import gzip
import hashlib
import json
import os
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset, random_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_idx  # noqa: E402
from lenet import LeNet  # noqa: E402

TRAIN, VAL = 55_000, 5_000
LR, WEIGHT_DECAY, MAX_LR = 1e-4, 0.002, 1e-2


def loaders(data_dir, batch_size, limit=0):
    """(train, val, test) loaders as the seed builds them; limit > 0 keeps that many training images."""
    x, y = mnist_idx.load(data_dir, "train")
    train_set, val_set = random_split(TensorDataset(x, y), [TRAIN, VAL],
                                      generator=torch.Generator().manual_seed(0))
    if limit > 0:
        train_set = Subset(train_set, range(min(limit, len(train_set))))
    tx, ty = mnist_idx.load(data_dir, "test")
    test_set = TensorDataset(tx, ty)
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True),
            DataLoader(val_set, batch_size=batch_size, shuffle=False, drop_last=True),
            DataLoader(test_set, batch_size=batch_size, shuffle=False, drop_last=True))


def optimiser(model, total_steps):
    """Adam + OneCycleLR as the seed sets them, scheduled over total_steps."""
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR, total_steps=total_steps)
    return opt, sched


def train_step(model, opt, sched, x, y, criterion):
    opt.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def evaluate(model, loader):
    """Seed protocol: (accuracy %, mean of batch-mean losses) over the loader's batches."""
    model.eval()
    criterion = nn.CrossEntropyLoss()
    correct = seen = 0
    total_loss = 0.0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total_loss += criterion(out, y).item()
            correct += (out.argmax(1) == y).sum().item()
            seen += y.shape[0]
    return correct / seen * 100, total_loss / len(loader)


def evaluate_full(model, x, y, batch_size=1000):
    """Every image counted once: (accuracy %, mean per-image loss)."""
    model.eval()
    correct = 0
    total_loss = 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            out = model(x[i:i + batch_size])
            t = y[i:i + batch_size]
            total_loss += nn.functional.cross_entropy(out, t, reduction="sum").double().item()
            correct += (out.argmax(1) == t).sum().item()
    return correct / x.shape[0] * 100, total_loss / x.shape[0]


RECIPES = ("standard", "notebook", "published")
PUBLISHED_FREEZE = 79  # num_batches_tracked in the seed's published parameter.pth


def freeze_point(recipe, steps_per_epoch, override=None):
    """The global step after which the model trains in eval mode; None: never."""
    if recipe == "standard":
        return None
    if override is not None:
        return override
    return steps_per_epoch if recipe == "notebook" else PUBLISHED_FREEZE


def train(model, train_loader, val_loader, epochs, log=print, freeze_after=None):
    """Runs the recipe; returns one dict per epoch (train loss, val acc/loss, seconds).

    freeze_after=None trains in train mode every epoch; freeze_after=N trains
    the first N steps in train mode and every later one in eval mode."""
    opt, sched = optimiser(model, epochs * len(train_loader))
    criterion = nn.CrossEntropyLoss()
    history = []
    global_step = 0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        total = 0.0
        for x, y in train_loader:
            # evaluate() leaves the model in eval mode; set the mode the recipe wants.
            model.train(freeze_after is None or global_step < freeze_after)
            total += train_step(model, opt, sched, x, y, criterion)
            global_step += 1
        train_loss = total / len(train_loader)
        val_acc, val_loss = evaluate(model, val_loader)
        secs = time.perf_counter() - start
        history.append({"epoch": epoch, "train_loss": train_loss, "val_acc": val_acc,
                        "val_loss": val_loss, "seconds": secs})
        log(f"epoch {epoch}/{epochs}  train loss {train_loss:.4f}  "
            f"val acc {val_acc:.2f}%  val loss {val_loss:.4f}  {secs:.1f}s")
    return history


class Fixed:
    """A scheduler that leaves the learning rate and betas as they are."""

    def step(self):
        pass


def bench(model, train_loader, steps, epochs, trained=False, adam_state=None):
    """Times steps training steps in train mode. trained: the model holds
    trained weights, and every step runs at the rate and beta1 where the
    seed's schedule ends (OneCycleLR's max_lr/25/1e4 and 0.95). adam_state:
    Adam's step count and moments by parameter name, from a lenetkit
    checkpoint, so that the steps read the moments the run ended with."""
    warmup = 3
    batches = []
    while len(batches) < warmup + steps:
        for b in train_loader:
            batches.append(b)
            if len(batches) == warmup + steps:
                break
    if trained:
        opt = torch.optim.Adam(model.parameters(), lr=MAX_LR / 25 / 1e4, betas=(0.95, 0.999),
                               weight_decay=WEIGHT_DECAY)
        sched = Fixed()
        if adam_state is not None:
            step, exp_avg, exp_avg_sq = adam_state
            for name, param in model.named_parameters():
                opt.state[param] = {"step": torch.tensor(float(step)), "exp_avg": exp_avg[name].clone(),
                                    "exp_avg_sq": exp_avg_sq[name].clone()}
    else:
        opt, sched = optimiser(model, max(epochs * len(train_loader), warmup + steps))
    criterion = nn.CrossEntropyLoss()
    model.train()
    for x, y in batches[:warmup]:
        train_step(model, opt, sched, x, y, criterion)
    start = time.perf_counter()
    for x, y in batches[warmup:]:
        train_step(model, opt, sched, x, y, criterion)
    ms = (time.perf_counter() - start) * 1000 / steps
    return {"train_ms_per_step": ms, "peak_rss_bytes": peak_rss_bytes(), "steps": steps, "warmup_steps": warmup,
            "weights": "trained" if trained else "fresh", "adam_state": adam_state is not None,
            "lr": opt.param_groups[0]["lr"],
            "batch_size": train_loader.batch_size, "threads": torch.get_num_threads(),
            "torch": torch.__version__}


def peak_rss_bytes():
    """This process's peak resident memory (VmHWM): its own, unlike the
    rusage a parent sees, which starts from the parent's at spawn."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def images_sha256(data_dir):
    """SHA-256 of the training images' decompressed IDX file: which data set the run read."""
    with gzip.open(os.path.join(data_dir, mnist_idx.FILES["train"][0]), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def save_atomic(obj, path):
    """torch.save to a temporary file beside path, then rename it into place."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), "." + os.path.basename(path) + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="folder with the MNIST .gz files (default: GoMNIST's data/ in the Go module cache)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--limit", type=int, default=0, help="train on only the first N images of the 55k split")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed before the model is built")
    p.add_argument("--out", help="write model.state_dict() here")
    p.add_argument("--recipe", choices=RECIPES, default="standard")
    p.add_argument("--freeze-bn-after", type=int, default=None, metavar="N",
                   help="notebook/published: train mode for the first N steps, eval mode after")
    p.add_argument("--dropout-mode", choices=("row", "element"), default="row")
    p.add_argument("--json", metavar="FILE", help="write the run's figures here as JSON")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bench-steps", type=int, default=0, help="time N training steps and exit")
    p.add_argument("--weights", help="--bench-steps: start from this state dict, or a lenetkit checkpoint's model and "
                                     "Adam state, at the schedule's final lr and beta1")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = LeNet(dropout_mode=args.dropout_mode)
    data_dir = args.data or mnist_idx.default_data_dir()
    train_loader, val_loader, test_loader = loaders(data_dir, args.batch_size, args.limit)
    if args.bench_steps > 0:
        adam_state = None
        if args.weights:
            obj = torch.load(args.weights, weights_only=True)
            if "format" in obj and "model" in obj:  # a lenetkit checkpoint: the model and Adam's state
                model.load_state_dict(obj["model"])
                state = json.loads(obj["state"])
                if state["adam_step"] > 0:
                    adam_state = (state["adam_step"], obj["optimizer"]["exp_avg"], obj["optimizer"]["exp_avg_sq"])
            else:
                model.load_state_dict(obj)
        print(json.dumps(bench(model, train_loader, args.bench_steps, args.epochs, trained=bool(args.weights),
                               adam_state=adam_state)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(train_loader)} steps/epoch, schedule over {args.epochs * len(train_loader)} steps")
    freeze = freeze_point(args.recipe, len(train_loader), args.freeze_bn_after)
    print(f"recipe {args.recipe}: " + ("train mode every step" if freeze is None else
                                       f"train mode for {freeze} steps, eval mode after") +
          f"; dropout {args.dropout_mode}")
    start = time.perf_counter()
    history = train(model, train_loader, val_loader, args.epochs, freeze_after=freeze)
    seconds = time.perf_counter() - start
    if args.out:
        save_atomic(model.state_dict(), args.out)
    acc, loss = evaluate(model, test_loader)
    print(f"Accuracy: {acc:.2f}%")
    print(f"Average Loss: {loss:.4f}")
    if args.json:
        tx, ty = mnist_idx.load(data_dir, "test")
        facc, floss = evaluate_full(model, tx, ty)
        result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                  "recipe": args.recipe, "freeze_bn_after": freeze, "dropout_mode": args.dropout_mode,
                  "seed": args.seed, "epochs": args.epochs, "limit": args.limit,
                  "steps_per_epoch": len(train_loader), "history": history,
                  "train_seconds": seconds, "peak_rss_bytes": peak_rss_bytes(),
                  "num_batches_tracked": int(model.conv_layers[2].num_batches_tracked),
                  "val": {"accuracy": history[-1]["val_acc"], "loss": history[-1]["val_loss"]},
                  "test": {"accuracy": acc, "loss": loss},
                  "test_full": {"accuracy": facc, "loss": floss},
                  "train_images_sha256": images_sha256(data_dir)}
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
