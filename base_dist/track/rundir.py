"""Run directories: ``runs/<command>-<timestamp>`` unless the user names one; one writer each.

Every command that writes a run directory opens it with :func:`open_run_dir`, which holds an
exclusive OS lock (``flock``) on ``RUN_DIR/.lock`` until the command ends. The kernel drops the lock
when its holder exits, however it ends (SIGKILL included), so a crashed run never leaves it stuck;
a second process gets one line naming the holder and exit code 2. On NFS, Linux maps ``flock`` to
POSIX byte-range locks, which the NFS lock manager shares between nodes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from base_dist.config import ExperimentConfig, save_config
from base_dist.errors import UserError

LOCK_FILE = ".lock"


class RunDirBusy(UserError):
    """Another process holds the run directory's lock."""


def _new_path(command: str, run_dir: str | Path | None) -> Path:
    """The named directory, or a fresh ``runs/<command>-<timestamp>[-i]``."""
    if run_dir is not None:
        return Path(run_dir).resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{command}-{stamp}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path.resolve()


def _make_dir(path: Path) -> None:
    """``mkdir -p`` with one line for the ways a user's path can be unusable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:
        raise UserError(f"run directory {path}: a file is in the way (not a directory); pick another one", option="run-dir") from err
    except NotADirectoryError as err:
        raise UserError(f"run directory {path}: a parent is a file, not a directory; pick another one", option="run-dir") from err
    except OSError as err:
        raise UserError(f"run directory {path}: cannot create it ({err.strerror or err}); "
                        "pick another one", option="run-dir") from err


@contextmanager
def lock_run_dir(path: str | Path, command: str) -> Iterator[Path]:
    """Hold the exclusive lock of the existing directory ``path`` for the ``with`` block.

    Raises :class:`RunDirBusy` when another process holds it, :class:`UserError` when the directory
    is not writable. The lock file stays (removing it would let two processes lock two inodes).

    Example:
        >>> import tempfile
        >>> with lock_run_dir(tempfile.mkdtemp(), "demo") as d:
        ...     (d / ".lock").is_file()
        True
    """
    path = Path(path)
    lock = path / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UserError(f"run directory {path}: not writable ({err.strerror or err}); "
                        "pick another one or fix its permissions", option="run-dir") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UserError(f"run directory {path}: cannot lock {lock} ({err.strerror or err})") from err
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            busy = f"run directory {path} is in use by {holder}; wait for it to end or pick another"
            raise RunDirBusy(f"{busy} (one writer per run directory)", option="run-dir",
                             cli=f"{busy} --run-dir (one writer per run directory)") from err
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({command})".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def open_run_dir(command: str, run_dir: str | Path | None = None,
                 cfg: ExperimentConfig | None = None) -> Iterator[Path]:
    """Create (or reuse) the run directory, lock it for this process and, given ``cfg``, write ``config.yaml``.

    Commands whose refusal depends on what the directory holds (a ``--resume`` that may not match)
    pass no ``cfg`` and write the config themselves once they have accepted the directory.

    Example:
        >>> with open_run_dir("demo", "/tmp/base-dist-doctest-run") as d:
        ...     d.name
        'base-dist-doctest-run'
    """
    path = _new_path(command, run_dir)
    _make_dir(path)
    with lock_run_dir(path, command):
        if cfg is not None:
            write_config(cfg, path)
        yield path


def write_config(cfg: ExperimentConfig, run_dir: Path) -> Path:
    """Write ``run_dir/config.yaml`` (atomically); an unwritable directory is a one-line error."""
    try:
        return save_config(cfg, run_dir / "config.yaml")
    except OSError as err:
        raise UserError(f"run directory {run_dir}: cannot write config.yaml ({err.strerror or err})") from err


def check_run_dir(run_dir: str | Path, resume: bool, resumable: bool = True) -> None:
    """Refuse to resume a directory without checkpoints, or to start afresh over another run's checkpoints.

    Starting over would mix two runs: pruning keeps the highest rounds, so the new run's first
    checkpoints would be the ones deleted, and a later ``--resume`` would continue the old run.
    ``resumable=False`` is for commands without ``--resume``: the refusal does not suggest it.

    Example:
        >>> check_run_dir("/nonexistent/base-dist-run", resume=False)
    """
    from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore

    run_dir = Path(run_dir)
    has_ckpt = bool(CheckpointStore(run_dir / CHECKPOINT_SUBDIR).list()) if (run_dir / CHECKPOINT_SUBDIR).is_dir() else False
    if resume and not has_ckpt:
        raise UserError(f"cannot resume {run_dir}: no checkpoint in {run_dir / CHECKPOINT_SUBDIR}; start a new run",
                        option="resume")
    if not resume and has_ckpt:
        hint = f"continue it with --resume {run_dir} or pick another --run-dir" if resumable else "pick another --run-dir"
        raise UserError(f"{run_dir} already holds checkpoints of a run; resume it or pick another run directory",
                        option="run-dir", cli=f"{run_dir} already holds checkpoints of a run; {hint}")
