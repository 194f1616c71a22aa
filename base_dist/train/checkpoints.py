"""The network of a training run and its checkpoints (model, optimizer, schedule: tensors only).

A checkpoint ``run_dir/checkpoints/ckpt-<epochs done>.safetensors`` holds the groups ``model``
(``state_dict``: weights and BatchNorm statistics), ``opt`` (per-parameter optimizer state, see
:func:`base_dist.train.recipe.optimizer_tensors`) and ``sched`` (the epoch counter the cosine
schedule and drop-path ramp are computed from). Its JSON meta holds the network signature, the
resolved config, the genotype and the history so far. Nothing is pickled.

Example:
    >>> from base_dist.config import load_config
    >>> from base_dist.space.genotypes import get_genotype
    >>> cfg = load_config(None, ["train.channels=4", "train.layers=3"])
    >>> net = build_network(cfg, get_genotype("darts_v2"), in_channels=1, num_classes=10)
    >>> net.auxiliary_head is not None
    True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from base_dist.config import ExperimentConfig, config_from_dict, config_to_dict
from base_dist.errors import UserError
from base_dist.space.genotypes import Genotype, genotype_from_dict, genotype_to_dict
from base_dist.space.network import Network, create_network
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, Checkpoint, CheckpointStore, load_checkpoint
from base_dist.track.rundir import write_config
from base_dist.utils import derive_seed

GENOTYPE_FILE = "genotype.json"
__all__ = ["GENOTYPE_FILE", "KEEP_CHECKPOINTS", "Resumed", "TrainedNetwork", "WithAux", "build_network",
           "checkpoint_meta", "load_resume", "load_run_checkpoint", "load_trained_network", "network_signature",
           "save_train_checkpoint", "write_train_inputs"]

KEEP_CHECKPOINTS = 2  # the newest, plus one to fall back on if the newest was cut short


def build_network(cfg: ExperimentConfig, genotype: Genotype, in_channels: int, num_classes: int) -> Network:
    """The full network of ``genotype`` per ``cfg.train``, with weights seeded by ``(seed, "train-init")``.

    The auxiliary head exists iff ``auxiliary_weight > 0``. Initialisation runs under a forked
    global RNG so building a network never disturbs the caller's random stream.

    Example:
        >>> from base_dist.config import load_config
        >>> from base_dist.space.genotypes import get_genotype
        >>> cfg = load_config(None, ["train.channels=4", "train.layers=3", "train.auxiliary_weight=0"])
        >>> build_network(cfg, get_genotype("darts_v2"), 1, 10).auxiliary_head is None
        True
    """
    t = cfg.train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, "train-init"))
        return create_network(genotype, macro=t.macro, channels=t.channels, layers=t.layers,
                              num_classes=num_classes, in_channels=in_channels, auxiliary=t.auxiliary_weight > 0)


class WithAux(nn.Module):
    """``forward(x) -> (logits, aux_logits)``: lets DDP (which wraps ``forward`` only) see the aux head.

    Example:
        >>> from base_dist.config import load_config
        >>> from base_dist.space.genotypes import get_genotype
        >>> cfg = load_config(None, ["train.channels=4", "train.layers=3"])
        >>> m = WithAux(build_network(cfg, get_genotype("darts_v2"), 1, 10))
        >>> [t.shape[-1] for t in m(torch.zeros(2, 1, 16, 16))]
        [10, 10]
    """

    def __init__(self, net: Network) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.net.forward_with_aux(x)


def network_signature(cfg: ExperimentConfig, genotype: Genotype, state: dict[str, Tensor], in_channels: int,
                      num_classes: int) -> str:
    """A short hash of what makes two runs' checkpoints interchangeable: genotype, macro, sizes, data.

    Example:
        >>> from base_dist.config import load_config
        >>> from base_dist.space.genotypes import get_genotype
        >>> cfg = load_config(None)
        >>> len(network_signature(cfg, get_genotype("darts_v2"), {}, 1, 10))
        16
    """
    t = cfg.train
    key = {"genotype": genotype_to_dict(genotype), "macro": t.macro, "channels": t.channels, "layers": t.layers,
           "dataset": t.dataset, "image_size": t.image_size, "in_channels": in_channels, "num_classes": num_classes,
           "auxiliary": t.auxiliary_weight > 0}
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps(key, sort_keys=True).encode())
    for name, value in state.items():
        h.update(f"{name}:{tuple(value.shape)};".encode())
    return h.hexdigest()


def write_train_inputs(cfg: ExperimentConfig, genotype: Genotype, run_dir: Path) -> None:
    """``config.yaml`` and ``genotype.json`` of the run: what it trains, readable without a checkpoint."""
    write_config(cfg, run_dir)
    (run_dir / GENOTYPE_FILE).write_text(json.dumps(genotype_to_dict(genotype), indent=1) + "\n")


def save_train_checkpoint(store: CheckpointStore, epochs_done: int, net: nn.Module, opt_state: dict[str, Any],
                          meta: dict[str, Any]) -> Path:
    """Write one checkpoint atomically (see the module docstring for its layout).

    Example:
        >>> # save_train_checkpoint(CheckpointStore(run_dir / "checkpoints"), 3, net, opt_tensors, meta)
    """
    tensors = {"model": dict(net.state_dict()), "opt": opt_state,
               "sched": {"epoch": torch.tensor(epochs_done, dtype=torch.int64)}}
    return store.save(epochs_done, tensors, meta)


@dataclass
class Resumed:
    """What a resume restores: epochs done, tensors to load, the history and train seconds so far."""

    epochs_done: int
    model: dict[str, Tensor]
    opt: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    train_s: float = 0.0
    path: Path | None = None


def load_resume(run_dir: Path, signature: str, net: nn.Module) -> Resumed | None:
    """The newest good checkpoint of ``run_dir`` matching ``signature`` and ``net``, or None if none exists.

    A checkpoint of another network raises :class:`base_dist.track.checkpoint.CheckpointMismatch`
    (a one-line ``UserError``).

    Example:
        >>> # resumed = load_resume(run_dir, signature, net)
    """
    store = CheckpointStore(run_dir / CHECKPOINT_SUBDIR, keep=KEEP_CHECKPOINTS)
    ckpt = store.latest_good(expect_signature=signature, expect_tensors={"model": dict(net.state_dict())})
    if ckpt is None:
        return None
    epoch = int(ckpt.tensors.get("sched", {}).get("epoch", torch.tensor(ckpt.round)))
    return Resumed(epochs_done=epoch, model=ckpt.tensors["model"], opt=ckpt.tensors.get("opt", {}),
                   history=list(ckpt.meta.get("history", [])), train_s=float(ckpt.meta.get("train_s", 0.0)),
                   path=ckpt.path)


def checkpoint_meta(cfg: ExperimentConfig, genotype: Genotype, signature: str, history: list[dict[str, float]],
                    train_s: float) -> dict[str, Any]:
    """The JSON side of a checkpoint.

    Example:
        >>> from base_dist.config import load_config
        >>> from base_dist.space.genotypes import get_genotype
        >>> sorted(checkpoint_meta(load_config(None), get_genotype("darts_v2"), "s", [], 0.0))
        ['config', 'genotype', 'history', 'kind', 'signature', 'train_s']
    """
    return {"kind": "train", "signature": signature, "config": config_to_dict(cfg),
            "genotype": genotype_to_dict(genotype), "history": history, "train_s": float(train_s)}


@dataclass
class TrainedNetwork:
    """A trained full network (eval mode, on the CPU) with what made it: config, genotype, input and output sizes."""

    net: Network
    cfg: ExperimentConfig
    genotype: Genotype
    in_channels: int
    num_classes: int
    epochs_done: int
    path: Path

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(channels, size, size)`` of one input image."""
        return self.in_channels, self.cfg.train.image_size, self.cfg.train.image_size


