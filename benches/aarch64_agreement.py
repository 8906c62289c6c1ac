#!/usr/bin/env python3
"""Do the aarch64 build's native paths give the same tags as x86 fp32? (issue 13, part 5)

Runs `mmv tag --json` over the product-path media that `mmv-train eval-product --keep DIR`
writes (plain WAV, PNG/JPEG, Y4M/MJPEG files), once with the x86 build at fp32 (the reference)
and once per precision with the aarch64 build under qemu-user (`-cpu max`, which has asimdhp
and dotprod, so tract picks its native f16 and int8 kernels), and counts, per set of files, how
many files get the same answer (the best label per modality, and "none" where the bundle has an
open-set cut). It also runs x86 at the same precisions, so that a difference that is the
precision's (the same on both machines) is told apart from one that is the architecture's.

With `--footage DIR` it also runs the daemon, `mmv-host`, both builds, on each folder of DIR
that holds a camera file `cam.y4m` and a microphone file `mic.wav` (e.g. `mmv demo --keep`'s
footage renamed, or `cargo run -p mmv-host --example event_rules -- --write DIR`), and counts
its tag lines (the best label of every image, clip and audio window) and start events equal to
x86 fp32's.

The aarch64 binaries run on the target's own glibc (Debian's `libc6:arm64`, installed with
`libasound2-dev:arm64` after `dpkg --add-architecture arm64`), not with `-L` on the cross
toolchain's sysroot: the cross package's loader (`libc6-arm64-cross` 2.36-8cross1) hangs every
`pthread_create` under qemu-user (7.2 and 10.0 alike), which is what kept `mmv-host` from running.

Timings under emulation are not speed figures and are not reported.

    python3 benches/aarch64_agreement.py --bundle models/avdigits-fac-tsm-robust \
        --sets /tmp/pp/fp32 --x86 target/release/mmv \
        --arm target/aarch64-unknown-linux-gnu/release/mmv --per-set 50 \
        --out benches/results/aarch64_agreement.md \
        --footage /tmp/footage --x86-host target/release/mmv-host \
        --arm-host target/aarch64-unknown-linux-gnu/release/mmv-host
"""

import argparse
import json
import subprocess
import sys
import tempfile
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


HOST_CONFIG = """[bundle]
dir = "{bundle}"
precision = "{precision}"
threads = 1

[camera]
source = "y4m"
path = "{footage}/cam.y4m"
at_end = "stop"

[microphone]
source = "wav"
path = "{footage}/mic.wav"
at_end = "stop"

[labels]
names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

[index]
path = "{work}/index.sqlite"

[outputs]
tags = "{work}/tags.jsonl"
framebuffer = "off"
"""


def daemon_lines(cmd, footage, bundle, precision):
    """The daemon's answers on one footage folder: {(modality, start_s): label or "none"} for its
    tag lines and the set of (modality, label, start_s) of its start events."""
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "host.toml"
        config.write_text(
            HOST_CONFIG.format(
                bundle=Path(bundle).resolve(),
                precision=precision,
                footage=Path(footage).resolve(),
                work=work,
            )
        )
        subprocess.run(cmd + ["--config", str(config)], check=True, capture_output=True)
        windows, events = {}, set()
        for line in (Path(work) / "tags.jsonl").read_text().splitlines():
            r = json.loads(line)
            key = (r["modality"], round(r["start_s"], 3))
            if r.get("event") == "start":
                events.add((r["modality"], r["label"], round(r["start_s"], 3)))
            elif "tags" in r:
                best = r["tags"][0] if r["tags"] else None
                windows[key] = best["label"] if best and best.get("present", True) else "none"
    return windows, events


def columns(precisions, x86_precisions):
    return [
        (m, p)
        for p in precisions
        for m in ("arm", "x86")
        if not (m == "x86" and (p == "fp32" or p not in x86_precisions))
    ]


def tag_table(args, arm, x86, cols):
    """`mmv tag` over the product-path sets: (table lines, seconds)."""
    started = time.time()
    sets = sorted(d for d in args.sets.iterdir() if d.is_dir())
    rows = []
    totals = {}
    for d in sets:
        files = sorted(f for f in d.rglob("*") if f.suffix.lower() in MEDIA)[: args.per_set]
        if not files:
            continue
        ref = answers(x86, files, args.bundle, "fp32")
        row = {"set": d.name, "files": len(files), "cells": {}}
        for machine, prec in cols:
            got = answers(arm if machine == "arm" else x86, files, args.bundle, prec)
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
    lines = [
        "| set | files | " + " | ".join(f"{m} {p}" for m, p in cols) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in cols) + " |",
    ]
    for r in rows:
        cells = [f"{r['cells'][c][0]} / {r['cells'][c][1]}" for c in cols]
        lines.append(f"| {r['set']} | {r['files']} | " + " | ".join(cells) + " |")
    lines.append("| all | | " + " | ".join(total_cell(totals[c]) for c in cols) + " |")
    return lines, time.time() - started


