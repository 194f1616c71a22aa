"""The Ray layer: the executor that runs a round's tasks on worker actors, and :func:`create_trainer`.

- :mod:`~base_dist.distributed.trainer`: the meta-training engine with its executor picked from ``cfg.dist``;
- :mod:`~base_dist.distributed.executor`: :class:`RayExecutor`, the driver side (W in the object store
  once per round, deltas folded in task-index order);
- :mod:`~base_dist.distributed.worker`: the actor body (builds tasks from seeds, runs :func:`run_task`);
- :mod:`~base_dist.distributed.pool`: a fault-tolerant work queue over actors;
- :mod:`~base_dist.distributed.wire`: flat deltas as single numpy buffers.
"""

from base_dist.distributed.trainer import create_trainer

__all__ = ["create_trainer"]
