#!/usr/bin/env python3
"""Do the aarch64 build's native paths give the same tags as x86 fp32? (issue 13, part 5)

Runs `mmv tag --json` over the product-path media that `mmv-train eval-product --keep DIR`
writes (plain WAV, PNG/JPEG, Y4M/MJPEG files), once with the x86 build at fp32 (the reference)
and once per precision with the aarch64 build under qemu-user (`-cpu max`, which has asimdhp
and dotprod, so tract picks its native f16 and int8 kernels), and counts, per set of files, how
many files get the same answer (the best label per modality, and "none" where the bundle has an
open-set cut). It also runs x86 at the same precisions, so that a difference that is the
precision's (the same on both machines) is told apart from one that is the architecture's.

Timings under emulation are not speed figures and are not reported.

    python3 benches/aarch64_agreement.py --bundle models/avdigits-fac-tsm-robust \
        --sets /tmp/pp/fp32 --x86 target/release/mmv \
        --arm target/aarch64-unknown-linux-gnu/release/mmv --per-set 50 \
        --out benches/results/aarch64_agreement.md
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MEDIA = {".wav", ".png", ".jpg", ".jpeg", ".y4m", ".mjpeg"}


def answers(cmd, files, bundle, precision):
    """The answer per file and modality: {path: {modality: label}}."""
    out = subprocess.run(
        cmd
        + ["tag", "--json", "--threads", "1", "--bundle", str(bundle), "--precision", precision]
        + [str(f) for f in files],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = {}
    for f in json.loads(out)["files"]:
        result[f["path"]] = {
            m: (a["label"] if a.get("label") is not None else "none")
            for m, a in sorted(f["answers"].items())
            if a is not None
        }
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True, type=Path)
    p.add_argument("--sets", required=True, type=Path, help="eval-product --keep folder (one precision's)")
    p.add_argument("--x86", required=True, help="the x86 mmv binary")
    p.add_argument("--arm", required=True, help="the aarch64 mmv binary")
    p.add_argument("--qemu", default="qemu-aarch64")
    p.add_argument("--sysroot", default="/usr/aarch64-linux-gnu")
    p.add_argument("--precisions", default="fp32,f16,int8")
    p.add_argument("--per-set", type=int, default=50)
    p.add_argument(
        "--x86-precisions",
        default="int8",
        help="precisions also run on x86 (f16 there is emulated by tract and very slow)",
    )
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    arm = [args.qemu, "-cpu", "max", "-L", args.sysroot, args.arm]
    x86 = [args.x86]
    precisions = args.precisions.split(",")
    x86_precisions = args.x86_precisions.split(",")
    sets = sorted(d for d in args.sets.iterdir() if d.is_dir())
    rows = []
    totals = {}
    started = time.time()
    for d in sets:
        files = sorted(f for f in d.rglob("*") if f.suffix.lower() in MEDIA)[: args.per_set]
        if not files:
            continue
        ref = answers(x86, files, args.bundle, "fp32")
        row = {"set": d.name, "files": len(files), "cells": {}}
        for prec in precisions:
            for machine, cmd in (("arm", arm), ("x86", x86)):
                if machine == "x86" and (prec == "fp32" or prec not in x86_precisions):
                    continue
                got = answers(cmd, files, args.bundle, prec)
                same = total = 0
                for path, modal in ref.items():
                    for m, label in modal.items():
                        total += 1
                        same += got.get(path, {}).get(m) == label
                row["cells"][(machine, prec)] = (same, total)
                t = totals.setdefault((machine, prec), [0, 0])
                t[0] += same
                t[1] += total
        rows.append(row)
        print(d.name, {f"{k[0]} {k[1]}": v for k, v in row["cells"].items()}, file=sys.stderr)

    cols = [
        (m, p)
        for p in precisions
        for m in ("arm", "x86")
        if not (m == "x86" and (p == "fp32" or p not in x86_precisions))
    ]
    uname = subprocess.run(arm + ["--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# aarch64 (qemu-user, -cpu max) against x86 fp32: same answers",
        "",
        f"Written by `python3 benches/aarch64_agreement.py --bundle {args.bundle} --sets {args.sets} "
        f"--per-set {args.per_set} --x86-precisions {args.x86_precisions}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{uname or 'mmv'}, {time.time() - started:.0f} s). Each cell: answers (files x modalities) equal to "
        "the x86 build's at fp32, over all. `arm` is the aarch64 build under qemu-aarch64 `-cpu max` "
        "(asimdhp, dotprod: tract's native f16 and int8 kernels); `x86` the same precision on this "
        "x86 CPU, to tell the precision's own differences from the architecture's. Emulated timings "
        "are not speed figures and are not given.",
        "",
        "| set | files | " + " | ".join(f"{m} {p}" for m, p in cols) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in cols) + " |",
    ]
    for r in rows:
        cells = [f"{r['cells'][c][0]} / {r['cells'][c][1]}" for c in cols]
        lines.append(f"| {r['set']} | {r['files']} | " + " | ".join(cells) + " |")
    cells = [f"**{totals[c][0]} / {totals[c][1]}** ({100 * totals[c][0] / max(totals[c][1], 1):.1f} %)" for c in cols]
    lines.append("| all | | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
