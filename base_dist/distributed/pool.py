"""A fault-tolerant work queue over Ray actors.

More items than actors: each idle actor takes the next item (no barrier per worker). An actor that
dies (SIGKILL, node loss) is replaced and its item queued again; an item that raises is retried.
Every item has a bounded number of tries, so a task that fails on every try (out of memory, say)
stops the run with a clear message instead of looping.

The pool never fetches the big results: each submission returns ``(info_ref, payload_ref)`` and
only the small ``info`` is fetched here, so the driver's memory does not grow with the round size.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class TaskFailedError(RuntimeError):
    """An item failed on every allowed try."""


@dataclass
class WorkItem:
    """One unit of work: its position in the round, what the actor needs, and how often it ran."""

    index: int
    payload: Any
    tries: int = 0


@dataclass
class Completed:
    """A finished item: the small info dict (fetched) and a reference to the big result (not fetched)."""

    item: WorkItem
    info: dict[str, Any]
    result_ref: Any


@dataclass
class PoolStats:
    """Counters the driver logs each round."""

    retries: int = 0
    actor_restarts: int = 0
    errors: list[str] = field(default_factory=list)


Submit = Callable[[Any, WorkItem], tuple[Any, Any]]


class WorkerPool:
    """``size`` actors made by ``make_actor(slot)``, fed from a queue by :meth:`run`.

    Example:
        >>> pool = WorkerPool(lambda slot: Worker.remote(), size=2, max_retries=3)   # doctest: +SKIP
        >>> done = pool.run(items, lambda actor, item: actor.work.options(num_returns=2).remote(item.payload))  # doctest: +SKIP
    """

    def __init__(self, make_actor: Callable[[int], Any], size: int, max_retries: int,
                 task_timeout_s: float | None = None) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one actor")
        self._make_actor = make_actor
        self.max_retries = max_retries
        self.task_timeout_s = task_timeout_s
        self.actors: list[Any] = [make_actor(slot) for slot in range(size)]
        self.stats = PoolStats()

    def _replace(self, slot: int) -> None:
        import ray

        try:
            ray.kill(self.actors[slot], no_restart=True)
        except Exception:  # already gone: nothing to undo
            pass
        self.actors[slot] = self._make_actor(slot)
        self.stats.actor_restarts += 1

    def _retry_or_fail(self, queue: deque[WorkItem], item: WorkItem, reason: str) -> None:
        item.tries += 1
        self.stats.retries += 1
        self.stats.errors.append(f"item {item.index}: {reason}")
        if item.tries > self.max_retries:
            raise TaskFailedError(
                f"task {item.index} failed {item.tries} times (dist.max_task_retries={self.max_retries}); "
                f"last error: {reason}"
            )
        log.warning("task %d failed (%s); retrying (try %d)", item.index, reason, item.tries + 1)
        queue.appendleft(item)

    def run(self, items: list[WorkItem], submit: Submit) -> list[Completed]:
        """Run every item on some actor; returns them completed, sorted by index."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        queue: deque[WorkItem] = deque(sorted(items, key=lambda it: it.index))
        in_flight: dict[Any, tuple[int, WorkItem, Any]] = {}  # info_ref -> (slot, item, result_ref)
        started: dict[Any, float] = {}
        idle = list(range(len(self.actors)))
        done: list[Completed] = []
        while queue or in_flight:
            while queue and idle:
                slot, item = idle.pop(0), queue.popleft()
                info_ref, result_ref = submit(self.actors[slot], item)
                in_flight[info_ref] = (slot, item, result_ref)
                started[info_ref] = time.monotonic()
            timeout = None
            if self.task_timeout_s is not None:
                oldest = min(started.values())
                timeout = max(0.0, oldest + self.task_timeout_s - time.monotonic())
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=timeout)
            if not ready:  # the oldest task ran past dist.task_timeout_s: treat its worker as hung
                hung = min(started, key=started.__getitem__)
                slot, item, _ = in_flight.pop(hung)
                del started[hung]
                self._replace(slot)
                self._retry_or_fail(queue, item, f"no result within dist.task_timeout_s={self.task_timeout_s:g}s")
                idle.append(slot)
                continue
            started.pop(ready[0])
            slot, item, result_ref = in_flight.pop(ready[0])
            try:
                info = ray.get(ready[0])
            except RayActorError as err:
                self._replace(slot)
                self._retry_or_fail(queue, item, f"worker died ({type(err).__name__})")
            except RayTaskError as err:
                cause = err.cause if getattr(err, "cause", None) is not None else err
                self._retry_or_fail(queue, item, f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}")
            else:
                done.append(Completed(item=item, info=info, result_ref=result_ref))
            idle.append(slot)
        return sorted(done, key=lambda c: c.item.index)

    def pids(self) -> list[int]:
        """Process ids of the live actors (each actor must expose ``pid()``)."""
        import ray

        return ray.get([actor.pid.remote() for actor in self.actors])

    def close(self) -> None:
        """Kill every actor of the pool."""
        import ray

        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass
        self.actors = []
