#!/usr/bin/env python3
"""int8 in tract: the QDQ graph as exported against the runtime's integer convolutions, and fp32.

Usage: int8_forms.py BUNDLE [BUNDLE ...] [--mmv PATH] [--rounds 3] [--min-duration 2]
                     [--markdown OUT.md]

Each round runs `mmv bench BUNDLE --json` twice: int8 with `MMV_INT8_AS_QDQ=1` (tract runs the
file's QDQ graph as written), and fp32 and int8 without (the runtime
rewrites the quantised 2D convolutions into ConvInteger at load, runtime/src/bundle/qdq.rs),
the two in alternating order per round so that a slow patch of a shared machine hurts both.
The figure per cell is the median over rounds of each round's p50 (1 thread).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time


def bench(mmv, bundle, qdq, min_duration):
    env = dict(os.environ, MMV_INT8_AS_QDQ="1" if qdq else "0")
    out = subprocess.run(
        [mmv, "bench", str(bundle), "--json", "--no-pipeline", "--no-offline", "--search-rows", "0",
         # fp32 does not depend on the int8 form: measured in the integer runs only.
         "--threads", "1", "--precision", "int8" if qdq else "fp32,int8",
         "--encoders", "clip,image,audio",
         "--min-duration", str(min_duration)],
        env=env, check=True, capture_output=True, text=True,
    )
    return {(e["kind"], e["precision"]): e["single_stream"]["p50_ms"]
            for e in json.loads(out.stdout)["encoders"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundles", type=pathlib.Path, nargs="+")
    ap.add_argument("--mmv", default=os.environ.get("MMV", "target/release/mmv"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-duration", type=float, default=2.0)
    ap.add_argument("--markdown", type=pathlib.Path)
    args = ap.parse_args()

    lines = [
        f"int8 forms in tract, `python3 benches/int8_forms.py {' '.join(sys.argv[1:])}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): median over {args.rounds} "
        "alternating rounds of p50, 1 thread, ms.",
        "",
        "| bundle | encoder | fp32 | int8 QDQ as exported | int8 integer convs | QDQ / fp32 "
        "| integer / fp32 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for bundle in args.bundles:
        runs = {True: [], False: []}
        for r in range(args.rounds):
            for qdq in ((True, False) if r % 2 == 0 else (False, True)):
                runs[qdq].append(bench(args.mmv, bundle, qdq, args.min_duration))
                print(bundle.name, "round", r, "qdq" if qdq else "integer", runs[qdq][-1],
                      file=sys.stderr)
        med = lambda qdq, key: statistics.median(run[key] for run in runs[qdq])
        for kind in ("clip", "image", "audio"):
            fp32 = med(False, (kind, "fp32"))
            q, i = med(True, (kind, "int8")), med(False, (kind, "int8"))
            lines.append(f"| {bundle.name} | {kind} | {fp32:.2f} | {q:.2f} | {i:.2f} "
                         f"| {q / fp32:.2f} | **{i / fp32:.2f}** |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
