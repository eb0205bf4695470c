"""The reproduction study: which recipe reproduces the seed's 99.16 % / 0.0253.

    /usr/bin/python3 reference/study.py run torch [--seeds 0,1,2] [--cells ...]
    /usr/bin/python3 reference/study.py run lenetkit [--seeds 0,1,2,3,4] [--bin PATH]
    /usr/bin/python3 reference/study.py sweep [--points 0,20,79,200,429,never]
    /usr/bin/python3 reference/study.py table            # markdown, from the JSON files
    /usr/bin/python3 reference/study.py sweep-table      # the switch point against the figures

Every run writes one JSON file under docs/study/ (SIDE/CELL-sSEED.json); a run
whose file exists is skipped, so an interrupted study resumes where it stopped.
Runs go one after another: each one's seconds are only comparable on a quiet
machine.

Cells:
  standard-row      train mode every epoch, Dropout1d (rows), as the seed's text says
  standard-element  train mode every epoch, element-wise dropout
  notebook          the notebook's code as it ran: eval mode after the first validation
  published         train mode for 79 steps, eval mode after (the published file's statistics)
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDY = os.path.join(ROOT, "docs", "study")
CELLS = {
    "standard-row": {"recipe": "standard", "dropout_mode": "row"},
    "standard-element": {"recipe": "standard", "dropout_mode": "element"},
    "notebook": {"recipe": "notebook", "dropout_mode": "row"},
    "published": {"recipe": "published", "dropout_mode": "row"},
}
SEED_FIGURES = {"test": {"accuracy": 99.16, "loss": 0.0253},
                "wandb_summary": {"val_acc": 97.095, "val_loss": 0.09437, "train_loss": 0.02285}}


def run_torch(cell, seed, path, threads=2):
    c = CELLS[cell]
    cmd = [sys.executable, os.path.join(ROOT, "reference", "train_reference.py"), "--epochs", "10",
           "--seed", str(seed), "--recipe", c["recipe"], "--dropout-mode", c["dropout_mode"], "--json", path,
           "--threads", str(threads)]
    if "freeze" in c:
        cmd += ["--freeze-bn-after", str(c["freeze"])]
    subprocess.run(cmd, check=True)


def run_lenetkit(cell, seed, path, binary):
    c = CELLS[cell]
    logdir = path[:-len(".json")] + ".run"  # the run's log and weights; not committed
    os.makedirs(logdir, exist_ok=True)
    cmd = [binary, "train", "--seed", str(seed), "--recipe", c["recipe"], "--dropout-mode", c["dropout_mode"],
           "--out", os.path.join(logdir, "parameter.pth"), "--log-dir", logdir, "--format", "json", "--force"]
    if "freeze" in c:
        cmd += ["--freeze-bn-after", str(c["freeze"])]
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    wall = time.perf_counter() - start
    res = json.loads(out)
    res["out"] = os.path.relpath(res["out"], ROOT)  # no machine's path in a committed file
    res["wall_seconds"] = wall
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def run(side, cells, seeds, binary=None, threads=2):
    os.makedirs(os.path.join(STUDY, side), exist_ok=True)
    for cell in cells:
        for seed in seeds:
            path = os.path.join(STUDY, side, f"{cell}-s{seed}.json")
            if os.path.exists(path):
                print(f"{side} {cell} seed {seed}: done before, skipped", flush=True)
                continue
            print(f"{side} {cell} seed {seed} ...", flush=True)
            if side == "torch":
                run_torch(cell, seed, path, threads)
            else:
                run_lenetkit(cell, seed, path, binary)


def load(side):
    d = os.path.join(STUDY, side)
    out = {}
    if not os.path.isdir(d):
        return out
    for name in sorted(os.listdir(d)):
        if name.endswith(".json"):
            cell, _, seed = name[:-len(".json")].rpartition("-s")
            with open(os.path.join(d, name)) as f:
                out.setdefault(cell, {})[int(seed)] = json.load(f)
    return out


def figures(side, r):
    """(test acc, test loss, val acc, val loss, seconds, tracked) of one run's JSON, either side."""
    if side == "torch":
        return (r["test"]["accuracy"], r["test"]["loss"], r["val"]["accuracy"], r["val"]["loss"],
                r["train_seconds"], r["num_batches_tracked"])
    last = r["epochs"][-1]
    return (r["accuracy"], r["loss"], last["val_acc"], last["val_loss"], r["wall_seconds"], r["num_batches_tracked"])


