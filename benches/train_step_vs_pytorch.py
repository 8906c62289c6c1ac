#!/usr/bin/env python3
"""One training step of the MMV FAC model: burn (mmv-train) against PyTorch on the CPU.

Usage: train_step_vs_pytorch.py --mmv-train PATH [--config models/avdigits-fac-s3d.toml]
                                [--data ../shared/data] [--steps 15] [--batch-size 16]
                                [--threads 2] [--rounds 2] [--markdown OUT.md]

burn: `mmv-train train --config C --data D --out TMP --stop-at STEPS --batch-size B`, then the
median of `step_s` in its metrics.jsonl (forward, backward and Adam; data loading is timed
apart, in `data_s`), the first 3 steps left out as warm-up.
PyTorch: the same architecture built from the same TOML (S3D-G video network, 2D ResNet audio
network, frozen word table + per-word Linear/ReLU/max text network, FAC heads with BatchNorm,
NCE(video, audio) + MIL-NCE(video, text) at the config's temperature, Adam with its epsilon),
on random inputs of the same shapes, torch.set_num_threads(--threads); median of STEPS - 3
steps. The two alternate for --rounds rounds; the table gives burn / PyTorch.
Needs `pip install torch` (not in requirements.txt: it is large and only this script uses it).
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBnRelu3d(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, k, padding=tuple(x // 2 for x in k), bias=False)
        self.bn = nn.BatchNorm3d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SepConv3d(nn.Module):
    def __init__(self, cin, cout, k=3):
        super().__init__()
        self.spatial = ConvBnRelu3d(cin, cout, (1, k, k))
        self.temporal = ConvBnRelu3d(cout, cout, (k, 1, 1))

    def forward(self, x):
        return self.temporal(self.spatial(x))


class S3dgBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        half, reduce = cout // 2, max(cout // 4, 1)
        self.branch0 = ConvBnRelu3d(cin, half, (1, 1, 1))
        self.branch1_reduce = ConvBnRelu3d(cin, reduce, (1, 1, 1))
        self.branch1 = SepConv3d(reduce, cout - half)
        self.gate = nn.Linear(cout, cout)

    def forward(self, x):
        y = torch.cat([self.branch0(x), self.branch1(self.branch1_reduce(x))], 1)
        g = torch.sigmoid(self.gate(y.mean(dim=(2, 3, 4))))
        return y * g[:, :, None, None, None]


class S3dg(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.stem = SepConv3d(cfg["channels"], cfg["widths"][0])
        blocks, self.down, c = [], [], cfg["widths"][0]
        for stage, w in enumerate(cfg["widths"]):
            for b in range(cfg["blocks_per_stage"]):
                self.down.append(stage > 0 and b == 0)
                blocks.append(S3dgBlock(c, w))
                c = w
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        x = self.stem(x)
        for block, down in zip(self.blocks, self.down):
            if down:  # spatial 3x3/2 max pool of every frame, as burn's [B, C*T, H, W] view
                b, c, t, h, w = x.shape
                x = F.max_pool2d(x.reshape(b, c * t, h, w), 3, 2, 1)
                x = x.reshape(b, c, t, *x.shape[2:])
            x = block(x)
        return x.mean(dim=(2, 3, 4))


class ConvBn2d(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class ResBlock2d(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = ConvBn2d(cin, cout, 3, stride)
        self.conv2 = ConvBn2d(cout, cout, 3, 1)
        self.shortcut = ConvBn2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + (self.shortcut(x) if self.shortcut else x))


class AudioResNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.stem = ConvBn2d(1, cfg["widths"][0], 3, 1)
        blocks, c = [], cfg["widths"][0]
        for stage, w in enumerate(cfg["widths"]):
            for b in range(cfg["blocks_per_stage"]):
                blocks.append(ResBlock2d(c, w, 2 if stage > 0 and b == 0 else 1))
                c = w
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(F.relu(self.stem(x))).mean(dim=(2, 3))


class Text(nn.Module):
    def __init__(self, vocab, cfg):
        super().__init__()
        self.register_buffer("words", torch.randn(vocab, cfg["word_dim"]))  # frozen
        self.proj = nn.Linear(cfg["word_dim"], cfg["hidden"])

    def forward(self, ids):
        mask = (ids != 0).float()[..., None]
        return (F.relu(self.proj(self.words[ids])) * mask).amax(dim=2)


class LinearBn(nn.Module):
    def __init__(self, i, o, bias):
        super().__init__()
        self.linear, self.bn = nn.Linear(i, o, bias=bias), nn.BatchNorm1d(o)

    def forward(self, x):
        return self.bn(self.linear(x))


class FacMmv(nn.Module):
    def __init__(self, cfg, vocab):
        super().__init__()
        va, vat = cfg["heads"]["va_dim"], cfg["heads"]["vat_dim"]
        d_v, d_a = cfg["video"]["widths"][-1], cfg["audio"]["widths"][-1]
        self.video, self.audio = S3dg(cfg["video"]), AudioResNet(cfg["audio"])
        self.text = Text(vocab, cfg["text"])
        self.v1, self.v2 = LinearBn(d_v, va, True), LinearBn(va, va, False)
        self.a = nn.Linear(d_a, va)
        self.va_to_vat = LinearBn(va, vat, True)
        self.t = nn.Linear(cfg["text"]["hidden"], vat)

    def forward(self, video, logmel, ids):
        v_va = self.v2(F.relu(self.v1(self.video(video))))
        v_vat = self.va_to_vat(F.relu(v_va))
        a_va = self.a(self.audio(logmel))
        return v_va, v_vat, a_va, self.t(self.text(ids))


def mil_nce(v, t, tau):
    """As training/src/loss.rs: each clip's row and column of the score matrix."""
    b, k, d = t.shape
    v, t = F.normalize(v, dim=-1), F.normalize(t, dim=-1)
    scores = (v @ t.reshape(b * k, d).T / tau).reshape(b, b, k)
    pos = torch.logsumexp((v[:, None, :] * t).sum(-1) / tau, 1)
    row, col = scores.reshape(b, b * k), scores.transpose(0, 1).reshape(b, b * k)
    return (torch.logsumexp(torch.cat([row, col], 1), 1) - pos).mean()


