#!/usr/bin/env bash
# Builds the kit that scripts/gpu-run.sh needs on a lent GPU machine (issue 20), here, where
# Rust and the network are: that machine has neither, and what travels there is limited
# (64 MiB with the device tool), so the kit holds only release binaries (stripped), the
# training data's three folders and libdevice.
#   scripts/gpu-kit.sh [KIT_DIR (default gpu-kit)]    # MMV_DATA: the data folder
# Then, on the GPU machine, from the repository root with the kit beside it:
#   scripts/gpu-run.sh --kit gpu-kit --out "$OUT"
set -euo pipefail
cd "$(dirname "$0")/.."
kit=${1:-gpu-kit}
data=${MMV_DATA:?set MMV_DATA to the data folder (../shared/data)}
mkdir -p "$kit"

# burn's CUDA backend builds offline against Debian's LLVM (scripts/cuda-setup.sh).
eval "$(bash scripts/cuda-setup.sh)"

# Release builds: the trainer with the cuda feature, its two parity tests, and mmv (its FLOP
# counter). The test binaries are found through cargo's JSON messages (their names carry a hash).
cargo build --release -p mmv-training --features cuda --bin mmv-train
cargo build --release -p mmv-cli --bin mmv
tests=$(cargo test --release -p mmv-training --features cuda --test cuda_parity --test export_parity \
  --no-run --message-format=json |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])')
cp target/release/mmv-train target/release/mmv "$kit/"
while read -r name exe; do cp "$exe" "$kit/$name"; done <<<"$tests"
# Debug info is most of a binary that links LLVM statically.
strip "$kit"/mmv-train "$kit"/mmv "$kit"/cuda_parity "$kit"/export_parity

# libdevice (NVIDIA's bitcode maths library), which kernels calling exp / tanh / erf link at run
# time: from the PyPI wheel nvidia-cuda-nvcc-cu12, downloaded, not installed.
if [ ! -f "$kit/libdevice.10.bc" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" nvidia-cuda-nvcc-cu12
  python3 -m zipfile -e "$tmp"/nvidia_cuda_nvcc_cu12-*.whl "$tmp/x"
  cp "$(find "$tmp/x" -name libdevice.10.bc | head -1)" "$kit/"
  rm -rf "$tmp"
fi

# The data training reads (FSDD, MNIST, GloVe); the footage and the held-out voice stay here.
mkdir -p "$kit/data"
for d in fsdd mnist glove; do cp -r "$data/$d" "$kit/data/"; done
du -sh "$kit" "$kit"/*