def stats(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd, min(xs), max(xs)


def table():
    print("| cell | side | runs | test accuracy % mean ± sd [min, max] | test loss mean ± sd [min, max] "
          "| val accuracy % | val loss | seconds | num_batches_tracked |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| the seed | PyTorch notebook | 1 | {SEED_FIGURES['test']['accuracy']:.2f} | "
          f"{SEED_FIGURES['test']['loss']:.4f} | {SEED_FIGURES['wandb_summary']['val_acc']:.2f} (W&B) | "
          f"{SEED_FIGURES['wandb_summary']['val_loss']:.4f} (W&B) | | 79 |")
    sides = {"lenetkit": load("lenetkit"), "torch": load("torch")}
    for cell in CELLS:  # the sweep's runs have a table of their own
        for side, label in (("lenetkit", "lenetkit"), ("torch", "PyTorch")):
            runs = sides[side].get(cell)
            if not runs:
                continue
            f = [figures(side, runs[s]) for s in sorted(runs)]
            acc, loss = stats([x[0] for x in f]), stats([x[1] for x in f])
            va, vl, secs = stats([x[2] for x in f]), stats([x[3] for x in f]), stats([x[4] for x in f])
            tracked = sorted({x[5] for x in f})
            print(f"| {cell} | {label} | {len(f)} (seeds {','.join(map(str, sorted(runs)))}) "
                  f"| {acc[0]:.2f} ± {acc[1]:.2f} [{acc[2]:.2f}, {acc[3]:.2f}] "
                  f"| {loss[0]:.4f} ± {loss[1]:.4f} [{loss[2]:.4f}, {loss[3]:.4f}] "
                  f"| {va[0]:.2f} | {vl[0]:.4f} | {secs[0]:.0f} | {','.join(map(str, tracked))} |")


def sweep_table(seed=0):
    """The switch point against the figures, lenetkit, one seed: the sweep's
    runs with the published (79), notebook (429) and standard (never) cells'."""
    runs = load("lenetkit")
    rows = []
    for cell in runs:
        if cell.startswith("freeze-"):
            rows.append((int(cell[len("freeze-"):]), cell))
    rows += [(PUBLISHED, "published"), (NOTEBOOK, "notebook"), (None, "standard-row")]
    rows.sort(key=lambda r: float("inf") if r[0] is None else r[0])
    print("| switch to eval mode after step | from | test accuracy % | test loss | val accuracy % | val loss | num_batches_tracked |")
    print("|---|---|---|---|---|---|---|")
    for point, cell in rows:
        r = runs.get(cell, {}).get(seed)
        if r is None:
            continue
        acc, loss, va, vl, _, tracked = figures("lenetkit", r)
        label = "never" if point is None else str(point)
        print(f"| {label} | {cell} | {acc:.2f} | {loss:.4f} | {va:.2f} | {vl:.4f} | {tracked} |")


PUBLISHED, NOTEBOOK = 79, 429


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("side", choices=("torch", "lenetkit"))
    r.add_argument("--seeds", default=None)
    r.add_argument("--cells", default=",".join(CELLS))
    r.add_argument("--bin", default=os.path.join(ROOT, "lenetkit"), help="the lenetkit binary (go build ./cmd/lenetkit)")
    r.add_argument("--threads", type=int, default=2, help="PyTorch's threads")
    s = sub.add_parser("sweep", help="lenetkit, seed 0: the published recipe at other switch points")
    s.add_argument("--points", default="0,20,200")
    s.add_argument("--seeds", default="0")
    s.add_argument("--bin", default=os.path.join(ROOT, "lenetkit"))
    sub.add_parser("table")
    sub.add_parser("sweep-table")
    args = p.parse_args()
    if args.cmd == "table":
        table()
        return
    if args.cmd == "sweep-table":
        sweep_table()
        return
    if args.cmd == "sweep":
        names = []
        for pt in args.points.split(","):
            name = f"freeze-{pt}"
            CELLS[name] = {"recipe": "published", "dropout_mode": "row", "freeze": int(pt)}
            names.append(name)
        run("lenetkit", names, [int(x) for x in args.seeds.split(",")], args.bin)
        return
    seeds = args.seeds or ("0,1,2" if args.side == "torch" else "0,1,2,3,4")
    run(args.side, args.cells.split(","), [int(x) for x in seeds.split(",")], args.bin, args.threads)


if __name__ == "__main__":
    main()
