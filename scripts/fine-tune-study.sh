#!/usr/bin/env bash
# The fine-tuning study of docs/study/fine-tuning.md, rerun: the seed's
# published LeNet, converted to ONNX, fine-tuned with `lenetkit train
# --model` on photographed-style digits (reference/photo_digits.py, kind
# photo) read with --prep resize, a shift it has not seen; the last layers
# alone, the first block and the last layers, and everything; 3 seeds at
# each of two peak learning rates.
#
#     scripts/fine-tune-study.sh SEED.pth [WORK]
#
# SEED.pth is the seed's published parameter.pth (LeNet/parameter.pth of
# github.com/SCCSMARTCODE/Deep-Learning-00; its SHA-256 is checked). WORK
# (default: a new temporary folder) gets the binary, the image folders, the
# trained graphs and the logs; only small JSON files go to OUT. Environment:
#   LENETKIT  the lenetkit binary to use (default: built into WORK from this
#             checkout's HEAD commit, so that uncommitted edits stay out)
#   OUT       where the JSON goes (default: docs/study/fine-tuning)
#   SEEDS     "0 1 2"   EPOCHS 10   BATCH 32   LRS "1e-3 1e-2"
#   ARMS      "last block1 all"
#   TORCH_CHECK  1: also run the PyTorch cross-check below (about 7 minutes)
# Runs one training at a time; about 16 minutes on two busy cores. A run
# whose graph is in WORK/runs already is not trained again.
set -euo pipefail

