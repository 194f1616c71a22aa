"""Data-parallel training over a Ray cluster with Ray Train's ``TorchTrainer`` (``train.workers >= 1``).

Each Ray Train worker runs :func:`base_dist.train.loop.fit` with :class:`~base_dist.train.loop.Peers`
built from the Ray Train context: ``prepare_model`` wraps the network in DDP (gloo on CPU, NCCL on
GPU), every worker computes the same seeded global batch order and trains on its strided share of
each global batch (``train.batch_size`` stays the global batch, so the recipe does not change with
the worker count), and metrics are summed with ``torch.distributed.all_reduce``.

Data: every worker loads the dataset itself (``load_dataset``), so the data root must be readable on
every node (as for ``data.root`` in meta-training). Run directory: rank 0 writes the checkpoints
into ``run_dir/checkpoints`` and every worker reads it on resume, so on a multi-node cluster the run
directory must be on a shared filesystem; Ray's own outputs go to ``run_dir/ray`` (an absolute
``storage_path``, as Ray requires). Resources per worker come from ``dist.num_cpus_per_worker`` and
``dist.num_gpus_per_worker`` (fractions allowed); Ray is joined like meta-training does
(an initialised Ray is reused, else ``dist.address`` / ``$RAY_ADDRESS``, else a private local cluster).

Example:
    >>> from base_dist.config import load_config
    >>> scaling_kwargs(load_config(None, ["train.workers=2", "dist.num_cpus_per_worker=0.5"]))
    {'num_workers': 2, 'use_gpu': False, 'resources_per_worker': {'CPU': 0.5}}
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from base_dist.config import ExperimentConfig, config_from_dict, config_to_dict
from base_dist.errors import UserError
from base_dist.ray_cluster import connect
from base_dist.space.genotypes import genotype_from_dict, genotype_to_dict
from base_dist.train.inputs import load_train_data
from base_dist.train.loop import Peers, fit

log = logging.getLogger(__name__)
RAY_SUBDIR = "ray"


def scaling_kwargs(cfg: ExperimentConfig) -> dict[str, Any]:
    """Arguments of ``ray.train.ScalingConfig`` for ``cfg`` (workers and resources per worker).

    Example:
        >>> from base_dist.config import load_config
        >>> scaling_kwargs(load_config(None, ["train.workers=1", "dist.num_gpus_per_worker=1"]))["use_gpu"]
        True
    """
    use_gpu = cfg.dist.num_gpus_per_worker > 0
    resources: dict[str, float] = {"CPU": cfg.dist.num_cpus_per_worker}
    if use_gpu:
        resources["GPU"] = cfg.dist.num_gpus_per_worker
    return {"num_workers": cfg.train.workers, "use_gpu": use_gpu, "resources_per_worker": resources}


def _worker_loop(config: dict[str, Any]) -> dict[str, Any] | None:
    """``train_loop_per_worker``: one data-parallel worker; rank 0 returns the run's summary."""
    import ray.train
    import ray.train.torch
    import torch.distributed as tdist

    cfg = config_from_dict(config["cfg"], origin="train worker config")
    genotype = genotype_from_dict(config["genotype"])
    ctx = ray.train.get_context()
    torch.set_num_threads(cfg.dist.torch_threads)
    device = ray.train.torch.get_device()
    world = ctx.get_world_size()

    def all_reduce(t: torch.Tensor) -> None:
        if world > 1:
            tdist.all_reduce(t)

    peers = Peers(rank=ctx.get_world_rank(), world=world, device=device,
                  wrap=ray.train.torch.prepare_model, all_reduce=all_reduce)
    data = load_train_data(cfg)

    def report(row: dict[str, float]) -> None:
        ray.train.report(dict(row))  # a barrier: every worker reports every epoch

    res = fit(cfg, genotype, data, config["run_dir"], peers=peers, resume=config["resume"],
              stop_after=config["stop_after"], on_epoch=report)
    if not peers.writer:
        return None
    return {"history": res.history, "epochs_done": res.epochs_done, "test_acc": res.test_acc,
            "test_loss": res.test_loss, "train_s": res.train_s, "stopped_by_budget": res.stopped_by_budget,
            "checkpoint": str(res.checkpoint) if res.checkpoint else None, "resumed_from": res.resumed_from,
            "in_channels": data.in_channels, "num_classes": data.num_classes, "device": str(device),
            "world_size": world}


def fit_with_ray(cfg: ExperimentConfig, genotype: Any, run_dir: str | Path, *, resume: bool = False,
                 stop_after: int | None = None) -> dict[str, Any]:
    """Run :func:`base_dist.train.loop.fit` on ``cfg.train.workers`` Ray Train workers; rank 0's summary.

    Example:
        >>> # summary = fit_with_ray(cfg, get_genotype("darts_v2"), "runs/x")
        >>> # summary["test_acc"], summary["history"][-1]
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    run_dir = Path(run_dir).absolute()
    connection = connect(cfg.dist, cpus_needed=cfg.train.workers * cfg.dist.num_cpus_per_worker)
    try:
        scaling = scaling_kwargs(cfg)
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config={"cfg": config_to_dict(cfg), "genotype": genotype_to_dict(genotype),
                               "run_dir": str(run_dir), "resume": resume, "stop_after": stop_after},
            torch_config=TorchConfig(backend="nccl" if scaling["use_gpu"] else "gloo"),
            scaling_config=ScalingConfig(**scaling),
            # Recovery is our own --resume from run_dir/checkpoints; Ray only needs a place for its files.
            run_config=RunConfig(name="train", storage_path=str(run_dir / RAY_SUBDIR),
                                 failure_config=FailureConfig(max_failures=0)),
        )
        try:
            result = trainer.fit()
        except Exception as err:
            raise _unwrap_user_error(err) from err
        if getattr(result, "error", None) is not None:
            raise _unwrap_user_error(result.error)
        summary = getattr(result, "return_value", None)
        if not isinstance(summary, dict):
            raise RuntimeError("Ray Train finished without a summary from rank 0")
        return summary
    finally:
        connection.close()


def _unwrap_user_error(err: BaseException) -> BaseException:
    """A UserError raised inside a worker (e.g. a mismatching checkpoint) reaches the user as one line."""
    seen: set[int] = set()
    stack: list[BaseException] = [err]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, UserError):
            return e
        for attr in ("cause", "__cause__", "__context__"):
            inner = getattr(e, attr, None)
            if isinstance(inner, BaseException):
                stack.append(inner)
        for inner in getattr(e, "worker_failures", {}).values() if isinstance(
                getattr(e, "worker_failures", None), dict) else []:
            if isinstance(inner, BaseException):
                stack.append(inner)
    return err
