"""Distributed meta-training on the 2-core machine, side by side in one run.

On the same config and the same tasks (same seeds), one torch thread per task everywhere:

1. the in-process loop (``dist.workers: 0``, no Ray);
2. one Ray worker;
3. two Ray workers;

then, with two workers, the driver's peak memory above its start-up level at two round sizes.
Printed: tasks/s of each, the ratios (goals: 2 workers >= 1.7x 1 worker; 1 worker <= 1.10x the
in-process time), the driver's share of a round (``ray.put`` of W + folding the deltas + outer
update + logging; goal <= 5 %; the checkpoint write comes after the round is timed), and driver
memory vs |W| for each round size.

    .venv/bin/python benchmarks/bench_dist.py [--rounds 2] [--tasks 8] [--set meta.inner_steps=5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "jobs" / "configs" / "demo.yaml"


class PeakRSS:
    """Samples this process's private resident memory (``RssAnon``) every 20 ms.

    Private memory, because deltas fetched from Ray's object store are shared-memory pages that
    count towards plain RSS while mapped but belong to the object store (freed with their refs).
    torch allocations are invisible to tracemalloc, hence /proc.
    """

    def __init__(self) -> None:
        self.peak = self.base = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(workers: int, rounds: int, tasks: int, extra: list[str], run_dir: Path) -> dict[str, float]:
    from base_dist.config import load_config
    from base_dist.distributed import create_trainer

    cfg = load_config(DEMO, ["device=cpu", "tracking.mlflow=true", f"meta.rounds={rounds}",
                             f"meta.tasks_per_round={tasks}", f"dist.workers={workers}", "dist.torch_threads=1",
                             "dist.num_cpus_per_worker=1", f"meta.checkpoint_every={rounds}", *extra])
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        res = create_trainer(cfg, run_dir).run()  # in process at 0 workers, Ray otherwise
    total = time.perf_counter() - t0
    W_bytes = sum(v.numel() * v.element_size() for v in res.W.values())
    steady = res.history[1:] or res.history  # round 0 includes worker start-up and data loading
    puts = [h.get("put_s_total", 0.0) for h in res.history]
    put_per_round = (puts[-1] - puts[0]) / max(len(puts) - 1, 1) if len(puts) > 1 else puts[-1]
    round_s = sum(h["round_s"] for h in steady) / len(steady)
    driver_s = sum(h["driver_s"] for h in steady) / len(steady) + put_per_round
    return {"workers": workers, "tasks_per_round": tasks, "total_s": total, "round_s": round_s,
            "tasks_per_s": tasks / round_s, "driver_s": driver_s, "driver_share": driver_s / round_s,
            "driver_peak_mb": (mem.peak - mem.base) / 2**20, "W_mb": W_bytes / 2**20,
            "final_W_sum": float(sum(v.double().sum() for v in res.W.values()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--memory-tasks", type=int, nargs=2, default=[4, 16])
    parser.add_argument("--set", dest="extra", action="append", default=[])
    parser.add_argument("--memory-only", action="store_true", help="skip the throughput runs")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in () if args.memory_only else (0, 1, 2):
            rows.append(run(workers, args.rounds, args.tasks, args.extra, Path(tmp) / f"w{workers}"))
            print(json.dumps(rows[-1]), flush=True)
        # a warm-up run first, so one-off loads (data, imports) do not count against the first size
        sizes = [args.memory_tasks[0], *args.memory_tasks]
        mem_rows = [run(2, 2, n, args.extra + ["meta.inner_steps=1"], Path(tmp) / f"mem{i}")
                    for i, n in enumerate(sizes)][1:]
    ray.shutdown()
    for m in mem_rows:
        print(f"driver peak private memory, {m['tasks_per_round']:>2} tasks/round: {m['driver_peak_mb']:.1f} MB above "
              f"start = {m['driver_peak_mb'] / m['W_mb']:.1f} x |W| ({m['W_mb']:.2f} MB)")
    if args.memory_only:
        return
    inproc, one, two = rows
    print(f"\nmachine: {platform.node()} ({os.cpu_count()} CPUs), torch {torch.__version__}, 1 thread per task")
    print(f"tasks/s: in-process {inproc['tasks_per_s']:.3f} | 1 worker {one['tasks_per_s']:.3f} | "
          f"2 workers {two['tasks_per_s']:.3f}")
    print(f"2 workers vs 1 worker: {two['tasks_per_s'] / one['tasks_per_s']:.2f}x tasks/s (goal >= 1.7x)")
    print(f"1 worker vs in-process: {one['round_s'] / inproc['round_s']:.3f}x the time (goal <= 1.10x)")
    print(f"driver share of a round (2 workers): {100 * two['driver_share']:.2f} % "
          f"({two['driver_s'] * 1000:.0f} ms of {two['round_s']:.1f} s; goal <= 5 %)")
    print(f"same W from all three: {inproc['final_W_sum'] == one['final_W_sum'] == two['final_W_sum']}")


if __name__ == "__main__":
    main()