die() { echo "fine-tune-study: $*" >&2; exit 1; }
[[ $# == 1 || $# == 2 ]] || die "usage: $0 SEED.pth [WORK]"
repo=$(cd "$(dirname "$0")/.." && pwd)
pth=$(realpath "$1")
work=${2:-$(mktemp -d)}
mkdir -p "$work" && work=$(realpath "$work")
out=${OUT:-$repo/docs/study/fine-tuning}
mkdir -p "$out" && out=$(realpath "$out")
seeds=${SEEDS:-0 1 2}
epochs=${EPOCHS:-10}
batch=${BATCH:-32}
lrs=${LRS:-1e-3 1e-2}
arms=${ARMS:-last block1 all}
py=/usr/bin/python3
published=962da1accaa43d836b3b9ddfad7d1aaac623ce8f619d04172d7c61eee059aeb6

[[ $(sha256sum "$pth" | cut -d' ' -f1) == "$published" ]] ||
  echo "fine-tune-study: note: $pth is not the seed's published parameter.pth (sha256 $published)" >&2

if [[ -n ${LENETKIT:-} ]]; then
  lk=$(realpath "$LENETKIT")
  commit=given
else
  commit=$(git -C "$repo" rev-parse HEAD)
  rm -rf "$work/src" && mkdir -p "$work/src"
  git -C "$repo" archive HEAD | tar -x -C "$work/src"
  (cd "$work/src" && go build -o "$work/lenetkit" ./cmd/lenetkit)
  lk=$work/lenetkit
fi

# The image folders: 2,000 photographed digits from MNIST's training part
# to fine-tune on (about 200 a class; --val 0.1 holds 200 out), 1,000 from
# its test part to measure on (the README's photo set, in class folders).
if [[ ! -d $work/train/photo ]]; then
  (cd "$repo" && $py reference/photo_digits.py make "$work/train" --part train --n 2000 --seed 1 --kinds photo --class-folders)
fi
if [[ ! -d $work/test/photo ]]; then
  (cd "$repo" && $py reference/photo_digits.py make "$work/test" --n 1000 --seed 1 --kinds photo --class-folders)
fi

cd "$work"
mkdir -p runs
cp "$pth" seed.pth
[[ -f seed.onnx ]] || "$lk" convert seed.pth seed.onnx -q

# Paths in what is kept are relative to WORK: the run's commands as a
# reader retypes them, from the folder holding seed.onnx, train/ and test/.
evaluate() { # NAME MODEL: the model on the test folder (resize, digit) and on MNIST's test set
  "$lk" eval "$2" --data test/photo --prep resize --format json -q >"runs/$1.eval.json"
  "$lk" eval "$2" --data test/photo --prep digit --format json -q >"runs/$1.eval-digit.json"
  "$lk" eval "$2" --format json -q >"runs/$1.eval-mnist.json"
}

evaluate before seed.onnx
$py - "$out/before.json" <<'EOF'
import json, sys
keep = lambda e, per_class=False: {k: e[k] for k in ("accuracy", "loss", "images", "correct", "per_class")[:5 if per_class else 4]}
rec = {"model": "seed.onnx", "commands": [
    "lenetkit eval seed.onnx --data test/photo --prep resize --format json",
    "lenetkit eval seed.onnx --data test/photo --prep digit --format json",
    "lenetkit eval seed.onnx --format json"],
    "eval": keep(json.load(open("runs/before.eval.json")), True),
    "eval_digit": keep(json.load(open("runs/before.eval-digit.json"))),
    "eval_mnist": keep(json.load(open("runs/before.eval-mnist.json")))}
json.dump(rec, open(sys.argv[1], "w"), indent=1)
EOF

train() { # NAME SEED TRAIN-FLAGS...
  local name=$1 seed=$2
  shift 2
  local cmd=(train --model seed.onnx "$@" --data train/photo --prep resize --val 0.1
    --epochs "$epochs" --batch-size "$batch" --seed "$seed" --out "runs/$name.onnx" --log-dir "runs/$name" --format json)
  if [[ ! -f runs/$name.onnx ]]; then
    echo "lenetkit ${cmd[*]}" >&2
    rm -rf "runs/$name"
    cut -d' ' -f1-3 /proc/loadavg >"runs/$name.load" # others' jobs share the CPU: say how busy it was
    "$lk" "${cmd[@]}" >"runs/$name.train.json" 2>"runs/$name.log"
  fi
  evaluate "$name" "runs/$name.onnx"
  $py - "$out/$name.json" "$name" "lenetkit ${cmd[*]}" <<'EOF'
import json, sys
path, name, cmd = sys.argv[1:]
keep = lambda e, per_class=False: {k: e[k] for k in ("accuracy", "loss", "images", "correct", "per_class")[:5 if per_class else 4]}
train = json.load(open(f"runs/{name}.train.json"))
epochs = [json.loads(l) for l in open(f"runs/{name}/metrics.jsonl") if l.strip()]
epochs = [e for e in epochs if "step" not in e]
rec = {"name": name, "command": cmd, "seconds": train["seconds"],
       "load_average": open(f"runs/{name}.load").read().strip(),
       "config": json.load(open(f"runs/{name}/config.json")),
       "epochs": epochs,
       "eval": keep(json.load(open(f"runs/{name}.eval.json")), True),
       "eval_digit": keep(json.load(open(f"runs/{name}.eval-digit.json"))),
       "eval_mnist": keep(json.load(open(f"runs/{name}.eval-mnist.json")))}
rec["config"].pop("started", None)
json.dump(rec, open(path, "w"), indent=1)
print(f"{name}: test folder {rec['eval']['accuracy']:.2f} % ({train['seconds']:.0f} s)", file=sys.stderr)
EOF
}

freeze_last=conv_layers                                                   # every convolution and BatchNorm
freeze_block1=conv_layers.4,conv_layers.6,conv_layers.8,conv_layers.10    # all but the first block's
for lr in $lrs; do
  for arm in $arms; do
    for seed in $seeds; do
      case $arm in
      last) train "$arm-lr$lr-s$seed" "$seed" --freeze "$freeze_last" --max-lr "$lr" ;;
      block1) train "$arm-lr$lr-s$seed" "$seed" --freeze "$freeze_block1" --max-lr "$lr" ;;
      all) train "$arm-lr$lr-s$seed" "$seed" --max-lr "$lr" ;;
      *) die "unknown arm $arm: last, block1 or all" ;;
      esac
    done
  done
done
# BatchNorm's running statistics alone: every weight but one bias frozen and
# a learning rate of 1e-9, so that only train mode's statistics move.
train bnstats-s0 0 --freeze conv_layers,fc_layer.1,fc_layer.3.weight --max-lr 1e-9

# ONNX Runtime on one fine-tuned graph, where reference/ has it installed:
# both runtimes get the same inputs, each test picture made grey and 28x28
# by PIL, bilinear (lenetkit reads the 28x28 PNGs as they are).
first=$(set -- $lrs; echo "$1")
s0=$(set -- $seeds; echo "$1")
if command -v node >/dev/null && [[ -d $repo/reference/node_modules/onnxruntime-node && -f runs/all-lr$first-s$s0.onnx ]]; then
  $py - "runs/all-lr$first-s$s0.onnx" "$repo/reference/ort_eval.js" "$lk" "$out/ort-check.json" <<'EOF'
