#!/usr/bin/env bash
# Issue 20's GPU run, as one script for a lent GPU machine (no Rust, no internet, minutes of
# device time): the parity tests' GPU halves, then the default model trained for --steps on the
# GPU, its steps/s, the GPU's achieved fraction of its fp32 peak, and the trained run exported
# as a bundle. Everything it writes goes under --out (default $OUT, the device tool's folder
# that comes back), so the bundle's product-path table is made here afterwards:
#   mmv-train eval-product --bundle <out>/bundle --data $MMV_DATA
#
# The kit (--kit) holds what `scripts/gpu-kit.sh` builds here: mmv-train with the `cuda`
# feature, the cuda_parity and export_parity test binaries, mmv (for the FLOP count) and
# libdevice.10.bc. Tried first on the CPU backend with the ordinary build:
#   scripts/gpu-run.sh --kit target/debug --device cpu --steps 10 --out /tmp/gpu-run
set -euo pipefail

kit=gpu-kit
data=${MMV_DATA:-}
device=cuda
config=models/avdigits-fac-tsm-robust-3.toml
steps=6000
out=${OUT:-gpu-run-out}
usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  echo "usage: $0 [--kit DIR] [--data DIR] [--device cuda|cpu] [--config TOML] [--steps N] [--out DIR]"
}
while [ $# -gt 0 ]; do
  case "$1" in
    --kit) kit=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-run: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$data" ] || data=$kit/data
for f in "$kit/mmv-train" "$kit/mmv" "$config" "$data/fsdd" "$data/mnist" "$data/glove"; do
  [ -e "$f" ] || { echo "gpu-run: $f is missing (see scripts/gpu-kit.sh)" >&2; exit 2; }
done
mkdir -p "$out"
log=$out/gpu-run.log
exec > >(tee -a "$log") 2>&1
say() { echo "[gpu-run $(date -u +%H:%M:%S)] $*"; }

# The card, named as the README's table names it; its fp32 peak (non-tensor-core FMA rate,
# vendor datasheets) for the achieved fraction. A card not listed gets no fraction, not a guess.
card=cpu
peak_tflops=
if [ "$device" = cuda ]; then
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/gpu.csv"
  case "$card" in
    *H100*PCIe*) peak_tflops=51.2 ;;
    *H100*) peak_tflops=66.9 ;;
    *H200*) peak_tflops=66.9 ;;
    *A100*) peak_tflops=19.5 ;;
    *L4*) peak_tflops=30.3 ;;
    *) peak_tflops= ;;
  esac
  # cubecl's kernels that call exp / tanh / erf link NVIDIA's libdevice at run time.
  if [ -f "$kit/libdevice.10.bc" ]; then
    mkdir -p "$out/cuda/nvvm/libdevice"
    cp "$kit/libdevice.10.bc" "$out/cuda/nvvm/libdevice/"
    export CUDA_PATH=$PWD/$out/cuda
  fi
fi
say "device $device ($card), config $config, $steps steps"

# 1. Parity: training steps on the device against the CPU, and the exported ONNX of a
# device-trained model against burn. On the CPU backend these run their CPU halves.
parity=skipped
if [ -x "$kit/cuda_parity" ] && [ -x "$kit/export_parity" ]; then
  if [ "$device" = cuda ]; then
    "$kit/cuda_parity" --include-ignored --test-threads 1 &&
      "$kit/export_parity" --include-ignored --exact a_cuda_trained_bundle_matches_burn &&
      parity=passed || parity=failed
  else
    "$kit/cuda_parity" --test-threads 1 && "$kit/export_parity" --exact fac_tsm_bundle_matches_burn &&
      parity=passed-cpu-half || parity=failed
  fi
fi
say "parity: $parity"

# 2. The model trained on the device, timed by the trainer itself (steps/s over the run, data
# included), checkpointed so that a run cut short still leaves weights.
rm -rf "$out/run"
"$kit/mmv-train" train --device "$device" --config "$config" --data "$data" --steps "$steps" \
  --out "$out/run" --checkpoint-every 1000 | tee "$out/train.txt"
summary=$(grep -o 'trained steps .*' "$out/train.txt" | tail -1)
steps_per_s=$(sed -n 's/.*(\([0-9.]*\) steps\/s.*/\1/p' <<<"$summary")
say "trained: $summary"

# 3. Exported as a bundle (CPU work; the product-path table is made from it afterwards).
"$kit/mmv-train" export --run "$out/run" --out "$out/bundle" --version "gpu-$device" --calibration-samples 128

# 4. Achieved FLOP/s: a training step costs about 3x the forward FLOPs (forward, and backward
# for activations and weights) of a batch: clip + audio + the narrations through the text
# encoder, counted from the exported fp32 graphs by `mmv bench`'s counter.
"$kit/mmv" bench "$out/bundle" --precision fp32 --encoders clip,audio,text --min-duration 0.05 \
  --min-queries 1 --no-offline --no-pipeline --search-rows 0 --json >"$out/flops.json"
python3 - "$out" "$config" "$card" "$device" "$steps" "${steps_per_s:-0}" "${peak_tflops:-}" "$parity" <<'PY'
import json, re, sys
out, config, card, device, steps, sps, peak, parity = sys.argv[1:]
# Two integers from the config (no tomllib: the device's Python may predate 3.11).
text = open(config).read()
def setting(name):
    return int(re.search(rf"^{name}\s*=\s*(\d+)", text, re.M).group(1))
flops = {e["kind"]: e["flops"]["total"] for e in json.load(open(f"{out}/flops.json"))["encoders"]}
batch = setting("batch_size")
per_sample = flops["clip"] + flops["audio"] + setting("narrations_per_clip") * flops["text"]
step_flops = 3 * batch * per_sample
achieved = step_flops * float(sps)
report = {
    "card": card, "device": device, "config": config, "steps": int(steps),
    "steps_per_s": float(sps), "step_gflop": step_flops / 1e9,
    "achieved_tflops": achieved / 1e12,
    "peak_fp32_tflops": float(peak) if peak else None,
    "fraction_of_peak": achieved / (float(peak) * 1e12) if peak else None,
    "parity": parity,
}
json.dump(report, open(f"{out}/gpu-run.json", "w"), indent=1)
print(json.dumps(report, indent=1))
PY
say "done: $out/gpu-run.json, bundle in $out/bundle"
