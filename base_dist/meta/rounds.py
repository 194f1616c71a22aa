"""One round of Algorithm 1 over any executor: request C tasks, reject non-finite deltas, average.

An *executor* runs task requests somewhere — in this process (:class:`InProcessExecutor`) or on
Ray workers (:class:`base_dist.distributed.executor.RayExecutor`) — and hands back one
:class:`TaskOutcome` per request. :func:`collect_round` owns what must not depend on where tasks
ran: the non-finite policy (re-sample with a new seed, or skip), and the mean of the accepted
deltas folded one at a time in task-index order (so the result is bitwise independent of arrival
order and the driver holds only ``W``, the running sum and one delta at a time).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor, nn

from base_dist.config import ExperimentConfig
from base_dist.data import TaskDistribution, TaskSpec
from base_dist.errors import UserError
from base_dist.meta.diagnostics import CoherenceAccumulator, GroupLayout
from base_dist.meta.task import run_task, task_seed
from base_dist.space.meta_state import Layout, is_finite

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskRequest:
    """Task ``index`` of a round, try ``attempt`` (> 0 after a rejected delta), and its spec."""

    index: int
    attempt: int
    spec: TaskSpec


@dataclass
class TaskOutcome:
    """A finished task: metrics, whether its delta is finite, and ``fetch()`` returning the flat fp32 delta."""

    index: int
    attempt: int
    metrics: dict[str, float]
    finite: bool
    fetch: Callable[[], Tensor]


class Executor(Protocol):
    """Runs the requests of one round from ``W``; outcomes in any order. What the trainer calls."""

    def execute(self, W: Mapping[str, Tensor], round_idx: int, requests: Sequence[TaskRequest]) -> list[TaskOutcome]:
        """One outcome per request (a replaced or retried task still yields exactly one)."""
        ...

    def stats(self) -> dict[str, float]:
        """Cumulative counters worth a column in metrics.jsonl (retries, restarts); ``{}`` if none."""
        ...

    def close(self) -> None:
        """Release workers; the executor is not used again."""
        ...


@dataclass
class RoundSummary:
    """What the driver needs from a round: the mean delta, per-task metrics (index order), counters."""

    mean_delta: OrderedDict[str, Tensor]
    mean_delta_flat: Tensor
    task_metrics: list[dict[str, float]]
    rejected: int = 0
    skipped: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def request_for(tasks: TaskDistribution, cfg: ExperimentConfig, round_idx: int, index: int, attempt: int = 0) -> TaskRequest:
    """The request of task ``index`` (a re-sampled task for ``attempt > 0``).

    Example:
        >>> # request_for(TaskDistribution(cfg.data), cfg, 0, 3).spec.seed == task_seed(cfg, 0, 3, 0)
    """
    return TaskRequest(index, attempt, tasks.spec(task_seed(cfg, round_idx, index, attempt)))


def collect_round(executor: Executor, tasks: TaskDistribution, W: Mapping[str, Tensor], cfg: ExperimentConfig,
                  round_idx: int) -> RoundSummary:
    """Run the C tasks of round ``round_idx`` and average the accepted deltas in task-index order.

    A non-finite delta is logged and counted; with ``dist.on_nonfinite: resample`` the task is drawn
    again with a new seed (at most ``dist.max_task_retries`` times, then the run stops), with
    ``skip`` it is dropped. ``W`` never sees a non-finite value.

    Example:
        >>> # summary = collect_round(InProcessExecutor(model, dist, cfg), dist, W, cfg, round_idx=0)
    """
    pending = [request_for(tasks, cfg, round_idx, i) for i in range(cfg.meta.tasks_per_round)]
    accepted: dict[int, TaskOutcome] = {}
    rejected = skipped = 0
    while pending:
        retry: list[TaskRequest] = []
        for out in executor.execute(W, round_idx, pending):
            if out.finite:
                accepted[out.index] = out
                continue
            rejected += 1
            log.warning("round %d task %d (try %d): non-finite delta rejected", round_idx, out.index, out.attempt)
            if cfg.dist.on_nonfinite == "skip":
                skipped += 1
            elif out.attempt >= cfg.dist.max_task_retries:
                raise UserError(f"round {round_idx} task {out.index}: non-finite delta on {out.attempt + 1} draws "
                                "(dist.max_task_retries); lower meta.inner_lr_* or raise meta.grad_clip")
            else:
                retry.append(request_for(tasks, cfg, round_idx, out.index, out.attempt + 1))
        pending = retry
    if not accepted:
        raise UserError(f"round {round_idx}: every task gave a non-finite delta; lower meta.inner_lr_*")
    metrics = [accepted[i].metrics for i in sorted(accepted)]
    t0 = time.perf_counter()
    coherence = CoherenceAccumulator(GroupLayout.of(W))
    mean = fold_mean(_drain(accepted), on_delta=coherence.add)
    fold_s = time.perf_counter() - t0
    return RoundSummary(mean_delta=Layout.of(W).unflatten(mean), mean_delta_flat=mean, task_metrics=metrics,
                        rejected=rejected, skipped=skipped, extra={"fold_s": fold_s, **coherence.coherence(mean)})


def _drain(accepted: dict[int, TaskOutcome]) -> Iterator[Callable[[], Tensor]]:
    """Fetchers in task-index order, each outcome dropped once handed out so its delta can be freed
    (a remote delta lives as long as its reference; holding all of them would grow with C)."""
    for index in sorted(accepted):
        yield accepted.pop(index).fetch


def fold_mean(deltas: Iterable[Callable[[], Tensor]], on_delta: Callable[[Tensor], None] | None = None) -> Tensor:
    """Mean of flat fp32 deltas from an iterable of fetchers, summed in iteration order one at a time.

    The driver holds the running sum and one delta at a time, whatever C is. ``on_delta`` sees each
    delta as it is folded (the coherence diagnostics). Finiteness was checked where each delta was
    made (:func:`base_dist.space.meta_state.is_finite`), not again here.

    Example:
        >>> fold_mean(iter([lambda: torch.zeros(2), lambda: torch.ones(2)]))
        tensor([0.5000, 0.5000])
    """
    total: Tensor | None = None
    n = 0
    for fetch in deltas:
        delta = fetch()
        if on_delta is not None:
            on_delta(delta)
        total = delta.clone() if total is None else total.add_(delta)
        n += 1
        del delta, fetch  # keep at most one remote delta referenced
    if total is None:
        raise ValueError("fold_mean needs at least one delta")
    return total / n


class InProcessExecutor:
    """Runs requests one after another in this process (``dist.workers: 0``).

    Example:
        >>> # ex = InProcessExecutor(seeded_metanet(cfg), TaskDistribution(cfg.data), cfg, device)
    """

    def __init__(self, model: nn.Module, tasks: TaskDistribution, cfg: ExperimentConfig,
                 device: torch.device | str = "cpu") -> None:
        self.model, self.tasks, self.cfg, self.device = model, tasks, cfg, device

    def execute(self, W: Mapping[str, Tensor], round_idx: int, requests: Sequence[TaskRequest]) -> list[TaskOutcome]:
        outcomes = []
        for req in requests:
            res = run_task(self.model, W, req.spec, self.cfg, round_idx, req.index, self.device, tasks=self.tasks,
                           attempt=req.attempt)
            outcomes.append(TaskOutcome(req.index, req.attempt, res.metrics, is_finite(res.delta),
                                        fetch=lambda d=res.delta: d))
        return outcomes

    def stats(self) -> dict[str, float]:
        """No counters in process."""
        return {}

    def close(self) -> None:
        """Nothing to release in process."""
