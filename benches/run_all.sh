#!/usr/bin/env bash
# Regenerates the performance tables in benches/results/ (Markdown, plus one PNG):
#   mmv_bench.md / .png   `mmv bench` on the bundle (every encoder, precision, thread count;
#                         pipeline; search; per-node tract profiles)
#   ort_vs_tract_tN.md    tract against onnxruntime on the same files, N threads
#   int8_forms.md         int8 in tract: QDQ as exported, the runtime's integer and direct convs, fp32
#   search_vs_faiss.md    1M x 256 brute-force top-10 against faiss IndexFlatIP
#   logmel_vs_librosa.md  the log-mel front end against librosa (agreement, ratio, real time)
#   criterion.md          the criterion benches of the hot Rust paths
#   train_step_vs_pytorch.md  one burn training step against PyTorch (only when torch is
#                         installed and MMV_TRAIN names an mmv-train binary: both are large)
#
# Usage: benches/run_all.sh [BUNDLE]   (default models/avdigits-fac-s3d)
# Environment: THREADS (default 1,2), ROUNDS (default 3), MIN_DURATION (default 2),
# MIN_QUERIES (default 20), SEARCH_ROWS (default 1000000), CARGO_TARGET_DIR.
# Needs the Python peers: python3 -m pip install -r benches/requirements.txt
# Takes about 10-15 minutes on a 2-core machine; run it on an otherwise idle one.
set -euo pipefail
cd "$(dirname "$0")/.."

BUNDLE=${1:-models/avdigits-fac-s3d}
THREADS=${THREADS:-1,2}
ROUNDS=${ROUNDS:-3}
MIN_DURATION=${MIN_DURATION:-2}
MIN_QUERIES=${MIN_QUERIES:-20}
SEARCH_ROWS=${SEARCH_ROWS:-1000000}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=benches/results
mkdir -p "$OUT"

# Release builds: the dev profile compiles our own crates at opt-level 1, which would slow
# the Rust sides of the log-mel and search comparisons (tract itself is opt-level 3 in both).
cargo build --release -q -p mmv-cli --bin mmv
cargo build --release -q -p mmv-runtime --example logmel_dump
cargo build --release -q -p mmv-benches --bin mmv-peer-timing
MMV="$TARGET/release/mmv"
stamp="$(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD)"

echo "== mmv bench" >&2
{
  echo "# mmv bench ($stamp)"
  echo
  echo "\`mmv bench $BUNDLE --threads $THREADS --min-duration $MIN_DURATION --min-queries $MIN_QUERIES --search-rows 100000 --profile\`"
  echo
} > "$OUT/mmv_bench.md"
"$MMV" bench "$BUNDLE" --threads "$THREADS" --min-duration "$MIN_DURATION" \
  --min-queries "$MIN_QUERIES" --search-rows 100000 --profile \
  --markdown "$OUT/mmv_bench.body.md" --plot "$OUT/mmv_bench.png" > /dev/null
cat "$OUT/mmv_bench.body.md" >> "$OUT/mmv_bench.md"
rm "$OUT/mmv_bench.body.md"

for t in ${THREADS//,/ }; do
  echo "== tract vs onnxruntime, $t thread(s)" >&2
  {
    echo "# tract vs onnxruntime, $t thread(s) ($stamp)"
    echo
    echo "\`python3 benches/ort_vs_tract.py $BUNDLE --threads $t --rounds $ROUNDS --min-duration $MIN_DURATION --min-queries $MIN_QUERIES\`"
    echo
    python3 benches/ort_vs_tract.py "$BUNDLE" --mmv "$MMV" --threads "$t" --rounds "$ROUNDS" \
      --min-duration "$MIN_DURATION" --min-queries "$MIN_QUERIES"
  } > "$OUT/ort_vs_tract_t$t.md"
done

echo "== int8 forms in tract" >&2
python3 benches/int8_forms.py "$BUNDLE" --mmv "$MMV" --rounds "$ROUNDS" \
  --min-duration "$MIN_DURATION" --markdown "$OUT/int8_forms.md" > /dev/null

echo "== search vs faiss" >&2
{
  echo "# Search vs faiss ($stamp)"
  echo
  echo "\`python3 benches/search_vs_faiss.py $BUNDLE --rows $SEARCH_ROWS --dim 256 --rounds $ROUNDS\`"
  echo
  python3 benches/search_vs_faiss.py "$BUNDLE" --mmv "$MMV" --rows "$SEARCH_ROWS" --dim 256 \
    --rounds "$ROUNDS" --min-duration "$MIN_DURATION" --min-queries "$MIN_QUERIES"
} > "$OUT/search_vs_faiss.md"

echo "== log-mel vs librosa" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One AV-Digits window (1.6 s at 16 kHz) and a 60 s recording, both chirps plus noise.
python3 - "$tmp" <<'EOF'
import sys, numpy as np, soundfile as sf
rng = np.random.default_rng(0)
for name, seconds in (("window", 1.6), ("minute", 60.0)):
    t = np.arange(int(16000 * seconds)) / 16000
    y = 0.4 * np.sin(2 * np.pi * (200 + 300 * (t % 1.6)) * t) + 0.05 * rng.standard_normal(t.size)
    sf.write(f"{sys.argv[1]}/{name}.wav", y.astype(np.float32), 16000, subtype="PCM_16")
EOF
{
  echo "# Log-mel front end vs librosa ($stamp)"
  echo
  echo "The released model's settings (16 kHz, n_fft 512, hop 256, 40 mels, 80-7600 Hz)."
  for name in window minute; do
    "$TARGET/release/examples/logmel_dump" "$tmp/$name.wav" "$tmp/$name" --n-mels 40 >/dev/null
    echo
    echo "## $name"
    echo
    echo '```'
    python3 benches/logmel_vs_librosa.py "$tmp/$name.wav" "$tmp/$name.json" \
      --time "$TARGET/release/mmv-peer-timing" --runs 30
    echo '```'
  done
} > "$OUT/logmel_vs_librosa.md"

echo "== criterion" >&2
cargo bench -q -p mmv-benches --bench hot_paths > "$tmp/criterion.txt" 2>&1
{
  echo "# criterion benches of the hot Rust paths ($stamp)"
  echo
  echo "\`cargo bench -p mmv-benches\` (median of the estimates; see benches/hot_paths.rs)"
  echo
  echo "| bench | median | throughput |"
  echo "| --- | --- | --- |"
  python3 - "$TARGET/criterion" <<'EOF'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
for est in sorted(root.glob("**/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    ns = json.loads(est.read_text())["median"]["point_estimate"]
    tp = bench.get("throughput") or {}
    elems = tp.get("Elements")
    rate = f"{elems / ns * 1e3:.1f} M elements/s" if elems else ""
    print(f"| {bench['full_id']} | {ns / 1e3:.1f} us | {rate} |")
EOF
} > "$OUT/criterion.md"

if [ -n "${MMV_TRAIN:-}" ] && python3 -c "import torch" 2>/dev/null; then
  echo "== training step vs PyTorch" >&2
  {
    echo "# Training step vs PyTorch ($stamp)"
    echo
    echo "\`python3 benches/train_step_vs_pytorch.py --mmv-train \$MMV_TRAIN --data ${MMV_DATA:-../shared/data}\`"
    echo
    python3 benches/train_step_vs_pytorch.py --mmv-train "$MMV_TRAIN" --data "${MMV_DATA:-../shared/data}"
  } > "$OUT/train_step_vs_pytorch.md"
fi

echo "done: $OUT" >&2