def daemon_table(args, arm_host, x86_host, cols):
    """`mmv-host` on each footage folder: (table lines, seconds)."""
    started = time.time()
    folders = sorted(d for d in args.footage.iterdir() if (d / "cam.y4m").exists())
    lines = [
        "| footage | what | " + " | ".join(f"{m} {p}" for m, p in cols) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in cols) + " |",
    ]
    totals = {}
    for d in folders:
        ref_windows, ref_events = daemon_lines(x86_host, d, args.bundle, "fp32")
        got = {
            c: daemon_lines(arm_host if c[0] == "arm" else x86_host, d, args.bundle, c[1])
            for c in cols
        }
        for modality in sorted({m for m, _ in ref_windows}):
            keys = [k for k in ref_windows if k[0] == modality]
            cells = []
            for c in cols:
                same = sum(got[c][0].get(k) == ref_windows[k] for k in keys)
                cells.append(f"{same} / {len(keys)}")
                t = totals.setdefault(("windows", c), [0, 0])
                t[0] += same
                t[1] += len(keys)
            lines.append(f"| {d.name} | {modality} windows | " + " | ".join(cells) + " |")
        cells = []
        for c in cols:
            events = got[c][1]
            same = len(events & ref_events)
            extra = len(events - ref_events)
            cells.append(f"{same} / {len(ref_events)}" + (f" (+{extra})" if extra else ""))
            t = totals.setdefault(("events", c), [0, 0])
            t[0] += same
            t[1] += len(ref_events)
        lines.append(f"| {d.name} | start events | " + " | ".join(cells) + " |")
        print(d.name, lines[-1], file=sys.stderr)
    for what in ("windows", "events"):
        lines.append(
            f"| all | {what} | " + " | ".join(total_cell(totals[(what, c)]) for c in cols) + " |"
        )
    return lines, time.time() - started


def total_cell(t):
    return f"**{t[0]} / {t[1]}** ({100 * t[0] / max(t[1], 1):.1f} %)"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True, type=Path)
    p.add_argument("--sets", type=Path, help="eval-product --keep folder (one precision's)")
    p.add_argument("--x86", help="the x86 mmv binary")
    p.add_argument("--arm", help="the aarch64 mmv binary")
    p.add_argument("--footage", type=Path, help="folders of cam.y4m + mic.wav for mmv-host")
    p.add_argument("--x86-host", help="the x86 mmv-host binary")
    p.add_argument("--arm-host", help="the aarch64 mmv-host binary")
    p.add_argument("--qemu", default="qemu-aarch64")
    p.add_argument(
        "--sysroot",
        help="qemu's -L; leave unset where libc6:arm64 is installed (see above)",
    )
    p.add_argument("--precisions", default="fp32,f16,int8")
    p.add_argument("--per-set", type=int, default=50)
    p.add_argument(
        "--x86-precisions",
        default="int8",
        help="precisions also run on x86 (f16 there is emulated by tract and very slow)",
    )
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if args.sets and not (args.x86 and args.arm):
        p.error("--sets needs --x86 and --arm")
    if args.footage and not (args.x86_host and args.arm_host):
        p.error("--footage needs --x86-host and --arm-host")
    if not (args.sets or args.footage):
        p.error("nothing to run: give --sets and/or --footage")

    qemu = [args.qemu, "-cpu", "max"] + (["-L", args.sysroot] if args.sysroot else [])
    cols = columns(args.precisions.split(","), args.x86_precisions.split(","))
    version = subprocess.run([args.qemu, "--version"], capture_output=True, text=True).stdout
    version = version.splitlines()[0] if version else args.qemu
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = " ".join(sys.argv[1:])
    lines = [
        "# aarch64 (qemu-user, -cpu max) against x86 fp32: same answers",
        "",
        f"Written by `python3 benches/aarch64_agreement.py {command}` ({when}, {version}). "
        "`arm` is the aarch64 build under qemu-aarch64 `-cpu max` (asimdhp, dotprod: tract's "
        "native f16 and int8 kernels); `x86` the same precision on this x86 CPU, to tell the "
        "precision's own differences from the architecture's. Emulated timings are not speed "
        "figures and are not given.",
    ]
    sections = []
    if args.sets:
        sections.append(
            (
                "`mmv tag` on the product-path sets",
                "Each cell: answers (files x modalities) equal to the x86 build's at fp32.",
                tag_table(args, qemu + [args.arm], [args.x86], cols),
            )
        )
    if args.footage:
        sections.append(
            (
                "`mmv-host` on footage",
                "Each cell: the daemon's windows whose best label (or \"none\") equals the x86 "
                "build's at fp32, and its start events (modality, label, time) equal to x86 "
                "fp32's (in brackets: events x86 fp32 did not start).",
                daemon_table(args, qemu + [args.arm_host], [args.x86_host], cols),
            )
        )
    for title, legend, (table, secs) in sections:
        lines += ["", f"## {title} ({secs:.0f} s)", "", legend, ""] + table
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
