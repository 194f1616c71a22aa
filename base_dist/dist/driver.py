"""Distributed BASE meta-training: the in-process loop driven by a :class:`RayExecutor`.

The driver logic — rounds, the outer update, checkpoints, resume, MLflow, progress — is
:func:`base_dist.meta.loop.meta_train`, shared with ``dist.workers: 0``; only where tasks run
changes. So a distributed run and an in-process run with the same config, seed and per-task thread
count give the same ``W`` bit for bit on CPU, and ``--resume`` works the same for both.
"""

from __future__ import annotations

from pathlib import Path

from base_dist.config import ExperimentConfig
from base_dist.dist.executor import RayExecutor
from base_dist.dist.worker import TaskWorker
from base_dist.meta.loop import MetaTrainResult, meta_train
from base_dist.track.mlflow_logger import NullTracker


def run_distributed(cfg: ExperimentConfig, run_dir: str | Path, resume: bool = False, stop_after: int | None = None,
                    *, worker_cls: type = TaskWorker, progress: bool = True,
                    tracker: NullTracker | None = None) -> MetaTrainResult:
    """Meta-train with ``cfg.dist.workers`` Ray workers (joins or starts Ray, see :mod:`base_dist.ray_cluster`).

    Example:
        >>> cfg = load_config("jobs/configs/demo.yaml")               # doctest: +SKIP
        >>> run_distributed(cfg, "runs/demo").rounds_done             # doctest: +SKIP
        20
    """
    executor = RayExecutor(cfg, worker_cls=worker_cls)
    try:
        return meta_train(cfg, run_dir, resume=resume, stop_after=stop_after, executor=executor, progress=progress,
                          tracker=tracker)
    finally:
        executor.close()
