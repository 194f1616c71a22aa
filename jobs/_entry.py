"""Shared plumbing of the ``ray job submit`` entrypoints in this folder.

Each entrypoint (``meta_train.py``, ``adapt.py``, ``train.py``, ``tune.py``) is one call to
:func:`run`, which hands its arguments to the ``base-dist`` CLI (``base_dist.cli.main``) — the same
code path, flags, config handling, exit codes and one-line errors as ``base-dist <command>``.

Two things differ from a plain CLI call, both because of where a Ray job runs:

* **Import path.** ``python jobs/x.py`` puts ``jobs/`` on ``sys.path``, not the repository root. The
  root (the job's working directory, a temporary copy made by ``--working-dir .``) goes first, so
  the job runs the ``base_dist`` it was submitted with, not whatever is installed on the head.
* **Run directory.** A job's working directory is a temporary copy that Ray deletes, so the CLI's
  default ``runs/<command>-<timestamp>`` (relative) would be lost. When no ``--run-dir`` (or
  ``--resume``) is given and ``$BASE_DIST_RUNS`` is set, or the process runs inside a Ray job, the
  run directory defaults to ``$BASE_DIST_RUNS/<command>-<timestamp>`` (else
  ``~/base-dist-runs/...``), an absolute path outside the copy. On a cluster point
  ``$BASE_DIST_RUNS`` (or ``--run-dir``) at shared storage so ``--resume`` works after a driver loss.

The driver joins the job's cluster: Ray sets ``$RAY_ADDRESS`` for a job's entrypoint and
``base_dist.ray_cluster.connect`` honours it, so no private cluster is started.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Set by Ray's job supervisor in the environment of every submitted job's entrypoint.
_RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def _has_option(args: list[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


def in_ray_job() -> bool:
    """True inside the entrypoint of a ``ray job submit`` job."""
    return _RAY_JOB_ENV in os.environ


def runs_root() -> Path | None:
    """Where default run directories go, or None for the CLI's own default (``runs/`` under cwd)."""
    root = os.environ.get("BASE_DIST_RUNS")
    if root:
        return Path(root).expanduser().resolve()
    if in_ray_job():
        return Path.home() / "base-dist-runs"
    return None


def default_run_dir(command: str, args: list[str]) -> Path | None:
    """An absolute run directory for ``command`` when the arguments name none, else None."""
    if _has_option(args, "--run-dir", "--resume", "--help", "-h"):
        return None
    root = runs_root()
    if root is None:
        return None
    base = root / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def build_argv(command: str, args: list[str]) -> list[str]:
    """The ``base-dist`` argument list for ``command`` run with the entrypoint's ``args``."""
    run_dir = default_run_dir(command, args)
    extra = ["--run-dir", str(run_dir)] if run_dir is not None else []
    return [command, *args, *extra]


def run(command: str, args: list[str] | None = None) -> int:
    """Run ``base-dist COMMAND ARGS`` in this process and return its exit code."""
    args = list(sys.argv[1:] if args is None else args)
    if (REPO / "base_dist" / "__init__.py").is_file() and str(REPO) not in sys.path[:1]:
        sys.path.insert(0, str(REPO))
    argv = build_argv(command, args)
    if "--run-dir" in argv and "--run-dir" not in args:
        print(f"jobs: run directory {argv[argv.index('--run-dir') + 1]} (pass --run-dir or set "
              "$BASE_DIST_RUNS to choose; use shared storage on a cluster)", flush=True)
    from base_dist.cli import main

    return main(argv)