def _io_sizes(model: dict[str, Tensor], macro: str) -> tuple[int, int]:
    """``(in_channels, num_classes)`` read off the first stem convolution and the classifier."""
    stem = model.get("stem.0.weight" if macro == "cifar" else "stem.stem0.0.weight")
    head = model.get("classifier.weight")
    if stem is None or head is None or stem.dim() != 4 or head.dim() != 2:
        raise UserError("not a full-network checkpoint (no stem convolution or classifier)")
    return int(stem.shape[1]), int(head.shape[0])


def load_run_checkpoint(run_dir: str | Path, kind: str, command: str) -> Checkpoint:
    """The newest good checkpoint of a ``base-dist COMMAND`` run whose checkpoints are of ``kind``.

    One-line :class:`UserError` when ``run_dir`` has no checkpoints or they are of another kind.

    Example:
        >>> load_run_checkpoint("/nonexistent", "train", "train")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent: not a train run directory (no checkpoints/; run base-dist train first)
    """
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT_SUBDIR).is_dir():
        raise UserError(f"{run_dir}: not a {command} run directory (no {CHECKPOINT_SUBDIR}/; run base-dist {command} first)")
    ckpt = load_checkpoint(run_dir)
    if ckpt.meta.get("kind") != kind or "model" not in ckpt.tensors:
        raise UserError(f"{ckpt.path}: a {ckpt.meta.get('kind', 'unknown')} checkpoint, not a {command} one")
    return ckpt


def load_trained_network(run_dir: str | Path) -> TrainedNetwork:
    """The network of a ``train`` run (its newest good checkpoint), rebuilt with :func:`build_network`.

    Raises :class:`UserError` with one line when ``run_dir`` holds no train checkpoint or the
    checkpoint does not match the network its own config and genotype describe.

    Example:
        >>> # t = load_trained_network("runs/train-x"); t.net(torch.zeros(1, *t.input_shape)).shape
    """
    ckpt = load_run_checkpoint(run_dir, "train", "train")
    cfg = config_from_dict(dict(ckpt.meta.get("config") or {}), origin=f"config of {ckpt.path}")
    genotype = genotype_from_dict(ckpt.meta.get("genotype"), origin=f"genotype of {ckpt.path}")
    try:
        in_channels, num_classes = _io_sizes(ckpt.tensors["model"], cfg.train.macro)
    except UserError as err:
        raise UserError(f"{ckpt.path}: {err}") from err
    net = build_network(cfg, genotype, in_channels, num_classes)
    if network_signature(cfg, genotype, net.state_dict(), in_channels, num_classes) != ckpt.signature:
        raise UserError(f"{ckpt.path}: the weights do not match the network of its config and genotype")
    net.load_state_dict(ckpt.tensors["model"])
    epochs = int(ckpt.tensors.get("sched", {}).get("epoch", torch.tensor(ckpt.round)))
    return TrainedNetwork(net=net.eval(), cfg=cfg, genotype=genotype, in_channels=in_channels,
                          num_classes=num_classes, epochs_done=epochs, path=ckpt.path)
