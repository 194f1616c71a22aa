"""A fault-tolerant work queue over Ray actors.

More items than actors: each idle actor takes the next item (no barrier per worker). An actor that
dies (SIGKILL, node loss) is replaced and its item queued again; an item that raises is retried.
Every item has a bounded number of tries, so a task that fails on every try (out of memory, say)
stops the run with a clear message instead of looping.

A task's timeout is counted from the moment its actor has started, not from its submission: a
fresh actor's start-up (importing torch, initialising CUDA, loading data) can take longer than a
task, and would otherwise be taken for a hang, again on every replacement. Start-up has its own
limit, so an actor that never starts (no GPU free, a stalled file system) is replaced too instead
of hanging the run.

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
                 task_timeout_s: float | None = None, start_timeout_s: float | None = None) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one actor")
        self._make_actor = make_actor
        self.max_retries = max_retries
        self.task_timeout_s = task_timeout_s
        self.start_timeout_s = start_timeout_s
        self._starting: dict[int, tuple[Any, float]] = {}  # slot -> (ref that resolves once started, created at)
        self.actors: list[Any] = []
        for slot in range(size):
            self.actors.append(None)
            self._spawn(slot)
        self.stats = PoolStats()

    def _spawn(self, slot: int) -> None:
        """A new actor in ``slot``; with a timeout set, watch for the end of its start-up."""
        self.actors[slot] = self._make_actor(slot)
        self._starting.pop(slot, None)
        if self.task_timeout_s is not None or self.start_timeout_s is not None:
            # Ray runs an actor's calls in order, so this built-in no-op returns right after __init__.
            self._starting[slot] = (self.actors[slot].__ray_ready__.remote(), time.monotonic())

    def _replace(self, slot: int) -> None:
        import ray

        try:
            ray.kill(self.actors[slot], no_restart=True)
        except Exception:  # already gone: nothing to undo
            pass
        self._spawn(slot)
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

    def _deadlines(self, started: dict[Any, float | None], in_flight: dict[Any, tuple[int, WorkItem, Any]]
                   ) -> list[tuple[float, Any, str]]:
        """``(deadline, key, reason)`` for every running task (key: its info ref) and starting actor (key: its slot)."""
        out: list[tuple[float, Any, str]] = []
        if self.task_timeout_s is not None:
            out += [(t + self.task_timeout_s, ref, f"no result within dist.task_timeout_s={self.task_timeout_s:g}s")
                    for ref, t in started.items() if t is not None]
        if self.start_timeout_s is not None:
            out += [(created + self.start_timeout_s, slot,
                     f"worker did not start within dist.worker_start_timeout_s={self.start_timeout_s:g}s")
                    for slot, (_, created) in self._starting.items()]
        return out

    def _expire(self, key: Any, reason: str, queue: deque[WorkItem], started: dict[Any, float | None],
                in_flight: dict[Any, tuple[int, WorkItem, Any]]) -> int:
        """Replace the actor behind an expired task or start-up, and queue its task again; returns the slot."""
        if key in in_flight:
            ref = key
        else:  # an actor's start-up expired: its task (if it had one) goes with it
            ref = next((r for r, (slot, _, _) in in_flight.items() if slot == key), None)
        slot = key if ref is None else in_flight[ref][0]
        self._replace(slot)
        if ref is not None:
            _, item, _ = in_flight.pop(ref)
            del started[ref]
            self._retry_or_fail(queue, item, reason)
        return slot

    def _on_started(self, slot: int, started: dict[Any, float | None], in_flight: dict[Any, tuple[int, WorkItem, Any]]) -> None:
        """The actor in ``slot`` finished starting: the clock of the task waiting on it starts now.

        An actor that died while starting is replaced at once if it is idle; if a task waits on it,
        the task's own ref fails and the usual path replaces the actor and retries the task.
        """
        import ray
        from ray.exceptions import RayActorError

        start_ref, _ = self._starting.pop(slot)
        task_refs = [ref for ref, (task_slot, _, _) in in_flight.items() if task_slot == slot]
        try:
            ray.get(start_ref)
        except RayActorError:
            if not task_refs:
                self._replace(slot)
            return
        for ref in task_refs:
            started[ref] = time.monotonic()

    def run(self, items: list[WorkItem], submit: Submit) -> list[Completed]:
        """Run every item on some actor; returns them completed, sorted by index."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        queue: deque[WorkItem] = deque(sorted(items, key=lambda it: it.index))
        in_flight: dict[Any, tuple[int, WorkItem, Any]] = {}  # info_ref -> (slot, item, result_ref)
        started: dict[Any, float | None] = {}  # info_ref -> when its clock started (None: actor still starting)
        idle = list(range(len(self.actors)))
        done: list[Completed] = []
        while queue or in_flight:
            while queue and idle:
                slot, item = idle.pop(0), queue.popleft()
                info_ref, result_ref = submit(self.actors[slot], item)
                in_flight[info_ref] = (slot, item, result_ref)
                started[info_ref] = None if slot in self._starting else time.monotonic()
            start_refs = {ref: slot for slot, (ref, _) in self._starting.items()}
            deadlines = self._deadlines(started, in_flight)
            timeout = max(0.0, min(d for d, _, _ in deadlines) - time.monotonic()) if deadlines else None
            # start refs first: ray.wait returns in input order, and a task's clock waits on its start
            ready, _ = ray.wait(list(start_refs) + list(in_flight), num_returns=1, timeout=timeout)
            if not ready:  # the nearest deadline passed: a hung task or an actor that does not start
                _, key, reason = min(deadlines, key=lambda d: d[0])
                slot = self._expire(key, reason, queue, started, in_flight)
                if slot not in idle and not any(s == slot for s, _, _ in in_flight.values()):
                    idle.append(slot)
                continue
            if ready[0] in start_refs:  # an error in start-up shows on the task's own ref, handled below
                self._on_started(start_refs[ready[0]], started, in_flight)
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
        self._starting.clear()
