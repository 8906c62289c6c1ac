#!/usr/bin/env python3
"""Check mmv-runtime's log-mel against librosa's.

Usage: logmel_vs_librosa.py WAV RUST_META_JSON [--tol 1e-3]

RUST_META_JSON is written by the Rust side (runtime/tests/logmel_librosa.rs or
`cargo run -p mmv-runtime --example logmel_dump`):
    {"frames": F, "n_mels": M, "data": "x.f32", "config": {LogMelConfig}}
where "data" (relative to the JSON file) holds F*M little-endian float32,
time-major. The WAV must already be at config.sample_rate.

Prints the max abs difference; exits 0 if it is below --tol, 1 if not (or if
the shapes differ), 2 on bad input.
"""

import argparse
import json
import pathlib
import sys

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
    if not max_diff < args.tol:
        print(f"FAIL: max abs diff {max_diff:.3e} >= tolerance {args.tol:.1e}")
        return 1
    print(f"OK: max abs diff {max_diff:.3e} < tolerance {args.tol:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