def torch_steps(cfg, args, vocab):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = FacMmv(cfg, vocab)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["optim"]["learning_rate"],
                           eps=cfg["optim"]["adam_epsilon"])
    b, v, a, tx = args.batch_size, cfg["video"], cfg["audio"], cfg["text"]
    lm = a["logmel"]
    frames = int(v["frames"] / v["fps"] * lm["sample_rate"]) // lm["hop_length"] + 1
    tau = cfg["loss"]["temperature"]
    times = []
    for _ in range(args.steps):
        video = torch.randn(b, v["channels"], v["frames"], v["size"], v["size"])
        logmel = torch.randn(b, 1, frames, lm["n_mels"])
        ids = torch.randint(1, vocab, (b, tx["narrations_per_clip"], tx["max_words"]))
        t = time.perf_counter()
        v_va, v_vat, a_va, text = model(video, logmel, ids)
        loss = (cfg["loss"]["va_weight"] * mil_nce(v_va, a_va[:, None, :], tau)
                + cfg["loss"]["vt_weight"] * mil_nce(v_vat, text, tau))
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[3:])


def burn_steps(args):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [args.mmv_train, "train", "--config", str(args.config), "--data", str(args.data),
               "--out", tmp, "--stop-at", str(args.steps), "--batch-size", str(args.batch_size),
               "--checkpoint-every", str(10 * args.steps)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        lines = [json.loads(line) for line in (pathlib.Path(tmp) / "metrics.jsonl").open()]
    return statistics.median(line["step_s"] for line in lines[3:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mmv-train", required=True)
    ap.add_argument("--config", type=pathlib.Path, default=pathlib.Path("models/avdigits-fac-s3d.toml"))
    ap.add_argument("--data", type=pathlib.Path, default=pathlib.Path("../shared/data"))
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=50_002, help="rows of the frozen word table")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--markdown", type=pathlib.Path)
    args = ap.parse_args()
    cfg = tomllib.loads(args.config.read_text())
    if cfg["heads"]["design"] != "fac" or cfg["video"]["arch"] != "s3dg":
        sys.exit("this peer implements the FAC design with the S3D-G video network only")

    burn, pt = [], []
    for r in range(args.rounds):
        for engine in (["burn", "torch"] if r % 2 == 0 else ["torch", "burn"]):
            if engine == "burn":
                burn.append(burn_steps(args))
            else:
                pt.append(torch_steps(cfg, args, args.vocab))
        print(f"round {r + 1}/{args.rounds}: burn {burn[-1]:.3f} s, torch {pt[-1]:.3f} s",
              file=sys.stderr)
    b, p = statistics.median(burn), statistics.median(pt)
    text = (
        f"One training step (forward, backward, Adam) of `{args.config}` at batch "
        f"{args.batch_size}: median of {args.steps - 3} steps, median of {args.rounds} "
        f"alternating rounds; PyTorch {torch.__version__} with {args.threads} thread(s)\n\n"
        "| engine | s / step |\n| --- | --- |\n"
        f"| burn (mmv-train, flex backend) | {b:.3f} |\n| PyTorch CPU | {p:.3f} |\n\n"
        f"burn / PyTorch: **{b / p:.2f}**\n"
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