import json, os, shutil, subprocess, sys
import numpy as np
from PIL import Image
model, script, lk, dest = sys.argv[1:]
src, small = "test/photo", "ort/small"
shutil.rmtree("ort", ignore_errors=True)
files = sorted(os.path.join(c, f) for c in os.listdir(src) if os.path.isdir(os.path.join(src, c))
               for f in os.listdir(os.path.join(src, c)))
x = np.zeros((len(files), 1, 32, 32), np.float32)
for i, rel in enumerate(files):
    im = Image.open(os.path.join(src, rel)).convert("L").resize((28, 28), Image.BILINEAR)
    os.makedirs(os.path.join(small, os.path.dirname(rel)), exist_ok=True)
    im.save(os.path.join(small, os.path.splitext(rel)[0] + ".png"))
    x[i, 0, 2:30, 2:30] = np.asarray(im, np.float32) / 255
x.tofile("ort/in.f32")
subprocess.run(["node", script, model, "ort/in.f32", str(len(files)), "1", "32", "32", "ort/out.f32"], check=True)
logits = np.fromfile("ort/out.f32", np.float32).reshape(len(files), 10)
p = np.exp(logits - logits.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
out = subprocess.run([lk, "infer", model, "--data", small, "--prep", "resize", "--format", "jsonl", "-q"],
                     check=True, capture_output=True, text=True).stdout
recs = {os.path.relpath(r["path"], small): r for r in map(json.loads, out.splitlines())}
ours = np.array([recs[os.path.splitext(f)[0] + ".png"]["probabilities"] for f in files])
labels = np.array([int(os.path.dirname(f)) for f in files])
po, pl = p.argmax(1), ours.argmax(1)
res = {"model": model, "images": len(files), "onnx_runtime_accuracy": 100 * float((po == labels).mean()),
       "lenetkit_accuracy": 100 * float((pl == labels).mean()), "same_prediction": int((po == pl).sum()),
       "max_abs_probability_difference": float(np.abs(p - ours).max())}
json.dump(res, open(dest, "w"), indent=1)
print("ONNX Runtime:", json.dumps(res), file=sys.stderr)
EOF
fi

# PyTorch on the same protocol, as near as it goes: the published weights
# in reference/lenet.py's LeNet without dropout (the converted graph has
# none), the pictures made grey and 28x28 by PIL, bilinear, padded to 32;
# Adam with coupled L2 0.002 under OneCycleLR, batch 32, train mode
# throughout, 10 epochs on a seeded 90 % of the training folder (PyTorch's
# own split and shuffling), evaluated in eval mode on the test folder.
if [[ ${TORCH_CHECK:-} == 1 ]]; then
  $py - "$repo/reference" seed.pth "$epochs" "$batch" "${TORCH_ARMS:-last:1e-3,all:1e-3,last:1e-2}" "$seeds" "$out/torch-check.json" <<'EOF'
import json, os, sys
import numpy as np
import torch
from PIL import Image
ref, weights, epochs, batch, arms, seeds, dest = sys.argv[1:]
epochs, batch, seeds = int(epochs), int(batch), [int(s) for s in seeds.split()]
sys.path.insert(0, ref)
from lenet import LeNet
torch.set_num_threads(2)


def load(root):
    xs, ys = [], []
    for c in sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))):
        for f in sorted(os.listdir(os.path.join(root, c))):
            im = Image.open(os.path.join(root, c, f)).convert("L").resize((28, 28), Image.BILINEAR)
            xs.append(np.pad(np.asarray(im, np.float32) / 255, 2))
            ys.append(int(c))
    return torch.tensor(np.stack(xs))[:, None], torch.tensor(ys)


def accuracy(m, x, y):
    m.eval()
    with torch.no_grad():
        return 100 * (m(x).argmax(1) == y).float().mean().item()


def seed_model():
    m = LeNet(dropout=0.0)
    m.load_state_dict(torch.load(weights, map_location="cpu"))
    return m


