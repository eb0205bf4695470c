#!/usr/bin/env bash
# Every speed goal of the open work, measured in one go on this machine and
# printed as the tables a closing note gives, each saying which CPU:
#
#   inference  each fixture graph at batch 1 and 128 beside ONNX Runtime
#              (goal: at or above it), `lenetkit bench --model FILE --steps 0`
#   training   a training step of each fixture graph beside PyTorch's
#              (goal: at most 0.5x), `lenetkit bench --model FILE --steps N`
#   int8       the seed's per-channel QDQ model beside its float original and
#              ONNX Runtime's int8 (goals: 2x the float path at batch 128, at
#              or above ONNX Runtime at both), `lenetkit bench --baseline`,
#              and the CPU's multiply-add rates (`go test ./internal/cpurate
#              -bench Rates`)
#   serve      requests per second and latency under load beside the Node.js
#              ONNX Runtime peer (goal: 1.5x at concurrency 8, a lower p99),
#              `go test ./serve -bench ServeLoad`
#
#   scripts/speed-check.sh [inference|training|int8|serve ...]   # all four by default
#
# Each measurement's JSON (or the load test's text) goes to OUT; a part whose
# file is there already is not measured again, so a stopped check resumes.
# The machine should be quiet: every figure moves with others' load, and the
# tables give the load average beside each row.
#
# Environment:
#   LENETKIT  the lenetkit binary (default: built from this checkout into OUT)
#   OUT       where the results go (default: a new temporary folder)
#   SECONDS_INFER  seconds of inference a measurement (default 3)
#   STEPS     training steps a side (default 30)
# Needs what the benchmarks need: reference/node_modules (cd reference && npm
# ci --ignore-scripts) for ONNX Runtime, and Debian's python3-torch for
# PyTorch; a peer that is missing is reported as not measured.
set -euo pipefail

die() { echo "speed-check: $*" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$(mktemp -d)}
mkdir -p "$out" && out=$(realpath "$out")
secs=${SECONDS_INFER:-3}
steps=${STEPS:-30}
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(inference training int8 serve)
for p in "${parts[@]}"; do
	case $p in inference | training | int8 | serve) ;; *) die "unknown part $p: give inference, training, int8 or serve" ;; esac
done

lk=${LENETKIT:-}
if [[ -z $lk ]]; then
	lk=$out/lenetkit
	(cd "$repo" && go build -o "$lk" ./cmd/lenetkit) || die "go build failed"
fi
lk=$(realpath "$lk")
cd "$repo"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "CPU: $cpu; results in $out"

infer_graphs=(producers/keras2onnx_151 producers/keras2onnx_160 producers/tf2onnx producers/cntk_mnist8
	cnn28 seed_view lenet5 dwbn resnet_tiny mobilenet_tiny mlp_flat)
train_graphs=(lenet5 cnn28 dwbn producers/keras2onnx_160)

# measure FILE CMD...: runs CMD into FILE unless FILE exists.
measure() {
	local file=$1
	shift
	[[ -s $file ]] && return 0
	echo "measuring $(basename "$file") ..." >&2
	"$@" >"$file.tmp" && mv "$file.tmp" "$file"
}

for p in "${parts[@]}"; do
	case $p in
	inference)
		for g in "${infer_graphs[@]}"; do
			measure "$out/inference-${g//\//_}.json" "$lk" bench --model "testdata/onnx/$g.onnx" --steps 0 --seconds "$secs" --format json
		done
		;;
	training)
		for g in "${train_graphs[@]}"; do
			measure "$out/training-${g//\//_}.json" "$lk" bench --model "testdata/onnx/$g.onnx" --steps "$steps" --seconds 0.3 --format json
		done
		;;
	int8)
		measure "$out/int8.json" "$lk" bench --model testdata/quant/seed_qdq_channel.onnx \
			--baseline testdata/lenet_trained.pth --steps 0 --seconds "$secs" --format json
		# What this CPU's multiply-add instructions allow, beside the figures.
		measure "$out/rates.txt" go test ./internal/cpurate -run '^$' -bench Rates -benchtime 1x -count 1
		;;
	serve)
		measure "$out/serve.txt" env LENETKIT_LOAD_BIN="$lk" go test ./serve -run '^$' -bench ServeLoad -benchtime 1x -count 1
		;;
	esac
