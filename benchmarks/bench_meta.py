"""In-process meta-training throughput and `base-dist adapt` wall time at the demo config.

Side by side in one run:

1. ``meta_train`` at ``jobs/configs/demo.yaml`` with ``dist.workers=0`` (no Ray) and the demo's
   ``dist.torch_threads=1``, first order (the default) and second order (``meta.second_order``):
   tasks/s of the first round (includes loading Fashion-MNIST and warm-up) and of the later rounds.
   ``--threads 1 2`` adds a thread-count comparison.
2. ``base-dist adapt --dataset digits`` from the checkpoint just written, at the demo config
   (3 epochs over the digits train split minus 20 % held out, 16 px), as a subprocess: wall time
   including interpreter start, data loading and MLflow. Goal: <= 5 minutes on 2 cores.

    .venv/bin/python benchmarks/bench_meta.py [--rounds 3] [--threads 1] [--no-second-order] [--no-adapt]

3. ``--prior-variants``: useful work per core-second of the meta-prior recipe, ``jobs/configs/prior-fmnist.yaml``
   on one core (``dist.workers=0``, 1 thread) against the same recipe with hard (straight-through)
   sampling, fewer/smaller image sizes, and without the per-task evaluation before the inner loop:
   tasks/s at equal inner steps, rounds after the first (which loads the data).

    .venv/bin/python benchmarks/bench_meta.py --prior-variants [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from base_dist import meta_train
from base_dist.config import load_config

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "jobs" / "configs" / "demo.yaml"
PRIOR = ROOT / "jobs" / "configs" / "prior-fmnist.yaml"
# (label, overrides on prior-fmnist.yaml); the first is the reference of the ratios.
PRIOR_VARIANTS = [
    ("prior-fmnist.yaml (gumbel, 16/28/56 px)", []),
    ("hard sampling", ["space.arch.mode=hard"]),
    ("16/28 px", ["data.sources=[{name: fashion-mnist, image_sizes: [16, 28]}]"]),
    ("no evaluation before the inner loop", ["meta.eval_before_inner=false"]),
    ("hard + 16/28 px", ["space.arch.mode=hard", "data.sources=[{name: fashion-mnist, image_sizes: [16, 28]}]"]),
    ("hard + 16 px", ["space.arch.mode=hard", "data.sources=[{name: fashion-mnist, image_sizes: [16]}]"]),
]


def bench_meta_train(rounds: int, threads: int, run_dir: Path, second_order: bool) -> dict[str, float]:
    cfg = load_config(DEMO, ["dist.workers=0", "device=cpu", "tracking.mlflow=false", f"meta.rounds={rounds}",
                             f"dist.torch_threads={threads}", f"meta.second_order={str(second_order).lower()}"])
    t0 = time.perf_counter()
    res = meta_train(cfg, run_dir, progress=False)
    total = time.perf_counter() - t0
    rates = [h["tasks_per_s"] for h in res.history]
    later = rates[1:] or rates
    return {"variant": "second-order" if second_order else "first-order", "threads": threads, "rounds": rounds, "tasks_per_round": cfg.meta.tasks_per_round,
            "first_round_tasks_per_s": rates[0], "steady_tasks_per_s": statistics.mean(later),
            "steady_min": min(later), "steady_max": max(later), "total_s": total,
            "final_val_acc": res.history[-1]["val_acc"]}


def bench_prior_variants(rounds: int, tmp: Path) -> list[dict[str, float]]:
    """Steady tasks/s of each prior-fmnist.yaml variant on one core, with ratios to the first."""
    out = []
    for i, (label, overrides) in enumerate(PRIOR_VARIANTS):
        cfg = load_config(PRIOR, ["dist.workers=0", "device=cpu", "tracking.mlflow=false", f"meta.rounds={rounds}",
                                  "dist.torch_threads=1", *overrides])
        res = meta_train(cfg, tmp / f"prior-{i}", progress=False)
        later = [h["tasks_per_s"] for h in res.history[1:]] or [res.history[0]["tasks_per_s"]]
        out.append({"variant": label, "steady_tasks_per_s": statistics.mean(later), "min": min(later),
                    "max": max(later)})
        ratio = out[-1]["steady_tasks_per_s"] / out[0]["steady_tasks_per_s"]
        print(f"{label}: {out[-1]['steady_tasks_per_s']:.3f} tasks/s per core (min {min(later):.3f}, max "
              f"{max(later):.3f}) = {ratio:.2f}x", flush=True)
    return out


def bench_adapt(checkpoint_dir: Path, out: Path) -> dict[str, float]:
    exe = Path(sys.executable).parent / "base-dist"
    cmd = [str(exe), "adapt", "--checkpoint", str(checkpoint_dir), "--dataset", "digits", "--config", str(DEMO),
           "--set", "dist.workers=0", "--set", "device=cpu", "--run-dir", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"adapt failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall_s": wall, "in_process_s": metrics["info"]["seconds"], "epochs": metrics["info"]["epochs"],
            "train_images": metrics["info"]["train_images"], "val_images": metrics["info"]["val_images"],
            "val_acc_per_epoch": [round(h["val_acc"], 4) for h in metrics["history"]],
            "epoch_s": [round(h["seconds"], 1) for h in metrics["history"][1:]]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--no-second-order", action="store_true")
    ap.add_argument("--no-adapt", action="store_true")
    ap.add_argument("--prior-variants", action="store_true", help="only the prior-fmnist.yaml throughput variants")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    if args.prior_variants:
        with tempfile.TemporaryDirectory(prefix="bench-prior-") as tmp:
            print(json.dumps({"prior_variants": bench_prior_variants(args.rounds, Path(tmp))}))
        return
    with tempfile.TemporaryDirectory(prefix="bench-meta-") as tmp:
        tmp = Path(tmp)
        results = []
        variants = [(t, False) for t in args.threads] + ([] if args.no_second_order else [(args.threads[0], True)])
        for threads, second_order in variants:
            r = bench_meta_train(args.rounds, threads, tmp / f"mt-{threads}-{int(second_order)}", second_order)
            results.append(r)
            print(f"meta-train demo, workers=0, {r['variant']}, torch_threads={threads}: first round "
                  f"{r['first_round_tasks_per_s']:.3f} tasks/s, later rounds {r['steady_tasks_per_s']:.3f} tasks/s "
                  f"(min {r['steady_min']:.3f}, max {r['steady_max']:.3f}), {r['rounds']} rounds in "
                  f"{r['total_s']:.1f} s", flush=True)
        base = results[0]["steady_tasks_per_s"]
        for r in results[1:]:
            print(f"  ratio {r['variant']}/threads={r['threads']} vs {results[0]['variant']}/threads="
                  f"{results[0]['threads']}: {r['steady_tasks_per_s'] / base:.2f}x", flush=True)
        if not args.no_adapt:
            a = bench_adapt(tmp / f"mt-{args.threads[0]}-0", tmp / "adapt")
            print(f"base-dist adapt digits, demo config: {a['wall_s']:.1f} s wall (goal <= 300 s; "
                  f"{a['in_process_s']:.1f} s inside adapt), {a['epochs']} epochs x {a['train_images']} images "
                  f"(epoch times {a['epoch_s']} s), held-out acc per epoch {a['val_acc_per_epoch']}")
        print(json.dumps({"meta_train": results, "adapt": None if args.no_adapt else a}))


if __name__ == "__main__":
    main()
