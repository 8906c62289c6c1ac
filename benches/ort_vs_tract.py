#!/usr/bin/env python3
"""tract (through `mmv bench`) against onnxruntime on the very same ONNX files.

Usage: ort_vs_tract.py BUNDLE [--mmv PATH] [--threads 1] [--rounds 3]
                       [--precision fp32,int8] [--min-duration 2] [--min-queries 20]
                       [--markdown OUT.md] [--json OUT.json]

For each round, tract and onnxruntime take turns (tract first in odd rounds, onnxruntime first
in even ones), so that a slow patch of a noisy machine hurts both alike:
  - tract: `mmv bench BUNDLE --json` (SingleStream on every encoder; no pipeline, no search);
  - onnxruntime: an InferenceSession per file (CPUExecutionProvider, intra-op threads = the
    same count, one inter-op thread, all graph optimisations), fed the exact inputs `mmv bench`
    used (written with --inputs-dir), warmed up, then run until both minimums are met.
The figure per engine is the median over rounds of each round's p50. The table gives
tract / onnxruntime: above 1, tract is slower. It also checks that onnxruntime's outputs are
unit vectors (the graphs L2-normalise), and gives the largest absolute difference between the
two runtimes' embeddings for the same input, so a broken feed cannot pass for a fast one.
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort


def run_tract(args, bundle, inputs_dir):
    cmd = [
        args.mmv, "bench", str(bundle), "--json", "--no-pipeline", "--no-offline",
        "--search-rows", "0", "--threads", str(args.threads),
        "--min-duration", str(args.min_duration), "--min-queries", str(args.min_queries),
        "--inputs-dir", str(inputs_dir),
    ]
    if args.precision:
        cmd += ["--precision", args.precision]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    result = {}
    for e in report["encoders"]:
        result[(e["kind"], e["precision"])] = {
            "p50": e["single_stream"]["p50_ms"],
            "p90": e["single_stream"]["p90_ms"],
            "load": e["load_ms"],
            "file": e["file"],
            "valid": e["single_stream"]["verdict"]["valid"],
        }
    return report, result


def load_input(inputs_dir, kind, dtype):
    index = json.loads((inputs_dir / "inputs.json").read_text())
    entry = index[kind]
    raw = (inputs_dir / entry["file"]).read_bytes()
    x = np.frombuffer(raw, dtype="<f4" if entry["dtype"] == "float32" else "<i8")
    x = x.reshape(entry["shape"])
    return x.astype(np.float16) if dtype == "tensor(float16)" else x


def run_ort(args, bundle, inputs_dir, files):
    result = {}
    for (kind, precision), file in sorted(files.items()):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        t = time.perf_counter()
        sess = ort.InferenceSession(str(bundle / file), opts, providers=["CPUExecutionProvider"])
        load = (time.perf_counter() - t) * 1e3
        inp = sess.get_inputs()[0]
        feed = {inp.name: load_input(inputs_dir, kind, inp.type)}
        outputs = sess.run(None, feed)
        for o in outputs:
            norm = float(np.linalg.norm(np.asarray(o, dtype=np.float64)))
            if abs(norm - 1.0) > 2e-2:
                sys.exit(f"{file}: onnxruntime output norm {norm:.4f}, expected 1")
        # tract's answer to the same input (written by `mmv bench --inputs-dir`).
        tract_out = json.loads((inputs_dir / f"{file}.out.json").read_text())
        diff = 0.0
        for meta, o in zip(sess.get_outputs(), outputs):
            if tract_out.get(meta.name) is not None:
                t = np.asarray(tract_out[meta.name], dtype=np.float64)
                diff = max(diff, float(np.abs(t - np.asarray(o, dtype=np.float64).ravel()).max()))
        for _ in range(2):
            sess.run(None, feed)
        lat = []
        start = time.perf_counter()
        while not (len(lat) >= args.min_queries and time.perf_counter() - start >= args.min_duration):
            t = time.perf_counter()
            sess.run(None, feed)
            lat.append((time.perf_counter() - t) * 1e3)
        lat.sort()
        rank = lambda p: lat[max(1, int(np.ceil(p * len(lat)))) - 1]  # nearest rank, as mmv
        result[(kind, precision)] = {"p50": rank(0.5), "p90": rank(0.9), "load": load,
                                     "n": len(lat), "diff": diff}
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=pathlib.Path)
    ap.add_argument("--mmv", default=os.environ.get("MMV", "target/release/mmv"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precision", default=None, help="comma-separated; default as mmv bench")
    ap.add_argument("--min-duration", type=float, default=2.0)
    ap.add_argument("--min-queries", type=int, default=20)
    ap.add_argument("--markdown", type=pathlib.Path)
    ap.add_argument("--json", type=pathlib.Path)
    args = ap.parse_args()

    tract_rounds, ort_rounds = [], []
    report = None
    with tempfile.TemporaryDirectory() as tmp:
        inputs_dir = pathlib.Path(tmp)
        for r in range(args.rounds):
            order = ["tract", "ort"] if r % 2 == 0 else ["ort", "tract"]
            if r == 0:
                order = ["tract", "ort"]  # tract writes the inputs first
            for engine in order:
                if engine == "tract":
                    report, t = run_tract(args, args.bundle, inputs_dir)
                    tract_rounds.append(t)
                else:
                    files = {k: v["file"] for k, v in tract_rounds[-1].items()}
                    ort_rounds.append(run_ort(args, args.bundle, inputs_dir, files))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    rows = []
    for key in sorted(tract_rounds[0]):
        tp50 = statistics.median(rd[key]["p50"] for rd in tract_rounds)
        op50 = statistics.median(rd[key]["p50"] for rd in ort_rounds)
        tp90 = statistics.median(rd[key]["p90"] for rd in tract_rounds)
        op90 = statistics.median(rd[key]["p90"] for rd in ort_rounds)
        rows.append({
            "encoder": key[0], "precision": key[1], "threads": args.threads,
            "tract_p50_ms": tp50, "ort_p50_ms": op50, "ratio_p50": tp50 / op50,
            "tract_p90_ms": tp90, "ort_p90_ms": op90,
            "tract_load_ms": statistics.median(rd[key]["load"] for rd in tract_rounds),
            "ort_load_ms": statistics.median(rd[key]["load"] for rd in ort_rounds),
            "tract_valid_all_rounds": all(rd[key]["valid"] for rd in tract_rounds),
            "max_abs_diff": max(rd[key]["diff"] for rd in ort_rounds),
        })

    m = report["machine"]
    head = (
        f"tract (mmv bench) vs onnxruntime {ort.__version__} (CPUExecutionProvider), "
        f"{args.threads} thread(s), median of {args.rounds} alternating rounds of p50 "
        f"(each round >= {args.min_duration} s and >= {args.min_queries} queries); "
        f"{m.get('cpu_model')} ({m['cores']} cores), python {platform.python_version()}"
    )
    lines = [head, "",
             "| encoder | precision | tract p50 ms | ort p50 ms | tract / ort | tract p90 ms | ort p90 ms | tract load ms | ort load ms | max abs diff |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['encoder']} | {r['precision']} | {r['tract_p50_ms']:.3f} | {r['ort_p50_ms']:.3f} | "
            f"**{r['ratio_p50']:.2f}** | {r['tract_p90_ms']:.3f} | {r['ort_p90_ms']:.3f} | "
            f"{r['tract_load_ms']:.1f} | {r['ort_load_ms']:.1f} | {r['max_abs_diff']:.1e} |"
        )
    for s in report.get("skipped", []):
        lines.append(f"\n(skipped {s['what']}: {s['why']})")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"header": head, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
