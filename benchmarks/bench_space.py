"""One supernet train step (forward, backward, SGD update): `hard` vs `gumbel` mode, side by side.

Timing: both modes in one process, steps interleaved (hard, gumbel, hard, ...), so a shared, busy
machine slows both alike; the median step time of each is reported. Memory: each mode runs a few
steps in its own subprocess whose peak RSS (``VmHWM``) is its own; ``peak-start`` is the
peak minus the RSS after building the model (i.e. activations, gradients, optimizer state).

Usage:
    .venv/bin/python benchmarks/bench_space.py            # both configs, 1 torch thread
    .venv/bin/python benchmarks/bench_space.py --steps 10 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CONFIGS = {
    # name: (channels, cells, image size, batch); one head at stride 1, a 5-way classifier
    "demo (C=8, 5 cells, 16x16)": (8, 5, 16, 32),
    "C=16, 8 cells, 32x32": (16, 8, 32, 32),
}


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in MiB.

    Not ``getrusage`` maxrss: Linux carries that across fork+exec, so a child would report the
    parent's peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _setup(config: str, mode: str):
    import torch
    import torch.nn.functional as F

    from base_dist.config import SpaceConfig
    from base_dist.space.metanet import create_metanet
    from base_dist.utils import make_generator

    C, L, size, batch = CONFIGS[config]
    cfg = SpaceConfig(channels=C, layers=L, heads=[{"image_size": size, "stride": 1}], n_ways=[5],
                      arch={"mode": mode})
    net = create_metanet(cfg, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, foreach=True)  # one fused update
    data = make_generator(0, "bench")
    x = torch.randn(batch, 1, size, size, generator=data)
    y = torch.randint(0, 5, (batch,), generator=data)

    def step(i: int) -> float:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x, n_way=5, gen=make_generator(0, "step", i), tau=1.0), y) + net.kl()
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def time_modes(config: str, steps: int, warmup: int) -> dict[str, float]:
    """Median step seconds of each mode, interleaved in this process."""
    runs = {mode: _setup(config, mode) for mode in ("hard", "gumbel")}
    times: dict[str, list[float]] = {mode: [] for mode in runs}
    for i in range(warmup + steps):
        for mode, step in runs.items():
            t = step(i)
            if i >= warmup:
                times[mode].append(t)
    return {mode: statistics.median(ts) for mode, ts in times.items()}


def peak_memory(config: str, mode: str, steps: int) -> dict[str, float]:
    """Run in a child process: peak RSS of ``steps`` train steps of one mode."""
    step = _setup(config, mode)
    start = _status_mb("VmRSS")
    for i in range(steps):
        step(i)
    peak = _status_mb("VmHWM")
    return {"peak_rss_mb": peak, "peak_over_start_mb": peak - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5, help="timed steps per mode")
    ap.add_argument("--warmup", type=int, default=1)
    # One thread by default: what a Ray worker gets (dist.torch_threads=1), and steadier on a busy machine.
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    ap.add_argument("--child", nargs=2, metavar=("CONFIG", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(peak_memory(*args.child, steps=2)))
        return
    print(f"# supernet train step (fwd+bwd+SGD), {platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s), median of {args.steps} interleaved steps")
    print(f"{'config':28} {'mode':7} {'step':>9} {'peak RSS':>9} {'peak-start':>11}")
    for config in CONFIGS:
        med = time_modes(config, args.steps, args.warmup)
        for mode in ("hard", "gumbel"):
            cmd = [sys.executable, __file__, "--child", config, mode, "--threads", str(args.threads)]
            mem = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            print(f"{config:28} {mode:7} {med[mode] * 1e3:7.0f}ms {mem['peak_rss_mb']:7.0f}MB "
                  f"{mem['peak_over_start_mb']:9.0f}MB")
        print(f"{config:28} hard is {med['gumbel'] / med['hard']:.1f}x faster than gumbel (goal >= 5x)")


if __name__ == "__main__":
    main()
