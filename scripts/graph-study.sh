#!/usr/bin/env bash
# The graph-training study (docs/study/graph-training.md), Go and PyTorch,
# one run after another:
#
#   (a) LeNet-5 and the 28x28 CNN trained from scratch from their ONNX files
#       (testdata/onnx/lenet5.onnx, cnn28.onnx) on MNIST, by
#       `lenetkit train --model FILE --init` and by PyTorch's twin
#       reference/train_graph_reference.py, seeds 0, 1, 2;
#   (b) the seed's LeNet on Fashion-MNIST, `lenetkit train --recipe standard`
#       beside reference/train_reference.py, seeds 0, 1, 2.
#
#   scripts/graph-study.sh [run] [graph|fashion|init ...]   # run what is missing (graph and fashion by default)
#   scripts/graph-study.sh table                       # the study's tables, from the JSON files
#
# Each run writes OUT/SIDE/NAME-sSEED.json (SIDE lenetkit or torch; NAME
# lenet5, cnn28 or fashion), adding to the program's own figures the command,
# its wall-clock seconds, the CPU's model name and the 1-minute load average
# before and after; a run whose file exists is skipped, so a stopped study
# resumes. Runs go one at a time: their seconds are only comparable between
# runs made on a quiet machine (the load figures say whether it was).
#
# Environment:
#   LENETKIT  the lenetkit binary (default: built from this checkout into WORK)
#   PYTHON    a python3 with torch 1.13 and onnx (default: python3; Debian's /usr/bin/python3 here)
#   FASHION   Fashion-MNIST's four IDX files (default: Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)
#   OUT       where the JSON goes (default: docs/study/graph-training)
#   WORK      scratch space for trained models and logs (default: a new temporary folder)
#   SEEDS     default "0 1 2"
#   MODELS    part (a)'s graphs (default "lenet5 cnn28"); EPOCHS its epochs (default 5), for quick checks
#   SIDES     which programs run (default "lenetkit torch")
# MNIST is the GoMNIST module's copy, which lenetkit and reference/mnist_idx.py both find.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
FASHION="${FASHION:-/usr/share/datasets/fashion-mnist}"
OUT="${OUT:-docs/study/graph-training}"
SEEDS="${SEEDS:-0 1 2}"
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$WORK"

# The recipe of part (a): lenetkit's and PyTorch's flags say the same.
EPOCHS="${EPOCHS:-5}" BATCH=128 MAXLR=1e-2 WD=0.002
MODELS="${MODELS:-lenet5 cnn28}"
SIDES="${SIDES:-lenetkit torch}"

# record SIDE NAME SEED JSON_FROM_PROGRAM STDERR_LOG WALL LOAD0 LOAD1 COMMAND...
# writes OUT/SIDE/NAME-sSEED.json: the program's JSON, machine paths taken out,
# with the epoch lines lenetkit prints on standard error parsed into "history".
record() {
	"$PYTHON" - "$@" <<'EOF'
import json, os, re, subprocess, sys
side, name, seed, src, log, wall, load0, load1, *cmd = sys.argv[1:]
with open(src) as f:
    r = json.load(f)
cpu = ""
for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
    if line.startswith("Model name:"):
        cpu = line.split(":", 1)[1].strip()
if side == "lenetkit" and name != "fashion":
    hist, last = [], {}
    for line in open(log):
        m = re.match(r"epoch (\d+) step (\d+)/(\d+)\s+loss ([0-9.]+)", line)
        if m:
            last[int(m.group(1))] = float(m.group(4))
        m = re.match(r"epoch (\d+): train loss ([0-9.]+), validation accuracy ([0-9.]+) %, loss ([0-9.]+) \(([0-9.]+) s\)", line)
        if m:
            e = int(m.group(1))
            hist.append({"epoch": e, "train_loss": float(m.group(2)), "last_step_loss": last.get(e),
                         "val_acc": float(m.group(3)), "val_loss": float(m.group(4)), "train_seconds": float(m.group(5))})
    r["history"] = hist
    r["model"] = os.path.basename(r["model"])
    # "MNIST (IDX) from <the module cache's path> (10 classes)": no machine's path in a committed file
    r["data"] = re.sub(r" from \S+", " from the GoMNIST module's data/", r["data"])
if side == "lenetkit" and name == "fashion":
    r["out"] = os.path.basename(r["out"])
r.setdefault("seed", int(seed))
r["study"] = {"command": " ".join(cmd), "wall_seconds": float(wall), "cpu": cpu,
              "load_1min_before": float(load0), "load_1min_after": float(load1)}
dst = os.path.join(os.environ["OUT"], side, f"{name}-s{seed}.json")
os.makedirs(os.path.dirname(dst), exist_ok=True)
with open(dst + ".tmp", "w") as f:
    json.dump(r, f, indent=1)
    f.write("\n")
os.replace(dst + ".tmp", dst)
print(f"{dst}: test {r.get('test_accuracy', r.get('full_accuracy', r.get('test', {}).get('accuracy')))}, {float(wall):.0f} s wall")
EOF
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# one SIDE NAME SEED DISPLAY_COMMAND -- ARGV...: runs ARGV unless its JSON exists.
one() {
	local side=$1 name=$2 seed=$3 shown=$4
	shift 5
	local dst="$OUT/$side/$name-s$seed.json" tag="$WORK/$side-$name-s$seed"
	case " $SIDES " in
	*" ${side%%-*} "*) ;;
	*) return 0 ;;
	esac
	if [ -e "$dst" ]; then
		echo "$dst exists; skipped"
		return
	fi
	echo "== $shown"
	local l0 t0 t1
	l0=$(load1)
	t0=$(date +%s.%N)
	if [ "$side" = lenetkit ]; then
		"$@" >"$tag.json" 2>"$tag.log"
	else
		"$@" --json "$tag.json" >"$tag.log" 2>&1
	fi
	t1=$(date +%s.%N)
	tail -n 3 "$tag.log"
	OUT="$OUT" record "$side" "$name" "$seed" "$tag.json" "$tag.log" "$(echo "$t1 - $t0" | bc)" "$l0" "$(load1)" $shown
}

