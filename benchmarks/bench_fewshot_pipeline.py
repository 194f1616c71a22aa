"""The few-shot pipeline's two ways to use both cores, each measured side by side in one run.

1. `fewshot select` with its candidates one at a time vs `--workers 2` (two processes). The scores must
   agree; the script exits 1 if they do not.
2. `fewshot train` then `fewshot eval` of one cell at `dist.torch_threads` 1 vs 2 (one process; these
   stages run alone in the pipeline, so one thread leaves a core idle). Two threads reduce in another
   order, so the accuracies may differ in the last digits; only the times are compared.
3. `fewshot eval` of that cell with its episodes in one process vs `--workers 2`. The accuracies must be
   identical (exit 1 otherwise). `--eval-run DIR` times only this, on a copy of a trained run.
4. `fewshot train` of that cell with each meta-batch in one process vs `--workers 2`. The trained weights
   (and Adam's state) must be identical (exit 1 otherwise).

`--parts` picks some of them (e.g. `--parts workers` runs 3 and 4 only, about 8 minutes).

One short few-shot search (glyphs-hard, 5-way 5-shot, 3 cells) gives the candidates and the cell. Every
stage is timed end to end as a user runs it (a `base-dist` process; spawning and imports included). Run it
on a quiet machine: two cores are the point.

Usage:
    .venv/bin/python benchmarks/bench_fewshot_pipeline.py                    # 2 candidates x 20 iterations
    .venv/bin/python benchmarks/bench_fewshot_pipeline.py --candidates 4 --iterations 100   # the confirmation's size
    .venv/bin/python benchmarks/bench_fewshot_pipeline.py --eval-run runs/fs-select/candidate-1 --eval-episodes 600
    .venv/bin/python benchmarks/bench_fewshot_pipeline.py --parts workers        # train and eval, 1 vs 2 processes
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIST = str(Path(sys.executable).with_name("base-dist"))
SETS = ["--config", "jobs/configs/fewshot.yaml", "--set", "fewshot.layers=3", "--set", "fewshot.source=glyphs-hard",
        "--set", "fewshot.k_shot=5", "--set", "tracking.mlflow=false"]


def _timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([BASE_DIST, *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _select(tmp: Path, search: Path, args: argparse.Namespace) -> tuple[dict[int, float], dict[int, list[float]]]:
    seconds, scores = {}, {}
    for workers in (1, 2):
        run = tmp / f"select-w{workers}"
        seconds[workers] = _timed(["fewshot", "select", str(search), "--candidates", str(args.candidates),
                                   "--iterations", str(args.iterations), "--workers", str(workers),
                                   "--set", f"fewshot.param_ratio={args.param_ratio}", "--run-dir", str(run)])
        scores[workers] = [c["val_acc"] for c in json.loads((run / "candidates.json").read_text())["candidates"]]
    return seconds, scores


def _train_eval(tmp: Path, search: Path, args: argparse.Namespace) -> dict[int, tuple[float, float]]:
    seconds = {}
    for threads in (1, 2):
        run = str(tmp / f"train-t{threads}")
        train_s = _timed(["fewshot", "train", *SETS, "--network", str(search / "genotype.json"),
                          "--iterations", str(args.iterations), "--set", f"fewshot.param_ratio={args.param_ratio}",
                          "--set", f"dist.torch_threads={threads}", "--run-dir", run])
        eval_s = _timed(["fewshot", "eval", run, "--episodes", str(args.eval_episodes)])
        seconds[threads] = (train_s, eval_s)
    return seconds


def _train_workers(tmp: Path, search: Path, args: argparse.Namespace) -> tuple[dict[int, float], bool]:
    """``fewshot train`` of the searched cell with 1 and 2 processes: seconds each, and whether the weights agree."""
    from safetensors.torch import load_file

    seconds, tensors = {}, {}
    for workers in (1, 2):
        run = tmp / f"train-w{workers}"
        seconds[workers] = _timed(["fewshot", "train", *SETS, "--network", str(search / "genotype.json"),
                                   "--iterations", str(args.iterations), "--set", f"fewshot.param_ratio={args.param_ratio}",
                                   "--workers", str(workers), "--run-dir", str(run)])
        tensors[workers] = load_file(next((run / "checkpoints").glob("ckpt-*.safetensors")))
    a, b = tensors[1], tensors[2]
    return seconds, set(a) == set(b) and all(a[k].equal(b[k]) for k in a)


def _eval_workers(tmp: Path, run: Path, episodes: int) -> tuple[dict[int, float], bool]:
    """``fewshot eval`` of a copy of ``run`` with 1 and 2 workers: seconds each, and whether the accuracies agree."""
    copy = tmp / "eval-run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns(".lock"))  # the original's result file stays as it is
    seconds, accs = {}, {}
    for workers in (1, 2):
        seconds[workers] = _timed(["fewshot", "eval", str(copy), "--episodes", str(episodes), "--workers", str(workers)])
        accs[workers] = json.loads((copy / "fewshot-eval-holdout.json").read_text())["accuracies"]
    return seconds, accs[1] == accs[2]


def _print_eval_workers(seconds: dict[int, float], same: bool, episodes: int) -> None:
    print(f"fewshot eval ({episodes} episodes), 1 thread per process:")
    print(f"  one process: {seconds[1]:.0f} s   --workers 2: {seconds[2]:.0f} s   speed-up {seconds[1] / seconds[2]:.2f}x")
    print(f"  accuracies {'identical' if same else 'DIFFER'}")


def main() -> None:
    from base_dist.report.common import machine_line

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=20, help="MAML iterations per candidate and for train")
    ap.add_argument("--eval-episodes", type=int, default=100)
    ap.add_argument("--search-rounds", type=int, default=2)
    ap.add_argument("--param-ratio", type=float, default=4.0)
    ap.add_argument("--eval-run", type=Path, default=None, help="time only eval 1 vs 2 workers, on a copy of this run")
    ap.add_argument("--parts", default="select,threads,workers", help="comma-separated: select, threads, workers")
    args = ap.parse_args()
    if args.eval_run is not None:
        with tempfile.TemporaryDirectory(prefix="bench-fewshot-") as tmp_name:
            seconds, same = _eval_workers(Path(tmp_name), args.eval_run, args.eval_episodes)
        print(f"{args.eval_run}; {machine_line()}")
        _print_eval_workers(seconds, same, args.eval_episodes)
        sys.exit(0 if same else 1)
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-fewshot-") as tmp_name:
        tmp = Path(tmp_name)
        search = tmp / "search"
        _timed(["fewshot", "search", *SETS, "--arch-mode", "gumbel", "--rounds", str(args.search_rounds),
                "--run-dir", str(search)])
        print(f"glyphs-hard 5-way 5-shot, 3 cells at {args.param_ratio:g}x conv4's parameters; {machine_line()}")
        ok = True
        if "select" in parts:
            ok &= _report_select(*_select(tmp, search, args), args)
        if "threads" in parts:
            _report_threads(_train_eval(tmp, search, args), args)
        if "workers" in parts:
            train_s, train_same = _train_workers(tmp, search, args)
            print(f"fewshot train ({args.iterations} iterations), 1 thread per process:")
            print(f"  one process: {train_s[1]:.0f} s   --workers 2: {train_s[2]:.0f} s   "
                  f"speed-up {train_s[1] / train_s[2]:.2f}x")
            print(f"  weights and Adam state {'identical' if train_same else 'DIFFER'}")
            eval_s, eval_same = _eval_workers(tmp, tmp / "train-w1", args.eval_episodes)
            _print_eval_workers(eval_s, eval_same, args.eval_episodes)
            ok &= train_same and eval_same
    if not ok:
        sys.exit(1)


def _report_select(select_s: dict[int, float], scores: dict[int, list[float]], args: argparse.Namespace) -> bool:
    print(f"fewshot select, {args.candidates} candidates x {args.iterations} MAML iterations:")
    print(f"  --workers 1: {select_s[1]:.0f} s   --workers 2: {select_s[2]:.0f} s   "
          f"speed-up {select_s[1] / select_s[2]:.2f}x")
    same = scores[1] == scores[2]
    print(f"  scores {'identical' if same else 'DIFFER'}: {[round(100 * s, 2) for s in scores[1]]}")
    return same


def _report_threads(seconds: dict[int, tuple[float, float]], args: argparse.Namespace) -> None:
    (t1, e1), (t2, e2) = seconds[1], seconds[2]
    print(f"fewshot train ({args.iterations} iterations) / eval ({args.eval_episodes} episodes), one process:")
    print(f"  dist.torch_threads 1: {t1:.0f} s / {e1:.0f} s   2: {t2:.0f} s / {e2:.0f} s   "
          f"speed-up {t1 / t2:.2f}x / {e1 / e2:.2f}x")


if __name__ == "__main__":
    main()
