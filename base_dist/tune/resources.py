"""What one trial reserves: a driver bundle plus one bundle per Ray worker, as one placement group.

Ray Tune starts a function trainable in the first bundle of its placement group with
``placement_group_capture_child_tasks=True``; the worker actors that the trial's
:class:`base_dist.distributed.executor.RayExecutor` creates (default scheduling strategy, ``num_cpus`` =
``dist.num_cpus_per_worker``) are therefore placed inside the same group. A trial starts only when
its whole group fits, so concurrent trials never take each other's workers.

Example:
    >>> from base_dist.config import load_config
    >>> trial_bundles(load_config(None, ["dist.workers=2", "dist.num_gpus_per_worker=0.5"]), driver_cpus=1)
    [{'CPU': 1.0}, {'CPU': 1.0, 'GPU': 0.5}, {'CPU': 1.0, 'GPU': 0.5}]
"""

from __future__ import annotations

from typing import Any

from base_dist.config import ExperimentConfig


def trial_bundles(cfg: ExperimentConfig, driver_cpus: float) -> list[dict[str, float]]:
    """``[driver] + [worker] * dist.workers`` (zero amounts are left out; Ray rejects empty bundles).

    With ``dist.workers: 0`` the trial meta-trains in its own process, so the driver bundle gets at
    least one CPU.

    Example:
        >>> from base_dist.config import load_config
        >>> trial_bundles(load_config(None), driver_cpus=0.5)
        [{'CPU': 1.0}]
    """
    # The trainable takes bundle 0: it must never be empty or it would take a worker's bundle.
    driver = max(float(driver_cpus), 0.01) if cfg.dist.workers >= 1 else max(float(driver_cpus), 1.0)
    bundles = [{"CPU": driver}]
    for _ in range(cfg.dist.workers):
        worker = {"CPU": float(cfg.dist.num_cpus_per_worker)}
        if cfg.dist.num_gpus_per_worker > 0:
            worker["GPU"] = float(cfg.dist.num_gpus_per_worker)
        if any(v > 0 for v in worker.values()):  # a 0-CPU, 0-GPU worker needs no bundle
            bundles.append(worker)
    return bundles


def placement_group_factory(cfg: ExperimentConfig, driver_cpus: float) -> Any:
    """A Ray Tune ``PlacementGroupFactory`` over :func:`trial_bundles` (strategy PACK).

    Example:
        >>> placement_group_factory(cfg, 1.0).bundles     # doctest: +SKIP
        [{'CPU': 1.0}, {'CPU': 0.5}]
    """
    from ray.tune import PlacementGroupFactory

    return PlacementGroupFactory(trial_bundles(cfg, driver_cpus), strategy="PACK")
