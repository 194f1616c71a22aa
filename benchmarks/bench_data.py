"""Task sampling speed from in-memory Fashion-MNIST.

The goal: a 5-way task of 500 train + 100 val images at 28x28 in well under 50 ms. Side by side in
one run: the batched tensor path at 16/28/56 pixels, and a per-image PIL resize baseline at 56 (what
the data layer avoids in the hot path).

    .venv/bin/python benchmarks/bench_data.py [--reps 50]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from base_dist.config import DataConfig, SourceSpec
from base_dist.data import TaskDistribution, create_source


def _median_ms(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)  # a worker's setting (dist.torch_threads=1)

    t0 = time.perf_counter()
    src = create_source("fashion-mnist")
    load_s = time.perf_counter() - t0

    results = {}
    for size in (28, 16, 56):
        cfg = DataConfig(sources=[SourceSpec(name="fashion-mnist", image_sizes=[size])], n_way=5,
                         train_per_class=100, val_per_class=20)
        dist = TaskDistribution(cfg)
        seeds = iter(range(10**6))
        results[size] = _median_ms(lambda d=dist, s=seeds: d.sample(next(s)), args.reps)

    # Baseline: the same 600 images resized one by one with PIL (bilinear) at 56 px.
    from PIL import Image

    dist56 = TaskDistribution(DataConfig(sources=[SourceSpec(name="fashion-mnist", image_sizes=[56])], n_way=5,
                                         train_per_class=100, val_per_class=20))
    spec = dist56.spec(0)
    idx = torch.cat([src.by_class()[c][:120] for c in spec.classes])

    def pil_path() -> None:
        arrs = [np.asarray(Image.fromarray(src.images[i, 0].numpy()).resize((56, 56), Image.BILINEAR))
                for i in idx.tolist()]
        x = torch.from_numpy(np.stack(arrs)).float().div_(255)[:, None]
        (x - src.mean[0]) / src.std[0]

    pil_ms = _median_ms(pil_path, max(5, args.reps // 5))

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 torch thread")
    print(f"fashion-mnist load (70,000 images, once per process): {load_s * 1e3:.0f} ms")
    print("5-way task, 500 train + 100 val images, median of", args.reps)
    for size, ms in results.items():
        print(f"  {size:>2}x{size:<2} batched tensor path: {ms:6.2f} ms  ({50 / ms:5.0f}x under the 50 ms goal)")
    print(f"  56x56 per-image PIL baseline:  {pil_ms:6.2f} ms  (batched path is {pil_ms / results[56]:.1f}x faster)")


if __name__ == "__main__":
    main()
