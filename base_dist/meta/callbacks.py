"""What happens around each meta-training round besides the algorithm: files, checkpoints, MLflow, progress.

A :class:`Callback` sees the :class:`base_dist.meta.trainer.MetaTrainer` at three points —
``on_start`` (W is initialised or resumed), ``on_round`` (a round's row is complete) and ``on_end``
(with the run's status) — and reads what it needs from it (``cfg``, ``run_dir``, ``W``, ``done``,
...). The trainer runs the built-in ones in this order: :class:`MetricsFile` (the line goes before
the checkpoint, so an interruption between the two loses nothing), :class:`Checkpointer`,
:class:`Tracking`, :class:`Progress`; then the caller's.

Example:
    >>> class PrintRounds(Callback):
    ...     def on_round(self, trainer, row):
    ...         print(int(row["round"]))
    >>> # MetaTrainer(cfg, callbacks=[PrintRounds()]).run()
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base_dist.meta.checkpoints import save_meta_checkpoint
from base_dist.meta.diagnostics import progress_extra
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore
from base_dist.track.mlflow_logger import NullTracker, start_tracker
from base_dist.track.progress import ProgressReporter
from base_dist.utils import write_text_atomic

if TYPE_CHECKING:
    from base_dist.meta.trainer import MetaTrainer

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.jsonl"
Row = dict[str, float]


class Callback:
    """No-op hooks; override the ones you need."""

    def on_start(self, trainer: MetaTrainer) -> None:
        """W is initialised (or resumed); ``trainer.start`` rounds are done."""

    def on_round(self, trainer: MetaTrainer, row: Row) -> None:
        """Round ``trainer.done - 1`` is complete; ``row`` is its metrics line."""

    def on_end(self, trainer: MetaTrainer, status: str) -> None:
        """The run ends with ``status``: ``FINISHED``, ``KILLED`` (Ctrl-C) or ``FAILED``."""


class OnRound(Callback):
    """``fn(rounds_done, row)`` after every round (Ray Tune trials report from it).

    Example:
        >>> rows = []
        >>> cb = OnRound(lambda done, row: rows.append(done))
    """

    def __init__(self, fn: Callable[[int, Row], None]) -> None:
        self.fn = fn

    def on_round(self, trainer: MetaTrainer, row: Row) -> None:
        self.fn(trainer.done, row)


def rewrite_metrics(path: Path, keep_below: int) -> None:
    """Drop metric lines of rounds >= ``keep_below`` (they are re-run after a resume), atomically."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if int(json.loads(line)["round"]) < keep_below:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    write_text_atomic(path, "".join(f"{line}\n" for line in keep))  # a crash mid-rewrite must not lose the history


class MetricsFile(Callback):
    """One JSON line per round in ``run_dir/metrics.jsonl``; a resume first drops the lines it re-runs."""

    def on_start(self, trainer: MetaTrainer) -> None:
        self.path = trainer.run_dir / METRICS_FILE
        rewrite_metrics(self.path, trainer.start)

    def on_round(self, trainer: MetaTrainer, row: Row) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


class Checkpointer(Callback):
    """A checkpoint every ``meta.checkpoint_every`` rounds, after the last round and on Ctrl-C."""

    def on_start(self, trainer: MetaTrainer) -> None:
        self.store = CheckpointStore(trainer.run_dir / CHECKPOINT_SUBDIR, keep=trainer.cfg.meta.keep_checkpoints,
                                     keep_every=trainer.cfg.meta.keep_every)

    def _save(self, trainer: MetaTrainer) -> None:
        trainer.checkpoint = save_meta_checkpoint(self.store, trainer.cfg, trainer.done, trainer.W,
                                                  trainer.outer_state)
        trainer.checkpoint_round = trainer.done

    def on_round(self, trainer: MetaTrainer, row: Row) -> None:
        if trainer.done % trainer.cfg.meta.checkpoint_every == 0 or trainer.done == trainer.end:
            self._save(trainer)

    def on_end(self, trainer: MetaTrainer, status: str) -> None:
        if status == "KILLED" and trainer.done > trainer.start and trainer.checkpoint_round != trainer.done:
            self._save(trainer)
        if trainer.checkpoint is None:
            found = self.store.list()
            trainer.checkpoint = found[-1] if found else None


class Tracking(Callback):
    """MLflow (``tracking.mlflow``) or a given tracker: params once, metrics per round, outputs at the end."""

    def __init__(self, tracker: NullTracker | None = None, tags: dict[str, Any] | None = None) -> None:
        self.tracker, self.own = tracker, tracker is None
        self.tags = tags or {}

    def on_start(self, trainer: MetaTrainer) -> None:
        cfg = trainer.cfg
        if self.tracker is None:
            self.tracker = start_tracker(cfg, trainer.run_dir, run_name=f"{cfg.name}-meta-train", resume=trainer.resume,
                                         tags={"command": "meta-train", "workers": cfg.dist.workers, **self.tags})
        if not trainer.resume:
            self.tracker.log_params(cfg)

    def on_round(self, trainer: MetaTrainer, row: Row) -> None:
        assert self.tracker is not None
        if trainer.cfg.tracking.log_checkpoints and trainer.checkpoint_round == trainer.done and trainer.checkpoint:
            self.tracker.log_artifact(trainer.checkpoint, artifact_path="checkpoints")
        self.tracker.log_metrics({k: v for k, v in row.items() if k != "round" and math.isfinite(v)}, step=trainer.done)

    def on_end(self, trainer: MetaTrainer, status: str) -> None:
        if self.tracker is None:
            return
        if status == "FINISHED":
            for path in trainer.outputs:
                if path.is_file():
                    self.tracker.log_artifact(path)
        if self.own:
            self.tracker.end(status)


class Progress(Callback):
    """The one-line progress display (live on a terminal, log lines elsewhere)."""

    def on_start(self, trainer: MetaTrainer) -> None:
        self.reporter = ProgressReporter(total=trainer.cfg.meta.rounds, start=trainer.start,
                                         budget_s=trainer.budget_left_s())

    def on_round(self, trainer: MetaTrainer, row: Row) -> None:
        self.reporter.update(trainer.done, tasks_per_s=row["tasks_per_s"], val_acc=row.get("val_acc"),
                             extra=progress_extra(row))

    def on_end(self, trainer: MetaTrainer, status: str) -> None:
        self.reporter.close()
