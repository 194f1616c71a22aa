"""The meta-training engine with its executor picked from ``cfg.dist``: in process or on Ray workers.

:func:`create_trainer` is the one way every caller (the CLI, Ray Tune trials, the demo, the
experiments, the Python API) builds a :class:`base_dist.meta.trainer.MetaTrainer`. With
``dist.workers: 0`` tasks run in this process and Ray is never imported; with ``>= 1`` a
:class:`~base_dist.distributed.executor.RayExecutor` is started once the run directory is accepted
and stopped when the run ends. Either way the driver logic is the same, so the same config, seed
and per-task thread count give the same ``W`` bit for bit on CPU, and a resume works the same.

Example:
    >>> import tempfile
    >>> from base_dist.config import load_config
    >>> cfg = load_config("jobs/configs/tiny.yaml", ["meta.rounds=1"])
    >>> create_trainer(cfg, tempfile.mkdtemp()).run().rounds_done
    1
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from base_dist.config import ExperimentConfig
from base_dist.meta.rounds import Executor
from base_dist.meta.task import size_pooled_head
from base_dist.meta.trainer import MetaTrainer


def create_trainer(cfg: ExperimentConfig, run_dir: str | Path | None = None, *, worker_cls: type | None = None,
                   **kwargs: Any) -> MetaTrainer:
    """A :class:`MetaTrainer` whose executor follows ``cfg.dist.workers``; ``kwargs`` go to the trainer.

    ``worker_cls`` swaps the Ray actor body (tests inject faults with it).
    """
    cfg = size_pooled_head(cfg)  # the workers build the same network as the trainer
    if cfg.dist.workers < 1:
        return MetaTrainer(cfg, run_dir, **kwargs)

    def make_executor() -> Executor:
        from base_dist.distributed.executor import RayExecutor  # Ray is imported only when workers are asked for
        from base_dist.distributed.worker import TaskWorker

        return RayExecutor(cfg, worker_cls=worker_cls or TaskWorker)

    return MetaTrainer(cfg, run_dir, make_executor=make_executor, **kwargs)
