"""Shared plumbing of the experiment scripts: a meta-train checkpoint to start from, per-seed configs.

Example:
    >>> from base_dist.config import load_config
    >>> with_seed(load_config("jobs/configs/tiny.yaml"), 3).seed
    3
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from base_dist.config import ExperimentConfig
from base_dist.errors import UserError, pop_debug_flag, refuse
from base_dist.track.runtree import RunTree

log = logging.getLogger(__name__)


def script_main(main: Callable[[], None]) -> None:
    """Run an experiment script's ``main`` as the CLI runs a command: bad input is one line and exit 2.

    ``--debug`` (or ``BASE_DIST_DEBUG=1``) keeps the traceback, as in ``base-dist``.
    """
    debug, sys.argv[1:] = pop_debug_flag(sys.argv[1:])
    try:
        main()
    except UserError as exc:
        sys.exit(refuse(Path(sys.argv[0]).name, exc.cli_message(), debug))


def with_seed(cfg: ExperimentConfig, seed: int) -> ExperimentConfig:
    """A deep copy of ``cfg`` with ``seed``.

    Example:
        >>> from base_dist.config import load_config
        >>> with_seed(load_config(None), 2).seed
        2
    """
    out = cfg.model_copy(deep=True)
    out.seed = seed
    return out


def ensure_meta_checkpoint(cfg: ExperimentConfig, run_dir: Path, checkpoint: str | Path | None,
                           tree: RunTree | None = None) -> Path:
    """``checkpoint`` when given, else meta-train ``cfg`` into ``run_dir/meta-train`` and return its checkpoint.

    With a run ``tree`` the meta-training is one of its child runs.

    Example:
        >>> # ckpt = ensure_meta_checkpoint(cfg, Path("runs/exp"), None)
    """
    if checkpoint is not None:
        return Path(checkpoint)
    stage = Path(run_dir) / "meta-train"
    log.info("no --checkpoint: meta-training %d rounds into %s", cfg.meta.rounds, stage)
    from base_dist.report.stages import meta_train_stage

    if tree is None:
        return Path(meta_train_stage(cfg, stage, progress=False).checkpoint)
    with tree.child("meta-train", stage) as tracker:
        return Path(meta_train_stage(cfg, stage, tracker, progress=False).checkpoint)


def run_experiment(cfg: ExperimentConfig, args: argparse.Namespace, name: str,
                   body: Callable[[Path], Any]) -> tuple[Path, Any]:
    """The meta-prior (``--checkpoint`` or meta-trained here), then ``body(prior)``; ``(prior, its result)``.

    With ``--mlflow`` it is one run tree in ``--run-dir/mlflow.db``: a parent ``<config>-exp-<name>``,
    the meta-training (when it runs here) and the experiment as child runs, the experiment's run
    naming its prior and logging the result's figures and the JSON/Markdown files of ``--run-dir``.
    The stages' own adaptations and trainings log nothing (their MLflow stays off).

    Example:
        >>> # prior, res = run_experiment(cfg, args, "fast-adaptation", lambda p: run_fast_adaptation(cfg, p, ...))
    """
    from base_dist.report.stages import log_files
    from base_dist.track.mlflow_logger import resolve_tracking_uri
    from base_dist.track.runtree import log_inputs

    run_dir = Path(args.run_dir).absolute()
    tree_cfg = cfg.model_copy(deep=True)
    tree_cfg.tracking.mlflow = bool(getattr(args, "mlflow", False))
    tree_cfg.tracking.tracking_uri = resolve_tracking_uri(tree_cfg, run_dir) if tree_cfg.tracking.mlflow else None
    tree = RunTree.start(tree_cfg, run_dir, f"exp-{name}")
    status = "FAILED"
    try:
        prior = ensure_meta_checkpoint(cfg, run_dir, args.checkpoint, tree)
        with tree.child(name, run_dir / f".mlflow-{name}") as tracker:
            tracker.log_params(cfg)
            log_inputs(tracker, prior=prior)
            res = body(prior)
            log_files(tracker, *getattr(res, "figures", []), *sorted(run_dir.glob("*.json")),
                      *sorted(run_dir.glob("*.md")))
        status = "FINISHED"
    finally:
        tree.end(status)
    return prior, res


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere).

    Example:
        >>> isinstance(cpu_model(), str)
        True
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    """A short description of this machine for result labels: the CPU model and the kernels torch
    picked for it (float results, and so trained networks, differ between them), and the glyph sets cached.

    Example:
        >>> "CPU" in machine_line()
        True
    """
    import os

    import torch

    from base_dist.data.glyphs import DISTORTIONS, GlyphParams, cached_glyphs_line
    from base_dist.data.sources.glyphs import glyph_cache_dir

    cached = (cached_glyphs_line(glyph_cache_dir(), GlyphParams(distortion=d)) for d in DISTORTIONS)
    glyphs = "; ".join(line for line in cached if line)
    return (f"{platform.machine()} CPU ({cpu_model()}, {torch.backends.cpu.get_cpu_capability()} kernels), "
            f"{os.cpu_count()} cores visible, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch thread(s)" + (f"; {glyphs}" if glyphs else ""))


def experiment_parser(doc: str, name: str, seeds: int = 3) -> argparse.ArgumentParser:
    """The options every experiment script shares; each script adds its own.

    Example:
        >>> experiment_parser("x", "demo").parse_args([]).seeds
        3
    """
    from base_dist.report.tables import RESULTS_MD

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="jobs/configs/demo.yaml")
    ap.add_argument("--checkpoint", default=None, help="meta-train run dir/checkpoint (else meta-train first)")
    ap.add_argument("--seeds", type=int, default=seeds, help="run seeds --seed-offset .. --seed-offset + N - 1")
    ap.add_argument("--seed-offset", type=int, default=0, help="first seed (run seed ranges in parallel)")
    ap.add_argument("--seed-list", nargs="+", default=None, metavar="SEED",
                    help="exactly these seeds (space or comma separated), instead of --seeds/--seed-offset")
    ap.add_argument("--meta-rounds", type=int, default=None, help="rounds when meta-training here")
    ap.add_argument("--run-dir", type=Path, default=Path(f"runs/exp-{name}-{time.strftime('%Y%m%d-%H%M%S')}"))
    ap.add_argument("--results-md", type=Path, default=RESULTS_MD)
    ap.add_argument("--mlflow", action="store_true",
                    help="log one MLflow run tree (parent + stages) to --run-dir/mlflow.db")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, applied after the script's own (repeatable), e.g. adapt.lr_arch=3")
    return ap


def experiment_seeds(args: argparse.Namespace) -> list[int]:
    """The seeds a script runs: ``--seed-list``, else ``--seeds`` of them from ``--seed-offset``.

    Example:
        >>> ap = experiment_parser("x", "d")
        >>> experiment_seeds(ap.parse_args(["--seeds", "2", "--seed-offset", "5"]))
        [5, 6]
        >>> experiment_seeds(ap.parse_args(["--seed-list", "0,2", "7"]))
        [0, 2, 7]
    """
    if args.seed_list is None:
        return list(range(args.seed_offset, args.seed_offset + args.seeds))
    if args.seed_offset:
        raise UserError("--seed-list and --seed-offset both given: pass one of them")
    try:
        seeds = [int(s) for item in args.seed_list for s in item.split(",") if s]
    except ValueError:
        raise UserError(f"--seed-list {' '.join(args.seed_list)}: seeds are integers, e.g. --seed-list 0 2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seed-list {' '.join(args.seed_list)}: give each seed once, e.g. --seed-list 0 2")
    return seeds


def experiment_config(args: argparse.Namespace, overrides: list[str]) -> ExperimentConfig:
    """One torch thread, plain log lines, no MLflow; the config with ``overrides``, ``--meta-rounds``, then ``--set``.

    Example:
        >>> args = experiment_parser("x", "d").parse_args(["--set", "adapt.lr_arch=3"])
        >>> c = experiment_config(args, ["adapt.lr_arch=2"]); c.tracking.mlflow, c.adapt.lr_arch
        (False, 3.0)
    """
    import torch

    from base_dist.config import load_config

    torch.set_num_threads(1)  # two threads on a shared 2-core machine are many times slower
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sets = ["tracking.mlflow=false", "dist.torch_threads=1", *overrides]
    if args.meta_rounds:
        sets.append(f"meta.rounds={args.meta_rounds}")
    return load_config(args.config, [*sets, *args.overrides])


def given_overrides(args: argparse.Namespace, keys: dict[str, str]) -> list[str]:
    """``config.key=value`` for each option in ``keys`` (argparse dest -> config key) that was given.

    Example:
        >>> given_overrides(argparse.Namespace(tau=0.5, cap=None), {"tau": "adapt.tau", "cap": "adapt.max_val_images"})
        ['adapt.tau=0.5']
    """
    return [f"{key}={getattr(args, dest)}" for dest, key in keys.items() if getattr(args, dest) is not None]


def publish_section(args: argparse.Namespace, section: str, title: str, body: str, table: str) -> None:
    """Rewrite ``section`` of ``--results-md`` with ``body``; print the table and the run directory.

    Example:
        >>> # publish_section(args, "fast-adaptation", "(a) Fast adaptation", body, res.table)
    """
    from base_dist.report.tables import update_section

    update_section(args.results_md, section, body, title)
    print(table)
    print(f"run directory: {args.run_dir.resolve()}")
