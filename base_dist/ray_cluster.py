"""Joining or starting a Ray cluster for a driver (meta-training, Ray Train, Tune).

A layer-0 module so that ``distributed`` (meta-training) and ``train`` (Ray Train) join Ray the same way.

Order: an already initialised Ray (a test fixture, a Tune trial, a ``ray job`` driver) is reused;
else ``dist.address`` or ``$RAY_ADDRESS`` (``auto`` joins the cluster running on this machine);
else a private local cluster sized to the machine. Auto-joining is opt-in on purpose: on a shared
machine another person's cluster is not ours to use.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from base_dist.config import DistConfig
from base_dist.errors import UserError

log = logging.getLogger(__name__)


@dataclass
class RayConnection:
    """What :func:`connect` did, so the driver undoes exactly that (never ``ray stop``)."""

    started_here: bool
    address: str | None

    def close(self) -> None:
        """Shut down Ray only when this process started it."""
        import ray

        if self.started_here and ray.is_initialized():
            ray.shutdown()


def connect(cfg: DistConfig, cpus_needed: float | None = None) -> RayConnection:
    """Reuse, join or start Ray for the driver; a private cluster gets at least ``cpus_needed`` CPUs
    (default: what ``cfg.workers`` workers of ``cfg.num_cpus_per_worker`` need).

    Example:
        >>> conn = connect(DistConfig(workers=1))   # doctest: +SKIP
        >>> conn.close()                            # doctest: +SKIP
    """
    import ray

    if ray.is_initialized():
        return RayConnection(started_here=False, address=None)
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    quiet = {"log_to_driver": False, "configure_logging": False}
    if address:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError) as err:
            raise UserError(
                f"could not join the Ray cluster at {address!r} ({str(err).splitlines()[0]}); "
                "start one with `ray start --head` or unset RAY_ADDRESS / dist.address"
            ) from err
        return RayConnection(started_here=True, address=address)
    if cpus_needed is None:
        cpus_needed = cfg.workers * cfg.num_cpus_per_worker
    num_cpus = max(os.cpu_count() or 1, math.ceil(cpus_needed))
    ray.init(num_cpus=num_cpus, include_dashboard=False, dashboard_host=cfg.dashboard_host, **quiet)
    log.info("started a local Ray cluster with %d CPUs", num_cpus)
    return RayConnection(started_here=True, address=None)