# crosscheck MODEL SEED: PyTorch's test figures for the graph lenetkit wrote
# (its initializers loaded into train_graph_reference.py's module), added to
# lenetkit's JSON as "torch_eval" unless there already.
crosscheck() {
	local model=$1 seed=$2
	local dst="$OUT/lenetkit/$model-s$seed.json" onnx="$WORK/$model-s$seed.onnx"
	[ -e "$dst" ] && [ -e "$onnx" ] || return 0
	grep -q '"torch_eval"' "$dst" && return 0
	"$PYTHON" reference/train_graph_reference.py --model "$model" --evaluate "$onnx" | tail -n 1 >"$WORK/$model-s$seed.torch-eval.json"
	"$PYTHON" - "$dst" "$WORK/$model-s$seed.torch-eval.json" <<'EOF'
import json, os, sys
dst, ev = sys.argv[1:]
with open(dst) as f:
    r = json.load(f)
with open(ev) as f:
    r["torch_eval"] = json.load(f)
with open(dst + ".tmp", "w") as f:
    json.dump(r, f, indent=1)
    f.write("\n")
os.replace(dst + ".tmp", dst)
t = r["torch_eval"]
print(f"{dst}: PyTorch on the written graph {t['test_accuracy']:.2f} % / {t['test_loss']:.6f}, "
      f"lenetkit {r['test_accuracy']:.2f} % / {r['test_loss']:.6f}")
EOF
}

run_graph() {
	local model seed flags
	flags="--epochs $EPOCHS --batch-size $BATCH --max-lr $MAXLR --weight-decay $WD"
	for model in $MODELS; do
		for seed in $SEEDS; do
			one lenetkit "$model" "$seed" \
				"lenetkit train --model testdata/onnx/$model.onnx --init --seed $seed $flags --out $model-s$seed.onnx --force --format json" -- \
				"$LENETKIT" train --model "testdata/onnx/$model.onnx" --init --seed "$seed" $flags \
				--out "$WORK/$model-s$seed.onnx" --force --format json
			crosscheck "$model" "$seed"
			one torch "$model" "$seed" \
				"python3 reference/train_graph_reference.py --model $model --seed $seed $flags --json $model-s$seed.json" -- \
				"$PYTHON" reference/train_graph_reference.py --model "$model" --seed "$seed" $flags
		done
	done
}

# Part "init" (an investigation, cnn28 only): PyTorch trained from the very
# weights lenetkit's --init draws, so that only the data's order and split
# differ between the two. lenetkit writes its draw after one step at a rate
# of 1e-30, which moves no float32 weight.
run_init() {
	local seed
	for seed in $SEEDS; do
		if [ ! -e "$WORK/cnn28-init-s$seed.onnx" ]; then
			"$LENETKIT" train --model testdata/onnx/cnn28.onnx --init --seed "$seed" --epochs 1 --limit 128 \
				--max-lr 1e-30 --weight-decay "$WD" --out "$WORK/cnn28-init-s$seed.onnx" --force --format json >/dev/null
		fi
		one torch-from-lenetkit-init cnn28 "$seed" \
			"python3 reference/train_graph_reference.py --model cnn28 --seed $seed --epochs $EPOCHS --batch-size $BATCH --max-lr $MAXLR --weight-decay $WD --init-from cnn28-init-s$seed.onnx --json cnn28-s$seed.json" -- \
			"$PYTHON" reference/train_graph_reference.py --model cnn28 --seed "$seed" --epochs "$EPOCHS" --batch-size "$BATCH" \
			--max-lr "$MAXLR" --weight-decay "$WD" --init-from "$WORK/cnn28-init-s$seed.onnx"
	done
}

