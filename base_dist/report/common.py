"""Shared plumbing of the experiment scripts: a meta-train checkpoint to start from, per-seed configs.

Example:
    >>> from base_dist.config import load_config
    >>> with_seed(load_config("jobs/configs/tiny.yaml"), 3).seed
    3
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path

from base_dist.config import ExperimentConfig

log = logging.getLogger(__name__)


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


def ensure_meta_checkpoint(cfg: ExperimentConfig, run_dir: Path, checkpoint: str | Path | None) -> Path:
    """``checkpoint`` when given, else meta-train ``cfg`` into ``run_dir/meta-train`` and return its checkpoint.

    Example:
        >>> # ckpt = ensure_meta_checkpoint(cfg, Path("runs/exp"), None)
    """
    if checkpoint is not None:
        return Path(checkpoint)
    stage = Path(run_dir) / "meta-train"
    log.info("no --checkpoint: meta-training %d rounds into %s", cfg.meta.rounds, stage)
    if cfg.dist.workers >= 1:
        from base_dist.dist.driver import run_distributed

        res = run_distributed(cfg, stage, progress=False)
    else:
        from base_dist.meta.loop import meta_train

        res = meta_train(cfg, stage, progress=False)
    return Path(res.checkpoint)


def machine_line() -> str:
    """A short description of this machine for result labels.

    Example:
        >>> "CPU" in machine_line()
        True
    """
    import os

    import torch

    return (f"{platform.machine()} CPU, {os.cpu_count()} cores visible, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch thread(s)")
