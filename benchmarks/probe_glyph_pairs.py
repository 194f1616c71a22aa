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



def probe_split(glyphs, split: str) -> str:
    import numpy as np

    from base_dist.data.glyphs import MIN_SWAPS, near_identical_pairs, nearest_labels

    classes = glyphs.class_split(split)
    keep = np.isin(glyphs.labels, classes)
    y = glyphs.labels[keep]
    error = np.mean(nearest_labels(glyphs.images[keep], y) != y)
    pairs = near_identical_pairs(glyphs, classes)
    by_script = Counter(glyphs.scripts[a] if glyphs.scripts[a] == glyphs.scripts[b] else "cross" for a, b in pairs)
    in_task = len(pairs) * comb(5, 2) / comb(len(classes), 2)  # chance a 5-way task holds one (small counts)
    return (f"{split}: {len(classes)} classes, {len(pairs)} pairs swapping >= {MIN_SWAPS} of 40 images "
            f"{dict(sorted(by_script.items()))}; 1-NN error {100 * error:.1f} %; "
            f"a 5-way task holds such a pair {100 * in_task:.2f} % of the time")


def main() -> None:
    import argparse

    import torch

    from base_dist.data.glyphs import DISTORTIONS, GlyphParams, load_glyphs
    from base_dist.data.sources.glyphs import glyph_cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--distortion", choices=list(DISTORTIONS), default="standard", help="which rendering to probe")
    args = ap.parse_args()
    torch.set_num_threads(1)
    glyphs = load_glyphs(glyph_cache_dir(), GlyphParams(distortion=args.distortion))
    for split in ("meta-train", "val", "holdout"):
        print(probe_split(glyphs, split))


if __name__ == "__main__":
    main()
