#!/usr/bin/env python3
"""Brute-force search: mmv-runtime's in-memory table against faiss IndexFlatIP.

Usage: search_vs_faiss.py BUNDLE [--mmv PATH] [--rows 1000000] [--dim 256] [--threads CORES]
                          [--rounds 3] [--min-duration 2] [--min-queries 20] [--markdown OUT.md]

Both sides hold ROWS random unit vectors of width DIM and answer one top-10 inner-product
query at a time (SingleStream; nearest-rank p50). mmv's side is `mmv bench BUNDLE --encoders
none --no-pipeline --search-rows ROWS --search-dim DIM --json` (from 16,384 rows its search
scans int8 copies of the rows on all cores and re-ranks the candidates in f32; the report also
carries its exact f32 one-core scan and the recall@10 of the fast scan against it); faiss runs
IndexFlatIP with DIM and omp threads = --threads (default: all cores, as mmv), queries of one
vector.
The two alternate for --rounds rounds; the figure is the median of the rounds' p50s, and the
ratio mmv / faiss (above 1: mmv is slower). faiss's answers are checked against numpy's exact
top-10 on the first queries, so a fast wrong answer cannot pass.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import faiss
import numpy as np


def run_mmv(args):
    cmd = [
        args.mmv, "bench", str(args.bundle), "--json", "--encoders", "none", "--no-pipeline",
        "--search-rows", str(args.rows), "--search-dim", str(args.dim),
        "--min-duration", str(args.min_duration), "--min-queries", str(args.min_queries),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    s = report["search"]
    return report, {"p50": s["single_stream"]["p50_ms"], "p90": s["single_stream"]["p90_ms"],
                    "build": s["build_ms"], "valid": s["single_stream"]["verdict"]["valid"],
                    "exact": s["exact_p50_ms"], "recall": s["recall_at_k"]}


def run_faiss(args, data, rng):
    faiss.omp_set_num_threads(args.threads)
    t = time.perf_counter()
    index = faiss.IndexFlatIP(args.dim)
    index.add(data)
    build = (time.perf_counter() - t) * 1e3

    def query():
        q = rng.standard_normal((1, args.dim)).astype(np.float32)
        q /= np.linalg.norm(q)
        return q

    for _ in range(3):  # warm-up, and exactness against numpy
        q = query()
        _, ids = index.search(q, 10)
        exact = np.argsort(-(data @ q[0]))[:10]
        if set(ids[0].tolist()) != set(exact.tolist()):
            sys.exit("faiss top-10 differs from numpy's exact top-10")
    lat = []
    start = time.perf_counter()
    while not (len(lat) >= args.min_queries and time.perf_counter() - start >= args.min_duration):
        q = query()
        t = time.perf_counter()
        index.search(q, 10)
        lat.append((time.perf_counter() - t) * 1e3)
    lat.sort()
    rank = lambda p: lat[max(1, int(np.ceil(p * len(lat)))) - 1]
    return {"p50": rank(0.5), "p90": rank(0.9), "build": build, "n": len(lat)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=pathlib.Path)
    ap.add_argument("--mmv", default=os.environ.get("MMV", "target/release/mmv"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-duration", type=float, default=2.0)
    ap.add_argument("--min-queries", type=int, default=20)
    ap.add_argument("--markdown", type=pathlib.Path)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    mmv_rounds, faiss_rounds, report = [], [], None
    for r in range(args.rounds):
        for engine in (["mmv", "faiss"] if r % 2 == 0 else ["faiss", "mmv"]):
            if engine == "mmv":
                report, m = run_mmv(args)
                mmv_rounds.append(m)
            else:
                faiss_rounds.append(run_faiss(args, data, rng))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    med = lambda rounds, k: statistics.median(x[k] for x in rounds)
    mp50, fp50 = med(mmv_rounds, "p50"), med(faiss_rounds, "p50")
    m = report["machine"]
    text = (
        f"Brute-force top-10, {args.rows} x {args.dim} float32 unit vectors, one query at a time; "
        f"faiss {faiss.__version__} IndexFlatIP with {args.threads} omp thread(s); median of "
        f"{args.rounds} alternating rounds of p50 (each >= {args.min_duration} s and >= "
        f"{args.min_queries} queries); {m.get('cpu_model')} ({m['cores']} cores)\n\n"
        "| engine | p50 ms | p90 ms | build ms | Mrows/s at p50 |\n"
        "| --- | --- | --- | --- | --- |\n"
        f"| mmv-runtime EmbeddingTable::top_k | {mp50:.2f} | {med(mmv_rounds, 'p90'):.2f} | "
        f"{med(mmv_rounds, 'build'):.0f} | {args.rows / mp50 / 1e3:.0f} |\n"
        f"| faiss IndexFlatIP | {fp50:.2f} | {med(faiss_rounds, 'p90'):.2f} | "
        f"{med(faiss_rounds, 'build'):.0f} | {args.rows / fp50 / 1e3:.0f} |\n"
        f"| mmv-runtime top_k_exact (f32, one core) | {med(mmv_rounds, 'exact'):.2f} | | | "
        f"{args.rows / med(mmv_rounds, 'exact') / 1e3:.0f} |\n\n"
        f"mmv / faiss at p50: **{mp50 / fp50:.2f}** (mmv valid in every round: "
        f"{all(x['valid'] for x in mmv_rounds)}); mmv recall@10 against its exact scan: "
        f"{min(x['recall'] for x in mmv_rounds):.3f} (worst round)\n"
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
