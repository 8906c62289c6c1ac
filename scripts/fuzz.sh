#!/usr/bin/env bash
# Fuzzes every parser of untrusted input (fuzz/, issue 14) for SECONDS each, one target at a
# time, and writes the README's table to fuzz/results.md from libFuzzer's own statistics.
#
#   scripts/fuzz.sh            # 15 s a target (CI: ~3 min of fuzzing plus the build)
#   scripts/fuzz.sh 600        # the longer run: 10 min a target, ~2 h in all
#   FUZZ_TARGETS="wav y4m" scripts/fuzz.sh 60
#   FUZZ_FLAGS=--no-default-features scripts/fuzz.sh   # without the daemon (no `config` target)
#
# Needs a nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). Built without a sanitizer (`-s none`: the code is Rust, and
# SQLite's C is fuzzed upstream), with debug assertions and overflow checks (`-a`).
# The working corpus is fuzz/corpus/<target> (not committed), seeded from fuzz/seeds/<target>
# (committed; fuzz/make_seeds.py writes them). A crash's input is copied to
# fuzz/regressions/<target>/ -- commit it with the fix; tests/fuzz_replay.rs replays it on
# stable. The script fails if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-15}
flags=(-s none -a -O ${FUZZ_FLAGS:-})
all=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^mmv-fuzz$')
case "${FUZZ_FLAGS:-}" in *no-default-features*) all=$(echo "$all" | grep -v '^config$');; esac
targets=${FUZZ_TARGETS:-$all}
nice_cmd=(nice -n 10)

cargo +nightly fuzz build "${flags[@]}" >/dev/null

results=results.md
tmp=$(mktemp)
open=0
for t in $targets; do
  mkdir -p "corpus/$t" "regressions/$t" "artifacts/$t"
  # The whole real network too (only a prefix of it is a committed seed).
  if [ "$t" = onnx ]; then cp ../models/avdigits-fac-s3d/image.int8.onnx corpus/onnx/real-image-int8.onnx; fi
  before=$(find "artifacts/$t" -type f | wc -l)
  log="artifacts/$t.log"
  set +e
  "${nice_cmd[@]}" cargo +nightly fuzz run "${flags[@]}" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(( $(find "artifacts/$t" -type f | wc -l) - before ))
  for a in $(find "artifacts/$t" -type f -newer "$tmp" 2>/dev/null); do
    cp "$a" "regressions/$t/"
  done
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  open=$((open + crashes))
  fixed=$(find "regressions/$t" -type f | wc -l)
  corpus=$(find "corpus/$t" -type f | wc -l)
  echo "$t ${execs:-0} $crashes $fixed $corpus" >>"$tmp.rows"
  echo "fuzz $t: ${execs:-0} executions in ${seconds}s, $crashes crashes, corpus $corpus (exit $rc)" >&2
  if [ "$rc" -ne 0 ]; then tail -30 "$log" >&2; fi
done

{
  echo "| target | parser | executions | crashes this run | regression inputs (crashes found and fixed) | corpus size |"
  echo "|---|---|---:|---:|---:|---:|"
  while read -r t execs crashes fixed corpus; do
    case $t in
      wav) p="WAV (audio::read_wav_from)";;
      y4m) p="Y4M (ingest::y4m)";;
      mjpeg) p="MJPEG stream + JPEG decoder (ingest::mjpeg)";;
      raw) p="raw camera frames (ingest::raw)";;
      image) p="JPEG/PNG stills (frames::decode_image)";;
      labels) p="label files (tag::LabelSet::parse)";;
      text) p="text queries (text::Tokenizer)";;
      vocab) p="vocabulary (text::Vocab::parse_text)";;
      manifest) p="bundle manifest (bundle::manifest)";;
      config) p="daemon config TOML (mmv_host::config)";;
      onnx) p="ONNX network (bundle::EncoderSession::load)";;
      index) p="SQLite index (index::Index::open_existing)";;
      *) p=$t;;
    esac
    echo "| $t | $p | $execs | $crashes | $fixed | $corpus |"
  done <"$tmp.rows"
  echo
  echo "${seconds} s a target, $(date -u +%Y-%m-%d), \`scripts/fuzz.sh $seconds\`; open crashes: $open."
} >"$results"
rm -f "$tmp" "$tmp.rows"
cat "$results"
[ "$open" -eq 0 ]
