"""The Ray executor: the driver side of distributed BASE meta-training.

Each round ``W`` goes into the object store once; workers get task requests (source, seed, image
size — never images) from a queue, and return small infos plus delta references. The driver folds
the deltas into the mean one at a time, in task-index order, so results never depend on which
worker ran what or when it finished, and driver memory does not grow with tasks per round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from base_dist.config import ExperimentConfig, config_to_dict
from base_dist.distributed.pool import TaskFailedError, WorkerPool, WorkItem
from base_dist.distributed.wire import WIRE_DTYPES, pack, unpack
from base_dist.distributed.worker import TaskWorker
from base_dist.errors import UserError
from base_dist.meta.rounds import TaskOutcome, TaskRequest
from base_dist.ray_cluster import RayConnection, connect
from base_dist.space.meta_state import Layout

log = logging.getLogger(__name__)


class RayExecutor:
    """``cfg.dist.workers`` actors with the configured CPUs/GPUs, fed from one queue.

    ``worker_cls`` lets tests and extensions swap the actor body (it must accept
    ``(cfg_dict, slot)`` and expose ``run`` and ``pid`` like :class:`TaskWorker`).

    Example:
        >>> ex = RayExecutor(cfg)                                      # doctest: +SKIP
        >>> outcomes = ex.execute(W, 0, [TaskRequest(0, 0, spec)])     # doctest: +SKIP
        >>> ex.close()                                                 # doctest: +SKIP
    """

    def __init__(self, cfg: ExperimentConfig, worker_cls: type = TaskWorker) -> None:
        import ray

        self.cfg = cfg
        self.connection: RayConnection = connect(cfg.dist)
        options: dict[str, Any] = {"num_cpus": cfg.dist.num_cpus_per_worker, "max_restarts": 0}
        if cfg.dist.num_gpus_per_worker > 0:
            options["num_gpus"] = cfg.dist.num_gpus_per_worker
        actor_cls = ray.remote(worker_cls).options(**options)
        cfg_dict = config_to_dict(cfg)
        self.pool = WorkerPool(lambda slot: actor_cls.remote(cfg_dict, slot), cfg.dist.workers,
                               cfg.dist.max_task_retries, cfg.dist.task_timeout_s, cfg.dist.worker_start_timeout_s)
        self._w_ref: Any = None
        self._w_round: int | None = None
        self.puts = 0
        self.put_s = 0.0  # cumulative seconds in ray.put(W), part of the driver's time

    def _put_weights(self, W: Mapping[str, Tensor], round_idx: int) -> Any:
        """``ray.put(W)`` once per round (re-sampled tasks of the same round reuse it)."""
        import ray

        if self._w_round != round_idx:
            t0 = time.perf_counter()
            self._w_ref, self._w_round = ray.put(pack(Layout.of(W).flatten(W))), round_idx
            self.puts += 1
            self.put_s += time.perf_counter() - t0
        return self._w_ref

    def execute(self, W: Mapping[str, Tensor], round_idx: int, requests: Sequence[TaskRequest]) -> list[TaskOutcome]:
        """Run ``requests`` on the workers; a lost worker's task (or a finished task's lost delta) runs again."""
        import ray
        from ray.exceptions import ObjectLostError

        w_box = [self._put_weights(W, round_idx)]

        def submit(actor: Any, item: WorkItem) -> tuple[Any, Any]:
            req: TaskRequest = item.payload
            refs = actor.run.options(num_returns=2).remote(w_box, round_idx, req.index, req.attempt, req.spec)
            return refs[0], refs[1]

        try:
            done = self.pool.run([WorkItem(r.index, r) for r in requests], submit)
        except TaskFailedError as err:
            raise UserError(f"round {round_idx}: {err}") from err

        wire = WIRE_DTYPES[self.cfg.dist.delta_dtype]

        def fetcher(ref: Any, req: TaskRequest) -> Any:
            def fetch() -> Any:
                try:
                    return unpack(ray.get(ref), wire)
                except ObjectLostError:
                    # The node holding a finished delta died before the fold: the task is seeded,
                    # so running it again gives the same delta bit for bit.
                    log.warning("round %d task %d: its delta was lost with its node; running it again",
                                round_idx, req.index)
                    return self.execute(W, round_idx, [req])[0].fetch()
            return fetch

        return [TaskOutcome(c.item.index, c.item.payload.attempt, c.info["metrics"], bool(c.info["finite"]),
                            fetch=fetcher(c.result_ref, c.item.payload)) for c in done]

    def stats(self) -> dict[str, float]:
        """Cumulative retry/restart counters for logging."""
        return {"retries": float(self.pool.stats.retries), "worker_restarts": float(self.pool.stats.actor_restarts),
                "put_s_total": self.put_s}

    def close(self) -> None:
        """Kill the workers and shut Ray down if this executor started it."""
        self.pool.close()
        self._w_ref = None
        self.connection.close()

