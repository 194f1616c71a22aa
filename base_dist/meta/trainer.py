"""The meta-training engine: :class:`MetaTrainer` owns the round loop of BASE Algorithm 1.

Each round ``r`` (0-based) asks its executor for the C tasks of ``task_seed(cfg, r, c)``
(:func:`base_dist.meta.rounds.collect_round`), each adapted from the same ``W`` by the config's
strategy, then applies the outer update to the task-index-ordered mean delta. Files, checkpoints,
MLflow and progress are :mod:`callbacks <base_dist.meta.callbacks>`. Since every draw comes from
generators seeded by ``(seed, round, task, step)``, a resumed run reproduces the remaining rounds
bit for bit on CPU, wherever its tasks run.

Where tasks run is the executor's business: in this process by default (``dist.workers: 0``); on Ray
workers through :func:`base_dist.distributed.create_trainer`, which picks from ``cfg.dist``.

Outputs in ``run_dir``: ``config.yaml``, ``checkpoints/``, ``metrics.jsonl`` (one JSON object per
round), ``genotype.json`` and ``cells.png`` (the most probable genotype of the final W).
``meta.budget_minutes`` ends a run early, at a round boundary, so that it stays within a wall-clock budget.

Example:
    >>> import tempfile
    >>> from base_dist.config import load_config
    >>> cfg = load_config("jobs/configs/tiny.yaml", ["meta.rounds=1"])
    >>> result = MetaTrainer(cfg, tempfile.mkdtemp()).run()
    >>> result.rounds_done, len(result.history)
    (1, 1)
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from base_dist.config import ExperimentConfig
from base_dist.data import TaskDistribution
from base_dist.errors import UserError
from base_dist.meta.callbacks import METRICS_FILE, Callback, Checkpointer, MetricsFile, Progress, Row, Tracking
from base_dist.meta.checkpoints import checkpoint_W, resume_point
from base_dist.meta.diagnostics import w_diagnostics
from base_dist.meta.outer import apply_outer, init_outer_state
from base_dist.meta.prior import seeded_metanet, start_W
from base_dist.meta.rounds import Executor, InProcessExecutor, RoundSummary, collect_round
from base_dist.meta.schedules import outer_lr_at, tau_at
from base_dist.meta.task import check_meta_config, configure_process, size_pooled_head
from base_dist.space.genotypes import Genotype, genotype_to_dict
from base_dist.space.meta_state import cpu_fp32, get_state, load_state
from base_dist.track.mlflow_logger import NullTracker
from base_dist.track.rundir import check_run_dir, write_config
from base_dist.utils import resolve_device

log = logging.getLogger(__name__)
GENOTYPE_FILE = "genotype.json"
CELLS_FILE = "cells.png"

__all__ = ["MetaTrainer", "MetaTrainResult", "METRICS_FILE", "GENOTYPE_FILE", "CELLS_FILE"]


@dataclass
class MetaTrainResult:
    """What :meth:`MetaTrainer.run` returns. ``history`` holds the rounds run by this call only."""

    W: OrderedDict[str, Tensor]
    outer_state: dict[str, Tensor]
    rounds_done: int
    history: list[Row] = field(default_factory=list)
    run_dir: Path | None = None
    checkpoint: Path | None = None
    genotype: Genotype | None = None
    stopped_by_budget: bool = False  # ``meta.budget_minutes`` ended it before ``meta.rounds``


class MetaTrainer:
    """Meta-train ``cfg`` in ``run_dir`` (None: a fresh temporary directory).

    ``resume=True`` continues from the newest good checkpoint in ``run_dir`` (same search space).
    ``executor`` runs the tasks (default: this process; it must then be ``dist.workers: 0``) and
    is not closed here; ``make_executor`` is called once the run directory is accepted and its
    executor closed at the end. ``tracker`` replaces the MLflow run ``tracking.mlflow`` would open;
    ``callbacks`` run after the built-in ones.
    """

    def __init__(self, cfg: ExperimentConfig, run_dir: str | Path | None = None, *, resume: bool = False,
                 executor: Executor | None = None, make_executor: Callable[[], Executor] | None = None,
                 callbacks: Sequence[Callback] = (), tracker: NullTracker | None = None,
                 progress: bool = False) -> None:
        check_meta_config(cfg)
        cfg = size_pooled_head(cfg)
        if executor is None and make_executor is None and cfg.dist.workers >= 1:
            raise UserError(f"dist.workers={cfg.dist.workers} needs Ray workers: use base_dist.create_trainer "
                            "(or base_dist.meta_train), which picks them from the config")
        self.cfg, self.resume = cfg, resume
        self.run_dir = Path(run_dir).absolute() if run_dir is not None else Path(tempfile.mkdtemp(prefix="base-dist-meta-"))
        self._executor, self._make_executor = executor, make_executor
        builtin: list[Callback] = [MetricsFile(), Checkpointer(), Tracking(tracker)]
        self.callbacks = builtin + ([Progress()] if progress else []) + list(callbacks)
        self.start = self.done = self.end = 0
        self.history: list[Row] = []
        self.checkpoint: Path | None = None
        self.checkpoint_round: int | None = None
        self.genotype: Genotype | None = None
        self.outputs: list[Path] = []
        self.stopped_by_budget = False
        self._t_start = time.perf_counter()  # reset by run(): meta.budget_minutes counts from there
        self._t_mark, self._slowest_s = self._t_start, 0.0

    # ------------------------------------------------------------------ setup
    def _initialise(self) -> None:
        """Model, W (seeded, ``meta.init``'s or resumed), outer state; ``config.yaml`` only once a resume is accepted."""
        configure_process(self.cfg)
        check_run_dir(self.run_dir, self.resume)
        self.device = resolve_device(self.cfg.device)
        self.model = seeded_metanet(self.cfg, self.device)
        try:  # a bad meta.init is refused before any write
            self.W = start_W(self.cfg, cpu_fp32(get_state(self.model)))
        except UserError as err:
            if not self.resume:
                raise
            raise UserError(f"{err}; resuming measures displacement from that start: restore it, or resume with "
                            "--set meta.init=null to measure from the seeded init (W itself comes from the checkpoint)"
                            ) from err
        self.W_init = OrderedDict((k, v.clone()) for k, v in self.W.items())  # displacement is measured from it
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.outer_state = init_outer_state(self.W, self.cfg.meta)
        if self.resume:
            ckpt = resume_point(self.run_dir, self.cfg, self.W)
            self.W = OrderedDict(checkpoint_W(ckpt, self.W))
            self.outer_state = dict(ckpt.tensors.get("outer", {}))
            self.start = self.done = ckpt.round
        write_config(self.cfg, self.run_dir)  # the config this (possibly resumed) run really uses
        self.tasks = TaskDistribution(self.cfg.data, split="meta-train")

    def make_executor(self) -> Executor:
        """The executor of this run: the caller's, its factory's, or one in this process."""
        if self._executor is not None:
            return self._executor
        if self._make_executor is not None:
            return self._make_executor()
        return InProcessExecutor(self.model, self.tasks, self.cfg, self.device)

    # ------------------------------------------------------------------ the loop
    def run(self, stop_after: int | None = None) -> MetaTrainResult:
        """Run the rounds left (until ``stop_after`` rounds in all are done: it stops as an interruption would)."""
        self._t_start = time.perf_counter()  # Ray workers' start is inside the budget
        self._initialise()
        rounds = self.cfg.meta.rounds
        self.end = rounds if stop_after is None else min(rounds, stop_after)
        status = "FAILED"
        executor = self.make_executor()
        self._started: list[Callback] = []
        try:
            for cb in self.callbacks:
                cb.on_start(self)
                self._started.append(cb)
            self._t_mark, self._slowest_s = time.perf_counter(), 0.0  # a round's time includes its callbacks
            while self.done < self.end:  # the budget may move end closer
                self._round(executor, self.done)
            self._write_genotype()
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            for cb in self._started:  # only those that started: a failed start has nothing to end
                cb.on_end(self, status)
            if executor is not self._executor:
                executor.close()
        return MetaTrainResult(W=self.W, outer_state=self.outer_state, rounds_done=self.done, history=self.history,
                               run_dir=self.run_dir, checkpoint=self.checkpoint, genotype=self.genotype,
                               stopped_by_budget=self.stopped_by_budget)

    def _round(self, executor: Executor, r: int) -> None:
        t0 = time.perf_counter()
        summary = collect_round(executor, self.tasks, self.W, self.cfg, r)
        t_tasks = time.perf_counter()
        self.W, self.outer_state = apply_outer(self.W, summary.mean_delta, self.cfg.meta, r, self.outer_state)
        self.done = r + 1
        row = self._row(r, summary, t0, t_tasks, time.perf_counter())
        row.update({k: float(v) for k, v in executor.stats().items()})
        self.history.append(row)
        self._check_budget()
        if self.stopped_by_budget:  # on record in metrics.jsonl and MLflow, beside the round it ended on
            row["stopped_by_budget"] = 1.0
        self._emit("on_round", row)  # after the check: the checkpointer saves the round that ends the run

    def budget_left_s(self) -> float | None:
        """Seconds of ``meta.budget_minutes`` this call has not spent yet (None: no budget)."""
        budget = self.cfg.meta.budget_minutes
        return None if budget is None else 60.0 * budget - (time.perf_counter() - self._t_start)

    def _check_budget(self) -> None:
        """End the run here when the next round would not fit in ``meta.budget_minutes``."""
        budget, now = self.cfg.meta.budget_minutes, time.perf_counter()
        self._slowest_s, self._t_mark = max(self._slowest_s, now - self._t_mark), now
        if budget is None or self.done >= self.end:
            return
        spent = now - self._t_start
        if not round_fits(spent, self._slowest_s, budget):
            log.info("meta.budget_minutes=%g: %.0f s spent, the slowest round took %.0f s; stopping after round %d "
                     "of %d (--resume goes on)", budget, spent, self._slowest_s, self.done, self.cfg.meta.rounds)
            self.end, self.stopped_by_budget = self.done, True

    def _row(self, r: int, summary: RoundSummary, t0: float, t_tasks: float, t_end: float) -> Row:
        """The round's metrics line: task means, counters, schedules, timings and W's diagnostics."""
        cfg, seconds = self.cfg, t_end - t0
        return {"round": float(r), **_task_means(summary.task_metrics), **summary.extra,
                "rejected_deltas": float(summary.rejected), "skipped_tasks": float(summary.skipped),
                "outer_lr": outer_lr_at(cfg.meta, r), "tau": tau_at(cfg.space.arch, r),
                "mean_delta_norm": float(torch.linalg.vector_norm(summary.mean_delta_flat)),
                "round_s": seconds, "tasks_s": t_tasks - t0,
                "driver_s": t_end - t_tasks + summary.extra.get("fold_s", 0.0),
                "tasks_per_s": cfg.meta.tasks_per_round / max(seconds, 1e-9),
                **w_diagnostics(self.W, self.W_init, cfg.space.bayes.sigma_param)}

    def _write_genotype(self) -> None:
        """``genotype.json`` and ``cells.png`` of the final W (a drawing failure is only a warning)."""
        load_state(self.model, self.W)
        self.genotype = self.model.genotype()
        path = self.run_dir / GENOTYPE_FILE
        path.write_text(json.dumps(genotype_to_dict(self.genotype), indent=1) + "\n")
        self.outputs = [self.run_dir / "config.yaml", path]
        try:
            from base_dist.space.diagram import plot_genotype

            self.outputs.append(plot_genotype(self.genotype, self.run_dir / CELLS_FILE))
        except Exception as err:  # a picture is not worth failing a finished run for
            log.warning("could not draw %s (%s)", CELLS_FILE, err)

    def _emit(self, hook: str, *args: Any) -> None:
        for cb in self._started:
            getattr(cb, hook)(self, *args)


def round_fits(spent_s: float, round_s: float, budget_minutes: float | None) -> bool:
    """Whether a round of ``round_s`` started after ``spent_s`` still ends within the budget (None: no budget).

    >>> round_fits(600.0, 50.0, 11.0), round_fits(620.0, 50.0, 11.0), round_fits(1e9, 1.0, None)
    (True, False, True)
    """
    return budget_minutes is None or spent_s + round_s <= 60.0 * budget_minutes


def _task_means(task_metrics: list[dict[str, float]]) -> Row:
    """Mean of each task metric over the round's accepted tasks (given in task-index order)."""
    keys = sorted({k for m in task_metrics for k in m})
    out = {}
    for k in keys:
        vals = [float(m[k]) for m in task_metrics if k in m]
        out[k] = float(sum(vals) / len(vals))
    return out

