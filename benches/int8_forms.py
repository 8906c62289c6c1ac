#!/usr/bin/env python3
"""int8 in tract: the QDQ file as exported, the runtime's integer convolutions, its direct int8
convolutions, and fp32.

Usage: int8_forms.py BUNDLE [BUNDLE ...] [--mmv PATH] [--rounds 3] [--min-duration 2]
                     [--markdown OUT.md]

Each round runs `mmv bench BUNDLE --json` once per int8 form, in an order that rotates from
round to round so that a slow patch of a shared machine hurts all alike: `MMV_INT8_FORM=qdq`
(tract runs the file's QDQ graph as written), `=integer` (the quantised 2D convolutions
rewritten into ConvInteger at load, runtime/src/bundle/qdq.rs) and `=direct` (the direct int8
convolution on AVX-512 VNNI, runtime/src/bundle/qconv.rs, where the host has it; ConvInteger
for the rest); fp32 is measured in the `direct` runs. The figure per cell is the median over
rounds of each round's p50 (1 thread). The runtime's default is `Int8Form::here()`.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time


FORMS = ("qdq", "integer", "direct")


def bench(mmv, bundle, form, min_duration):
    env = dict(os.environ, MMV_INT8_FORM=form)
    out = subprocess.run(
        [mmv, "bench", str(bundle), "--json", "--no-pipeline", "--no-offline", "--search-rows", "0",
         # fp32 does not depend on the int8 form: measured in the direct runs only.
         "--threads", "1", "--precision", "fp32,int8" if form == "direct" else "int8",
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
        "| bundle | encoder | fp32 | int8 QDQ as exported | int8 integer convs "
        "| int8 direct convs | QDQ / fp32 | integer / fp32 | direct / fp32 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for bundle in args.bundles:
        runs = {form: [] for form in FORMS}
        for r in range(args.rounds):
            order = FORMS[r % 3:] + FORMS[:r % 3]
            for form in order:
                runs[form].append(bench(args.mmv, bundle, form, args.min_duration))
                print(bundle.name, "round", r, form, runs[form][-1], file=sys.stderr)
        med = lambda form, key: statistics.median(run[key] for run in runs[form])
        for kind in ("clip", "image", "audio"):
            fp32 = med("direct", (kind, "fp32"))
            q, i, d = (med(form, (kind, "int8")) for form in FORMS)
            lines.append(f"| {bundle.name} | {kind} | {fp32:.2f} | {q:.2f} | {i:.2f} | {d:.2f} "
                         f"| {q / fp32:.2f} | {i / fp32:.2f} | **{d / fp32:.2f}** |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
