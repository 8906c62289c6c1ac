#!/usr/bin/env python3
"""Check mmv-runtime's log-mel against librosa's.

Usage: logmel_vs_librosa.py WAV RUST_META_JSON [--tol 1e-3] [--time PEER_TIMING [--runs N]]

RUST_META_JSON is written by the Rust side (runtime/tests/logmel_librosa.rs or
`cargo run -p mmv-runtime --example logmel_dump`):
    {"frames": F, "n_mels": M, "data": "x.f32", "config": {LogMelConfig}}
where "data" (relative to the JSON file) holds F*M little-endian float32,
time-major. The WAV must already be at config.sample_rate.

Prints the max abs difference; exits 0 if it is below --tol, 1 if not (or if
the shapes differ), 2 on bad input.

With --time PEER_TIMING (the `mmv-peer-timing` binary of crate mmv-benches), it
also times both front ends on the same WAV and configuration in this run (median
of --runs after two warm-ups each) and prints the ratio Rust / librosa and each
one's real-time factor (seconds of audio per second of compute).
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

import librosa
import numpy as np
import soundfile as sf


def librosa_logmel(y: np.ndarray, cfg: dict) -> np.ndarray:
    """The reference: exactly the parameters mmv-runtime claims to match."""
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=cfg["sample_rate"],
        n_fft=cfg["n_fft"],
        hop_length=cfg["hop_length"],
        win_length=cfg["n_fft"],
        window="hann",
        center=True,
        pad_mode="constant",
        power=1.0,
        n_mels=cfg["n_mels"],
        fmin=cfg["f_min"],
        fmax=cfg["f_max"],
        htk=True,
        norm=None,
    )
    return np.log(mel + 1e-6).T  # [frames, n_mels], like the Rust layout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wav", type=pathlib.Path)
    ap.add_argument("rust_meta", type=pathlib.Path)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--time", type=pathlib.Path, metavar="PEER_TIMING")
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()

    meta = json.loads(args.rust_meta.read_text())
    cfg = meta["config"]
    frames, n_mels = int(meta["frames"]), int(meta["n_mels"])
    raw = (args.rust_meta.parent / meta["data"]).read_bytes()
    rust = np.frombuffer(raw, dtype="<f4")
    if rust.size != frames * n_mels:
        print(f"error: {meta['data']} holds {rust.size} floats, meta says {frames}x{n_mels}")
        return 2
    rust = rust.reshape(frames, n_mels)

    # Same decoding as mmv_runtime::audio::read_wav: int16 / 32768 as float32,
    # channels averaged.
    y, sr = sf.read(args.wav, dtype="float32", always_2d=True)
    y = y.mean(axis=1, dtype=np.float32) if y.shape[1] > 1 else y[:, 0]
    if sr != cfg["sample_rate"]:
        print(f"error: {args.wav} is {sr} Hz but the config expects {cfg['sample_rate']} Hz")
        return 2

    ref = librosa_logmel(y, cfg)
    print(f"librosa {librosa.__version__}, numpy {np.__version__}")
    print(f"config: {cfg}")
    print(f"samples: {len(y)}  rust: {rust.shape}  librosa: {ref.shape}")
    if ref.shape != rust.shape:
        print("FAIL: shapes differ")
        return 1
    diff = np.abs(ref.astype(np.float64) - rust.astype(np.float64))
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    max_diff = float(diff.max())
    print(
        f"max abs diff: {max_diff:.3e} at frame {worst[0]}, mel {worst[1]} "
        f"(rust {rust[worst]:.6f}, librosa {ref[worst]:.6f}); mean abs diff {diff.mean():.3e}"
    )
    if args.time:
        time_both(args, y, cfg)
    if not max_diff < args.tol:
        print(f"FAIL: max abs diff {max_diff:.3e} >= tolerance {args.tol:.1e}")
        return 1
    print(f"OK: max abs diff {max_diff:.3e} < tolerance {args.tol:.1e}")
    return 0


def time_both(args, y, cfg):
    """Times librosa and the Rust front end on the same samples, and prints the ratio."""
    for _ in range(2):
        librosa_logmel(y, cfg)
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        librosa_logmel(y, cfg)
        times.append((time.perf_counter() - t) * 1e3)
    librosa_ms = sorted(times)[(len(times) - 1) // 2]
    out = subprocess.run(
        [str(args.time), "logmel", str(args.wav), str(args.rust_meta), str(args.runs)],
        check=True, capture_output=True, text=True,
    )
    rust_ms = json.loads(out.stdout)["median_ms"]
    audio_s = len(y) / cfg["sample_rate"]
    print(
        f"timing ({len(y)} samples = {audio_s:.2f} s of audio, median of {args.runs}): "
        f"rust {rust_ms:.3f} ms ({audio_s * 1e3 / rust_ms:.0f}x real time), "
        f"librosa {librosa_ms:.3f} ms ({audio_s * 1e3 / librosa_ms:.0f}x real time); "
        f"rust / librosa = {rust_ms / librosa_ms:.3f}"
    )


if __name__ == "__main__":
    sys.exit(main())
