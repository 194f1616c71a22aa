"""Pipeline stages that log their inputs and outputs to their own MLflow run (a child in a run tree).

Used by the standalone commands and by the demo, so ``base-dist adapt`` and the demo's adapt
stage log the same things: the adaptation config (params), the prior it adapted from, the
per-epoch metrics, ``genotype.json``, ``metrics.json`` and the cell diagrams.

Example:
    >>> # with start_tracker(cfg, run_dir, "demo-adapt") as t: res = adapt_stage(cfg, ckpt, run_dir, t)
"""

from __future__ import annotations

from pathlib import Path

from base_dist.config import ExperimentConfig
from base_dist.distributed import create_trainer
from base_dist.meta.adapt import AdaptResult, adapt
from base_dist.meta.trainer import MetaTrainResult
from base_dist.space.diagram import draw_cells
from base_dist.track.mlflow_logger import NullTracker
from base_dist.track.runtree import log_inputs

CELLS_FILE = "cells.png"


def log_files(tracker: NullTracker, *paths: Path) -> None:
    """Log each existing file as an artifact of the run.

    Example:
        >>> log_files(NullTracker(), Path("/nonexistent"))
    """
    for p in paths:
        if Path(p).is_file():
            tracker.log_artifact(p)


def draw_and_log_cells(tracker: NullTracker, genotype: object, run_dir: Path, title: str) -> dict[str, Path]:
    """Draw the cell diagrams into ``run_dir`` and log them; returns their paths.

    Example:
        >>> # draw_and_log_cells(tracker, res.genotype, run_dir, "adapted to digits")["cells"].name
    """
    paths = draw_cells(genotype, run_dir / CELLS_FILE, title=title)
    log_files(tracker, *paths.values())
    return paths


def adapt_stage(cfg: ExperimentConfig, checkpoint: str | Path | None, run_dir: Path,
                tracker: NullTracker) -> AdaptResult:
    """:func:`base_dist.meta.adapt.adapt` into ``run_dir``, logging inputs and outputs to ``tracker``.

    Example:
        >>> # res = adapt_stage(cfg, "runs/meta-train-x", Path("runs/adapt-x"), tracker)
    """
    tracker.log_params(cfg)
    log_inputs(tracker, prior=checkpoint)
    res = adapt(cfg, checkpoint, run_dir=run_dir, tracker=tracker)
    tracker.log_metrics({"final_val_acc": res.final_val_acc}, step=cfg.adapt.epochs)
    log_files(tracker, run_dir / "config.yaml", run_dir / "genotype.json", run_dir / "metrics.json")
    draw_and_log_cells(tracker, res.genotype, run_dir, f"adapted to {cfg.adapt.dataset}")
    return res


def meta_train_stage(cfg: ExperimentConfig, run_dir: Path, tracker: NullTracker | None = None,
                     progress: bool = True) -> MetaTrainResult:
    """Meta-train in process (``dist.workers: 0``) or on Ray workers, logging to ``tracker`` when given.

    Example:
        >>> # res = meta_train_stage(cfg, Path("runs/demo-x/1-meta-train"), tracker)
    """
    return create_trainer(cfg, run_dir, tracker=tracker, progress=progress).run()
