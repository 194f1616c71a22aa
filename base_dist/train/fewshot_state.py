"""The network of a few-shot run and its checkpoints (weights and Adam state: tensors only).

A checkpoint ``run_dir/checkpoints/ckpt-<iterations done>.safetensors`` holds the groups ``model``
(the network's ``state_dict``; few-shot networks have no buffers) and ``opt`` (Adam's per-parameter
``step``, ``exp_avg``, ``exp_avg_sq``). Its JSON meta holds the network signature, the resolved
config, the network description and the training seconds so far. Nothing is pickled.

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config(None, ["fewshot.image_size=16"])
    >>> net = build_fewshot_network(cfg, in_channels=1)
    >>> describe_network(cfg, net, 1)["params"]
    28485
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from base_dist.config import ExperimentConfig, config_from_dict, config_to_dict
from base_dist.errors import UserError
from base_dist.space.fewshot_nets import (
    create_fewshot_network,
    is_conv4,
    network_genotype,
    network_width,
    parameter_count,
)
from base_dist.space.genotypes import genotype_to_dict
from base_dist.track.checkpoint import CheckpointStore
from base_dist.train.checkpoints import load_run_checkpoint
from base_dist.train.recipe import load_optimizer_tensors, optimizer_tensors
from base_dist.utils import derive_seed


def build_fewshot_network(cfg: ExperimentConfig, in_channels: int) -> nn.Module:
    """``cfg.fewshot.network`` for ``in_channels``-channel images, weights seeded by ``(seed, "fewshot-init")``.

    Initialisation runs under a forked global RNG, so building never disturbs the caller's stream.
    """
    fs = cfg.fewshot
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, "fewshot-init"))
        return create_fewshot_network(fs.network, in_channels, fs.n_way, fs.image_size, **_shape(cfg))


def _shape(cfg: ExperimentConfig) -> dict[str, Any]:
    """The settings that size a few-shot network, as :func:`create_fewshot_network` takes them."""
    fs = cfg.fewshot
    return {"channels": fs.channels, "layers": fs.layers, "feature_norm": fs.feature_norm,
            "param_ratio": fs.param_ratio, "conv_stem": fs.conv_stem}


def describe_network(cfg: ExperimentConfig, net: nn.Module, in_channels: int) -> dict[str, Any]:
    """What the run trains: network name, genotype (if any), width, cells, sizes and parameter count."""
    fs = cfg.fewshot
    g = network_genotype(fs.network)
    width = network_width(fs.network, in_channels, fs.n_way, fs.image_size, **_shape(cfg))
    return {"network": fs.network, "genotype": None if g is None else genotype_to_dict(g), "channels": width,
            "layers": None if g is None else fs.layers, "feature_norm": None if g is None else fs.feature_norm,
            "in_channels": in_channels, "n_way": fs.n_way,
            "image_size": fs.image_size, "params": parameter_count(net),
            # only when set: the descriptions (and signatures) of earlier checkpoints stay as they were
            **({"conv_stem": fs.conv_stem} if g is not None and fs.conv_stem else {})}


def fewshot_signature(description: dict[str, Any], net: nn.Module) -> str:
    """A short hash of what makes checkpoints interchangeable: the network description and tensor shapes.

    Example:
        >>> len(fewshot_signature({"network": "conv4"}, nn.Linear(2, 2)))
        16
    """
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps({k: v for k, v in description.items() if k != "network" or is_conv4(v)},
                        sort_keys=True).encode())  # a genotype file may move: its contents count, not its path
    for name, value in net.state_dict().items():
        h.update(f"{name}:{tuple(value.shape)};".encode())
    return h.hexdigest()


def save_fewshot_checkpoint(store: CheckpointStore, iterations: int, net: nn.Module, optimizer: torch.optim.Optimizer,
                            meta: dict[str, Any]) -> Path:
    """Write the checkpoint of ``iterations`` done atomically (layout: the module docstring)."""
    return store.save(iterations, {"model": dict(net.state_dict()), "opt": optimizer_tensors(net, optimizer)}, meta)


def restore_optimizer(net: nn.Module, optimizer: torch.optim.Optimizer, tensors: dict[str, Any]) -> None:
    """Load saved Adam state; ``step`` stays a CPU tensor, as torch keeps it for a non-capturable Adam."""
    load_optimizer_tensors(net, optimizer, tensors)
    for state in optimizer.state.values():
        if "step" in state:
            state["step"] = state["step"].cpu()


@dataclass
class TrainedFewshot:
    """A few-shot run's network at its newest good checkpoint, and the config it was trained with."""

    cfg: ExperimentConfig
    net: nn.Module
    iterations: int
    description: dict[str, Any]
    path: Path


def load_fewshot_run(run_dir: str | Path, cfg: ExperimentConfig | None = None) -> TrainedFewshot:
    """The newest good checkpoint of ``run_dir``, loaded into a fresh network (``cfg``: else the checkpoint's).

    Raises :class:`UserError` when there is no checkpoint or it is not a few-shot one.
    """
    ckpt = load_run_checkpoint(run_dir, "fewshot", "fewshot train")
    cfg = cfg or config_from_dict(ckpt.meta["config"], origin=f"checkpoint {ckpt.path}: config")
    in_channels = int(ckpt.meta["network"]["in_channels"])
    net = build_fewshot_network(cfg, in_channels)
    sig = fewshot_signature(describe_network(cfg, net, in_channels), net)
    if sig != ckpt.signature:
        raise UserError(f"checkpoint {ckpt.path}: trained another network than fewshot.* describes now "
                        f"(network, sizes or width changed); drop those --set overrides")
    net.load_state_dict(ckpt.tensors["model"])
    return TrainedFewshot(cfg, net, ckpt.round, describe_network(cfg, net, in_channels), ckpt.path)


def checkpoint_meta(cfg: ExperimentConfig, description: dict[str, Any], signature: str, train_s: float) -> dict[str, Any]:
    """The JSON meta of a few-shot checkpoint."""
    return {"kind": "fewshot", "signature": signature, "config": config_to_dict(cfg), "network": description,
            "train_s": train_s}
