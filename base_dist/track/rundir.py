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