done

python3 - "$out" "$cpu" <<'EOF'
import glob, json, os, sys
out, cpu = sys.argv[1], sys.argv[2]
def load(path):
    with open(path) as f:
        return json.load(f)
def la(j, key="load_average_start"):
    v = j.get(key) or [0]
    return "%.1f" % v[0]
rows = sorted(glob.glob(os.path.join(out, "inference-*.json")))
if rows:
    print("\nInference, images/s at batch 1 / 128, lenetkit and ONNX Runtime, on %s:\n" % cpu)
    print("| graph | lenetkit | ONNX Runtime | ratio | load |")
    print("|---|---|---|---|---|")
    for path in rows:
        j = load(path)
        name = os.path.basename(path)[len("inference-"):-5]
        print("| %s | %.0f / %.0f | %.0f / %.0f | %.2f / %.2f | %s |" % (name,
            j["default_onnx_images_per_s_batch1"], j["default_onnx_images_per_s_batch128"],
            j["onnxruntime_images_per_s_batch1"], j["onnxruntime_images_per_s_batch128"],
            j["ratio_default_onnx_batch1_vs_onnxruntime"], j["ratio_default_onnx_batch128_vs_onnxruntime"], la(j)))
rows = sorted(glob.glob(os.path.join(out, "training-*.json")))
if rows:
    print("\nTraining, ms a step of batch 128, lenetkit and PyTorch (goal: ratio at most 0.5), on %s:\n" % cpu)
    print("| graph | lenetkit | PyTorch | ratio | load |")
    print("|---|---|---|---|---|")
    for path in rows:
        j = load(path)
        name = os.path.basename(path)[len("training-"):-5]
        print("| %s | %.2f | %.2f | %.2f | %s |" % (name, j["train_ms_per_step"],
            j.get("pytorch_train_ms_per_step", 0), j.get("ratio_train_ms_vs_pytorch", 0), la(j)))
path = os.path.join(out, "int8.json")
if os.path.exists(path):
    q = load(path)["int8_vs_float"]
    print("\nint8, images/s at batch 1 / 128, on %s (kernels: %s; float: %s):\n" % (cpu, q["int8_kernel"], q["float_kernels"]))
    print("| lenetkit int8 | lenetkit float | ONNX Runtime int8 | int8/float | int8/ONNX Runtime int8 | load |")
    print("|---|---|---|---|---|---|")
    print("| %.0f / %.0f | %.0f / %.0f | %.0f / %.0f | %.2f / %.2f | %.2f / %.2f | %.1f |" % (
        q["int8_images_per_s_batch1"], q["int8_images_per_s_batch128"],
        q["float_images_per_s_batch1"], q["float_images_per_s_batch128"],
        q["onnxruntime_int8_images_per_s_batch1"], q["onnxruntime_int8_images_per_s_batch128"],
        q["ratio_int8_vs_float_batch1"], q["ratio_int8_vs_float_batch128"],
        q["ratio_int8_vs_onnxruntime_batch1"], q["ratio_int8_vs_onnxruntime_batch128"],
        (q.get("load_average_before") or [0])[0]))
path = os.path.join(out, "rates.txt")
if os.path.exists(path):
    print("\nMultiply-add instructions a cycle on %s (internal/cpurate):\n" % cpu)
    with open(path) as f:
        for line in f:
            if " a cycle" in line:
                print("    " + line.rstrip())
path = os.path.join(out, "serve.txt")
if os.path.exists(path):
    print("\nServe under load (serve/load_bench_test.go), on %s:\n" % cpu)
    with open(path) as f:
        for line in f:
            if not line.startswith(("goos:", "goarch:", "pkg:", "PASS", "ok ")):
                print(line.rstrip())
EOF
