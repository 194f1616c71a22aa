"""The Ray worker actor: builds tasks from seeds, runs the inner loop, returns the packed delta.

A worker loads its data sources once (at actor start), keeps one scratch copy of the
meta-network, and fetches the round's ``W`` from the object store once per round however many
tasks it runs. It returns ``(info, delta)`` as two objects so the driver can fetch the small info
(metrics, finiteness) without pulling the delta until it folds it into the mean.
"""

from __future__ import annotations

import os
import time
from typing import Any

from base_dist.config import ExperimentConfig
from base_dist.data import TaskDistribution
from base_dist.distributed.wire import WIRE_DTYPES, pack, unpack, wire_values
from base_dist.meta.prior import seeded_metanet
from base_dist.meta.task import configure_process, run_task
from base_dist.space.meta_state import Layout, is_finite
from base_dist.utils import resolve_device


class TaskWorker:
    """Body of the worker actor (wrapped with ``ray.remote`` by the executor).

    Example:
        >>> worker = TaskWorker(cfg.model_dump(mode="json"), slot=0)         # doctest: +SKIP
        >>> info, delta = worker.run([w_ref], round_idx=0, index=0, attempt=0, spec=spec)  # doctest: +SKIP
    """

    def __init__(self, cfg_dict: dict[str, Any], slot: int) -> None:
        self.cfg = ExperimentConfig.model_validate(cfg_dict)
        self.slot = slot
        configure_process(self.cfg)
        self.device = resolve_device(self.cfg.device)
        self.model = seeded_metanet(self.cfg, self.device)
        self.tasks = TaskDistribution(self.cfg.data, split="meta-train")
        self.wire_dtype = WIRE_DTYPES[self.cfg.dist.delta_dtype]
        self.layout = Layout.of(dict(self.model.named_parameters()))  # names and shapes of W, for unpacking
        self._w_key: str | None = None
        self._W: Any = None

    def pid(self) -> int:
        """The actor's process id (tests kill it to simulate a lost worker)."""
        return os.getpid()

    def _weights(self, w_box: list[Any]) -> Any:
        """``W`` of this round, fetched once per round (the ref is boxed so Ray does not resolve it per call; it arrives packed)."""
        import ray

        ref = w_box[0]
        if ref.hex() != self._w_key:
            self._W, self._w_key = self.layout.unflatten(unpack(ray.get(ref))), ref.hex()
        return self._W

    def run(self, w_box: list[Any], round_idx: int, index: int, attempt: int, spec: Any) -> tuple[dict[str, Any], Any]:
        """Run one task; returns ``(info, delta)``: the flat delta packed in the wire dtype."""
        t0 = time.perf_counter()
        result = run_task(self.model, self._weights(w_box), spec, self.cfg, round_idx, index, self.device,
                          tasks=self.tasks, attempt=attempt)
        delta = pack(result.delta, self.wire_dtype)
        finite = is_finite(wire_values(delta, self.wire_dtype))  # what travels is what is checked (fp16 overflows)
        info = {"metrics": result.metrics, "finite": finite, "pid": os.getpid(), "slot": self.slot,
                "seconds": time.perf_counter() - t0}
        return info, delta
