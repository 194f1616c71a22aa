"""Probe: near-identical class pairs in each glyph split (docs/results.md, "indistinguishable class pairs").

Pixel 1-nearest-neighbour, leave one out, within each split (meta-train, val, holdout) at 16 px:
cosine similarity of mean-centred pixels, no model. A pair of classes counts when at least 10 of
its 40 images have their nearest neighbour in the other class. Prints, per split, the count by script
("cross" when the two classes come from different scripts), the 1-NN error, and how often a 5-way
task drawn from the split holds such a pair. Seconds on one core:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/probe_glyph_pairs.py
"""

from __future__ import annotations

import os
from collections import Counter
from math import comb

os.environ.setdefault("OMP_NUM_THREADS", "1")

SIZE = 16
MIN_SWAPS = 10
CHUNK = 2048


def nearest_labels(x, labels):
    """Each row's nearest other row's label (cosine of mean-centred rows)."""
    import torch

    x = x - x.mean(1, keepdim=True)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)
    out = []
    for start in range(0, len(x), CHUNK):
        sim = x[start:start + CHUNK] @ x.T
        rows = torch.arange(sim.shape[0])
        sim[rows, rows + start] = -2.0  # leave the image itself out
        out.append(labels[sim.argmax(1).numpy()])
    return out


def probe_split(glyphs, split: str) -> str:
    import numpy as np
    import torch

    classes = list(glyphs.class_split(split))
    idx = np.concatenate([np.flatnonzero(glyphs.labels == c) for c in classes])
    images = torch.tensor(glyphs.images[idx], dtype=torch.float32)
    x = torch.nn.functional.interpolate(images, size=SIZE, mode="area").reshape(len(idx), -1)
    y = glyphs.labels[idx]
    nearest = np.concatenate(nearest_labels(x, y))
    swaps = Counter(tuple(sorted((int(a), int(b)))) for a, b in zip(y, nearest, strict=True) if a != b)
    pairs = [p for p, n in swaps.items() if n >= MIN_SWAPS]
    by_script = Counter(glyphs.scripts[a] if glyphs.scripts[a] == glyphs.scripts[b] else "cross" for a, b in pairs)
    in_task = len(pairs) * comb(5, 2) / comb(len(classes), 2)  # chance a 5-way task holds one (small counts)
    return (f"{split}: {len(classes)} classes, {len(pairs)} pairs swapping >= {MIN_SWAPS} of 40 images "
            f"{dict(sorted(by_script.items()))}; 1-NN error {100 * np.mean(nearest != y):.1f} %; "
            f"a 5-way task holds such a pair {100 * in_task:.2f} % of the time")


def main() -> None:
    import torch

    from base_dist.data.glyphs import load_glyphs
    from base_dist.data.sources.glyphs import glyph_cache_dir

    torch.set_num_threads(1)
    glyphs = load_glyphs(glyph_cache_dir())
    for split in ("meta-train", "val", "holdout"):
        print(probe_split(glyphs, split))


if __name__ == "__main__":
    main()
