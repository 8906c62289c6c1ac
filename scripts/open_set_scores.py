#!/usr/bin/env python3
"""Which open-set score separates a bundle's digits from label-free negatives best?

Reads the JSON lines of `mmv-train open-set-embeddings` (every input's window embeddings in the
text space, with its split: `fit`, `calibration`, `evaluation`) and, per modality and score,
chooses the cut the way `calibrate-tags` does (the lowest that tags each calibration negative
kind at most 1 %), then reports on the evaluation split: the share of test inputs answered right
and kept under the cut (beside the closed-set top-1) and the most-tagged evaluation negative kind.
The label text embeddings come from `mmv embed --text` on the bundle (the digit words and
"the number <word>", averaged as the tagger does).

Scores: `typicality` (what the runtime ships: minus the smallest squared Mahalanobis distance to a
digit's mean, shared covariance shrunk by 0.01 / 0.1), `relative` (typicality minus the same
distance to one Gaussian over all fit inputs), `knn-k` (cosine to the k-th nearest fit input),
`cosine`, `contrast` (best cosine minus the mean over labels), and three detectors trained on the
fit inputs against half of the calibration negatives (cut on the other half): logistic
regression (C = 1, 10) and a one-layer MLP, on the embedding and its label cosines.

    python3 scripts/open_set_scores.py --embeddings runs/os-310.jsonl  # from mmv-train open-set-embeddings --out \
        --bundle models/avdigits-fac-tsm-robust --mmv target/debug/mmv
"""
import argparse
import json
import subprocess
from collections import defaultdict

import numpy as np

WORDS = "zero one two three four five six seven eight nine".split()


def label_vectors(mmv, bundle):
    args = [mmv, "embed", "--bundle", bundle, "--json"]
    for w in WORDS:
        args += ["--text", w, "--text", "the number " + w]
    out = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    t = np.array([x["vat"] for x in out["texts"]]).reshape(10, 2, -1)
    t /= np.linalg.norm(t, axis=2, keepdims=True)
    t = t.mean(1)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def load(path):
    data = defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        w = np.array(r["windows"], dtype=np.float64)
        w /= np.linalg.norm(w, axis=1, keepdims=True) + 1e-12
        data[(r["split"], r["modality"])].append((r["group"], r["digit"], w[r["answer"]]))
    return data


def unsupervised(x, y, labels):
    mu = np.array([x[y == k].mean(0) for k in range(10)])
    r = x - mu[y]
    cov = r.T @ r / len(x)
    dim = cov.shape[0]

    def precision(shrink, c=cov):
        return np.linalg.inv((1 - shrink) * c + shrink * np.trace(c) / dim * np.eye(dim))

    def maha(p):
        return lambda z: -np.einsum("ki,ij,kj->k", z[None] - mu, p, z[None] - mu).min() / dim

    every = x.mean(0)
    pb = precision(0.01, np.cov((x - every).T))
    p01 = precision(0.01)
    fns = {
        "typicality 0.01": maha(p01),
        "typicality 0.1": maha(precision(0.1)),
        "relative": lambda z: maha(p01)(z) + (z - every) @ pb @ (z - every) / dim,
        "cosine": lambda z: (labels @ z).max(),
        "contrast": lambda z: (labels @ z).max() - (labels @ z).mean(),
    }
    for k in (1, 5, 20):
        fns[f"knn-{k}"] = lambda z, k=k: np.sort(x @ z)[-k]
    return {n: (lambda zs, f=f: np.array([f(z) for z in zs])) for n, f in fns.items()}


def supervised(x, negatives, labels):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    feat = lambda z: np.hstack([z, z @ labels.T])
    xs = np.vstack([x, negatives])
    ys = np.r_[np.ones(len(x)), np.zeros(len(negatives))]
    out = {}
    for name, m in [
        ("logistic C=1", LogisticRegression(C=1.0, max_iter=4000, class_weight="balanced")),
        ("logistic C=10", LogisticRegression(C=10.0, max_iter=4000, class_weight="balanced")),
        ("MLP 64", MLPClassifier((64,), alpha=1e-3, max_iter=2000, random_state=0)),
    ]:
        m.fit(feat(xs), ys)
        if hasattr(m, "decision_function"):
            out[name] = lambda zs, m=m: m.decision_function(feat(np.array(zs)))
        else:
            out[name] = lambda zs, m=m: np.log(m.predict_proba(feat(np.array(zs)))[:, 1] + 1e-9)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embeddings", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--mmv", default="target/release/mmv")
    ap.add_argument("--target", type=float, default=0.01)
    a = ap.parse_args()
    labels = label_vectors(a.mmv, a.bundle)
    data = load(a.embeddings)
    print(f"Open-set scores on `{a.embeddings}` ({a.bundle}); cut: each calibration negative kind"
          f" <= {100 * a.target:g} %. Cells: evaluation inputs right and kept / right without a"
          " cut (%); the most-tagged evaluation negative kind.\n")
    for mod in ("audio", "image", "video"):
        fit = data[("fit", mod)]
        x = np.array([z for _, _, z in fit])
        y = np.array([d for _, d, _ in fit])
        cal = data[("calibration", mod)]
        negs = [(g, z) for g, d, z in cal if d is None]
        cut_negs = defaultdict(list)
        for g, z in negs:
            cut_negs[g].append(z)
        scores = unsupervised(x, y, labels)
        half = defaultdict(list)
        for i, (g, z) in enumerate(negs):
            if i % 2:
                half[g].append(z)
        trained = supervised(x, np.array([z for i, (_, z) in enumerate(negs) if i % 2 == 0]), labels)
        groups, ngroups = defaultdict(list), defaultdict(list)
        for g, d, z in data[("evaluation", mod)]:
            (ngroups if d is None else groups)[g].append((z, d))
        print(f"| {mod} score | " + " | ".join(groups) + " | worst negative |")
        print("| --- |" + " --- |" * (len(groups) + 1))
        for name, f in list(scores.items()) + list(trained.items()):
            pool = half if name in trained else cut_negs
            cut = max(np.quantile(f(v), 1 - a.target, method="higher") for v in pool.values())
            cells = []
            for g, v in groups.items():
                zs = np.array([z for z, _ in v])
                right = np.array([int(np.argmax(labels @ z)) == d for z, d in v])
                kept = right & (f(zs) > cut)
                cells.append(f"{100 * kept.mean():.1f} / {100 * right.mean():.1f}")
            worst = max((100 * np.mean(f(np.array([z for z, _ in v])) > cut), g)
                        for g, v in ngroups.items())
            print(f"| {name} | " + " | ".join(cells) + f" | {worst[1]} {worst[0]:.1f} % |")
        print()


if __name__ == "__main__":
    main()
