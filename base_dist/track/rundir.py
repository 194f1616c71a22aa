"""Run directories: ``runs/<command>-<timestamp>`` unless the user names one."""

from __future__ import annotations

import time
from pathlib import Path

from base_dist.config import ExperimentConfig, save_config


def create_run_dir(command: str, run_dir: str | Path | None = None, cfg: ExperimentConfig | None = None) -> Path:
    """Create (or reuse) the run directory and dump the resolved config as ``config.yaml``.

    Example:
        >>> d = create_run_dir("demo", "/tmp/base-dist-doctest-run")
        >>> d.name
        'base-dist-doctest-run'
    """
    if run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{command}-{stamp}"
        path, i = base, 1
        while path.exists():
            path, i = base.with_name(f"{base.name}-{i}"), i + 1
    else:
        path = Path(run_dir)
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    if cfg is not None:
        save_config(cfg, path / "config.yaml")
    return path


def check_run_dir(run_dir: str | Path, resume: bool) -> None:
    """Refuse to resume a directory without checkpoints, or to start afresh over another run's checkpoints.

    Starting over would mix two runs: pruning keeps the highest rounds, so the new run's first
    checkpoints would be the ones deleted, and a later ``--resume`` would continue the old run.

    Example:
        >>> check_run_dir("/nonexistent/base-dist-run", resume=False)
    """
    from base_dist.errors import UserError
    from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore

    run_dir = Path(run_dir)
    has_ckpt = bool(CheckpointStore(run_dir / CHECKPOINT_SUBDIR).list()) if (run_dir / CHECKPOINT_SUBDIR).is_dir() else False
    if resume and not has_ckpt:
        raise UserError(f"--resume {run_dir}: no checkpoint in {run_dir / CHECKPOINT_SUBDIR}; start a new run")
    if not resume and has_ckpt:
        raise UserError(f"{run_dir} already holds checkpoints of a run; continue it with --resume {run_dir} "
                        "or pick another --run-dir")