xtr, ytr = load("train/photo")
xte, yte = load("test/photo")
res = {"torch": torch.__version__, "before": accuracy(seed_model(), xte, yte), "runs": {}}
for arm in arms.split(","):
    name, lr = arm.split(":")
    for seed in seeds:
        torch.manual_seed(seed)
        tr = torch.randperm(len(ytr))[len(ytr) // 10:]
        m = seed_model()
        if name == "last":
            for p in m.conv_layers.parameters():
                p.requires_grad_(False)
        elif name != "all":
            raise SystemExit(f"TORCH_ARMS: arm {name}: last or all")
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=float(lr) / 25, weight_decay=0.002)
        steps = len(tr) // batch
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=float(lr), epochs=epochs, steps_per_epoch=steps)
        for _ in range(epochs):
            m.train()
            order = tr[torch.randperm(len(tr))]
            for s in range(steps):
                b = order[s * batch:(s + 1) * batch]
                loss = torch.nn.functional.cross_entropy(m(xtr[b]), ytr[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        key = f"{name}-lr{lr}-s{seed}"
        res["runs"][key] = accuracy(m, xte, yte)
        print(f"PyTorch {key}: test folder {res['runs'][key]:.2f} %", file=sys.stderr)
json.dump(res, open(dest, "w"), indent=1)
EOF
fi

$py - "$out" "$commit" "$(lscpu | sed -n 's/^Model name: *//p' | head -n1)" "$(nproc)" "$epochs" "$batch" <<'EOF'
import glob, json, os, statistics, sys
out, commit, cpu, cores, epochs, batch = sys.argv[1:]
runs = {}
for p in sorted(glob.glob(os.path.join(out, "*-s*.json"))):
    r = json.load(open(p))
    arm, rest = r["name"].split("-", 1)
    group = rest.rsplit("-s", 1)[0]  # lrX or "" for bnstats
    runs.setdefault((arm, group), []).append(r)
before = json.load(open(os.path.join(out, "before.json")))
def ms(v):
    return (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
rows = []
order = {"last": 0, "block1": 1, "all": 2}
for (arm, group), rs in sorted(runs.items(), key=lambda kv: (kv[0][0] not in order, kv[1][0]["config"]["max_lr"], order.get(kv[0][0], 9))):
    rs.sort(key=lambda r: r["config"]["seed"])
    acc = [r["eval"]["accuracy"] for r in rs]
    rows.append({"arm": arm, "max_lr": rs[0]["config"]["max_lr"], "freeze": rs[0]["config"]["freeze"],
                 "seeds": [r["config"]["seed"] for r in rs], "accuracy": acc, "mean": ms(acc)[0], "sd": ms(acc)[1],
                 "loss": [r["eval"]["loss"] for r in rs],
                 "val_accuracy": [r["epochs"][-1]["val_acc"] for r in rs],
                 "digit_accuracy": [r["eval_digit"]["accuracy"] for r in rs],
                 "mnist_accuracy": [r["eval_mnist"]["accuracy"] for r in rs],
                 "seconds": [r["seconds"] for r in rs]})
loads = [float(r["load_average"].split()[0]) for rs in runs.values() for r in rs if "load_average" in r]
summary = {"cpu": cpu, "cores": int(cores), "load_average_1min": [min(loads), max(loads)] if loads else None,
           "lenetkit_commit": commit, "epochs": int(epochs), "batch_size": int(batch),
           "before": {"accuracy": before["eval"]["accuracy"], "digit_accuracy": before["eval_digit"]["accuracy"],
                      "mnist_accuracy": before["eval_mnist"]["accuracy"]},
           "rows": rows}
tc = os.path.join(out, "torch-check.json")
if os.path.exists(tc):
    t = json.load(open(tc))
    summary["torch"] = {"version": t["torch"], "before": t["before"], "runs": t["runs"]}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
f = lambda v: ", ".join(f"{x:.2f}" for x in v)
print(f"before (seed.onnx): test folder {before['eval']['accuracy']:.2f} % under --prep resize, "
      f"{before['eval_digit']['accuracy']:.2f} % under --prep digit, MNIST {before['eval_mnist']['accuracy']:.2f} %")
print("| arm | max-lr | after, per seed | mean ± sd | val (last epoch) | --prep digit | MNIST test | s per run |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['arm']} | {r['max_lr']:g} | {f(r['accuracy'])} | {r['mean']:.2f} ± {r['sd']:.2f} | {f(r['val_accuracy'])} "
          f"| {f(r['digit_accuracy'])} | {f(r['mnist_accuracy'])} | {statistics.mean(r['seconds']):.0f} |")
if "torch" in summary:
    print(f"PyTorch {summary['torch']['version']}: before {summary['torch']['before']:.2f}; " +
          ", ".join(f"{k} {v:.2f}" for k, v in summary["torch"]["runs"].items()))
if loads:
    print(f"{cpu}, {cores} cores, 1-minute load average {min(loads):.2f} to {max(loads):.2f} as the runs started; lenetkit {commit}")
EOF