run_fashion() {
	local seed
	for seed in $SEEDS; do
		one lenetkit fashion "$seed" \
			"lenetkit train --data $FASHION --recipe standard --seed $seed --out fashion-s$seed.pth --log-dir fashion-s$seed --force --format json" -- \
			"$LENETKIT" train --data "$FASHION" --recipe standard --seed "$seed" \
			--out "$WORK/fashion-s$seed.pth" --log-dir "$WORK/fashion-s$seed" --force --format json
		one torch fashion "$seed" \
			"python3 reference/train_reference.py --data $FASHION --recipe standard --seed $seed --json fashion-s$seed.json" -- \
			"$PYTHON" reference/train_reference.py --data "$FASHION" --recipe standard --seed "$seed"
	done
}

table() {
	OUT="$OUT" "$PYTHON" - <<'EOF'
import json, os, statistics as st
out = os.environ["OUT"]
def load(side, name):
    d = os.path.join(out, side)
    rs = []
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if f.startswith(name + "-s") and f.endswith(".json"):
            with open(os.path.join(d, f)) as fh:
                rs.append(json.load(fh))
    return rs
def figures(side, name, r):
    """(accuracy %, loss) over all 10,000 test images, then a third column's text."""
    if name == "fashion":
        if side == "lenetkit":
            return r["full_accuracy"], r["full_loss"], f"{r['accuracy']:.2f} / {r['loss']:.4f}"
        return r["test_full"]["accuracy"], r["test_full"]["loss"], f"{r['test']['accuracy']:.2f} / {r['test']['loss']:.4f}"
    t = r.get("torch_eval")
    return r["test_accuracy"], r["test_loss"], f"{t['test_accuracy']:.2f} / {t['test_loss']:.4f}" if t else ""
def ms(xs, fmt):
    if len(xs) < 2:
        return fmt.format(xs[0]) if xs else "-"
    return (fmt + " ± " + fmt + " [" + fmt + ", " + fmt + "]").format(st.mean(xs), st.stdev(xs), min(xs), max(xs))
third = {"lenet5": "PyTorch's figures for the graph lenetkit wrote", "cnn28": "PyTorch's figures for the graph lenetkit wrote",
         "fashion": "seed protocol (9,984 images): accuracy % / loss"}
for name in ("lenet5", "cnn28", "fashion"):
    print(f"\n### {name}\n")
    print(f"| side | seed | test accuracy % | test loss | {third[name]} | epoch 1 train loss | epoch 1 val acc % | last epoch train loss | wall s | load before / after | CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for side in ("lenetkit", "torch", "torch-from-lenetkit-init"):
        rs = load(side, name)
        accs, losses = [], []
        for r in rs:
            acc, loss, col = figures(side, name, r)
            accs.append(acc); losses.append(loss)
            h = r.get("history") or r.get("epochs")
            s = r["study"]
            print(f"| {side} | {r['seed']} | {acc:.2f} | {loss:.4f} | {col} | {h[0]['train_loss']:.4f} | {h[0]['val_acc']:.2f} | "
                  f"{h[-1]['train_loss']:.4f} | {s['wall_seconds']:.0f} | {s['load_1min_before']:.1f} / {s['load_1min_after']:.1f} | {s['cpu']} |")
        if rs:
            print(f"| {side} | mean ± sd [min, max] | {ms(accs, '{:.2f}')} | {ms(losses, '{:.4f}')} | | | | | | | |")
EOF
}

case "${1:-run}" in
table)
	table
	;;
run)
	[ $# -gt 0 ] && shift
	if [ -z "${LENETKIT:-}" ]; then
		# Built from the last commit, not the working tree, which may hold others' unfinished edits.
		rm -rf "$WORK/src" && mkdir -p "$WORK/src"
		git archive HEAD | tar -x -C "$WORK/src"
		(cd "$WORK/src" && go build -o "$WORK/lenetkit" ./cmd/lenetkit)
		LENETKIT="$WORK/lenetkit"
		echo "lenetkit built from commit $(git rev-parse --short HEAD)"
	fi
	echo "scratch in $WORK; $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
	parts="${*:-graph fashion}"
	for part in $parts; do
		case $part in
		graph) run_graph ;;
		fashion) run_fashion ;;
		init) run_init ;;
		*) echo "graph-study.sh: unknown part $part (graph, fashion, init)" >&2; exit 2 ;;
		esac
	done
	table
	;;
*)
	echo "usage: scripts/graph-study.sh [run [graph] [fashion] [init]] | table" >&2
	exit 2
	;;
esac
