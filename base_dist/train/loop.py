"""The training loop shared by the in-process path and every Ray Train worker: epochs, eval, checkpoints.

:func:`fit` runs epochs ``start..end`` of the DARTS recipe (:mod:`base_dist.train.recipe`) on one
worker. A :class:`Peers` object says how the worker talks to the others: in process it is alone;
under Ray Train it wraps the model with ``prepare_model`` (DDP) and sums metrics with
``torch.distributed.all_reduce``. Randomness is keyed by ``(seed, epoch, rank)`` — batch order,
augmentation, drop-path masks — so resuming at an epoch boundary continues bit for bit on CPU.

Only rank 0 writes checkpoints (one writer per directory, as :mod:`base_dist.track.checkpoint` wants);
every rank reads the same checkpoint on resume, so the run directory must be on a filesystem that
all workers see (the local disk on one machine, NFS or similar on a cluster).

Example:
    >>> from base_dist.config import load_config
    >>> from base_dist.space.genotypes import get_genotype
    >>> cfg = load_config(None, ["train.channels=4", "train.layers=3", "train.epochs=1", "train.dataset=digits",
    ...                          "train.image_size=16", "train.max_train_images=64", "device=cpu"])
    >>> res = fit(cfg, get_genotype("darts_v2"), load_train_data(cfg), "/tmp/base-dist-doctest-fit")  # doctest: +SKIP
    >>> res.epochs_done  # doctest: +SKIP
    1
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from base_dist.config import ExperimentConfig
from base_dist.data import Augment, create_augment
from base_dist.errors import UserError
from base_dist.space.genotypes import Genotype
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore
from base_dist.train.checkpoints import (
    KEEP_CHECKPOINTS,
    WithAux,
    build_network,
    checkpoint_meta,
    load_resume,
    network_signature,
    save_train_checkpoint,
    write_train_inputs,
)
from base_dist.train.inputs import TrainData, epoch_batches, load_train_data
from base_dist.train.recipe import (
    clip_gradients,
    drop_path_at,
    load_optimizer_tensors,
    lr_at,
    make_optimizer,
    optimizer_tensors,
    set_lr,
    training_loss,
)
from base_dist.utils import make_generator, resolve_device

__all__ = ["FitResult", "Peers", "evaluate_network", "fit", "load_train_data"]

log = logging.getLogger(__name__)
EVAL_BATCH = 256


def _identity(module: nn.Module) -> nn.Module:
    return module


@dataclass
class Peers:
    """How one worker of the loop talks to the others (defaults: a single in-process worker).

    ``all_reduce`` sums a tensor in place across workers; ``wrap`` prepares the model (DDP).

    Example:
        >>> Peers().writer, Peers(rank=1, world=2).writer
        (True, False)
    """

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    wrap: Callable[[nn.Module], nn.Module] = _identity
    all_reduce: Callable[[Tensor], None] | None = None

    @property
    def writer(self) -> bool:
        """Rank 0 alone writes checkpoints."""
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """Sum ``values`` over all workers (the values themselves when alone).

        Example:
            >>> Peers().sum([1.0, 2.0])
            [1.0, 2.0]
        """
        if self.all_reduce is None or self.world == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        self.all_reduce(t)
        return [float(v) for v in t.cpu()]


@dataclass
class FitResult:
    """What :func:`fit` returns. ``history`` spans the whole run (resumed epochs included);
    ``batch_losses`` holds this call's per-step training losses (this worker's)."""

    history: list[dict[str, float]]
    epochs_done: int
    test_acc: float
    test_loss: float
    train_s: float
    stopped_by_budget: bool
    batch_losses: list[float]
    net: nn.Module
    checkpoint: Path | None = None
    resumed_from: int = 0


@torch.no_grad()
def evaluate_network(net: nn.Module, x: Tensor, y: Tensor, peers: Peers | None = None,
             batch_size: int = EVAL_BATCH) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``net`` in eval mode; each worker scores its shard ``rank::world``.

    Example:
        >>> evaluate_network(nn.Flatten(), torch.eye(3).view(3, 3), torch.arange(3))[0]
        1.0
    """
    peers = peers or Peers(device=next(net.parameters(), torch.zeros(0)).device)
    was_training = net.training
    net.eval()
    idx = torch.arange(len(y))[peers.rank::peers.world]
    loss_sum = correct = 0.0
    try:
        for start in range(0, len(idx), batch_size):
            b = idx[start:start + batch_size]
            xb, yb = x[b].to(peers.device), y[b].to(peers.device)
            logits = net(xb)
            loss_sum += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
            correct += float((logits.argmax(1) == yb).sum())
    finally:
        net.train(was_training)
    loss_sum, correct, n = peers.sum([loss_sum, correct, float(len(idx))])
    return correct / max(n, 1.0), loss_sum / max(n, 1.0)


def _over_budget(cfg: ExperimentConfig, started: float, peers: Peers) -> bool:
    """Whether the wall-clock budget is spent; rank 0's clock decides for everyone (no disagreement, no hang)."""
    if cfg.train.max_minutes is None:
        return False
    mine = float(time.perf_counter() - started >= 60.0 * cfg.train.max_minutes) if peers.writer else 0.0
    return peers.sum([mine])[0] > 0


def _resume_into(net: nn.Module, run_dir: Path, signature: str) -> tuple[int, list[dict[str, float]], float, dict]:
    """Load the newest good checkpoint of ``run_dir`` into ``net``: ``(epochs done, history, train s, optimizer tensors)``."""
    resumed = load_resume(run_dir, signature, net)
    if resumed is None:
        raise UserError(f"cannot resume {run_dir}: no checkpoint in {run_dir / CHECKPOINT_SUBDIR}; start a new run",
                        option="resume")
    net.load_state_dict(resumed.model)
    start = resumed.epochs_done
    return start, [row for row in resumed.history if row.get("epoch", 0) <= start], resumed.train_s, resumed.opt


def _train_epoch(cfg: ExperimentConfig, net: nn.Module, model: nn.Module, optimizer: torch.optim.Optimizer,
                 augment: Augment, data: TrainData, epoch: int, peers: Peers, batch_losses: list[float]) -> list[float]:
    """One epoch over this worker's shard; appends each step's loss to ``batch_losses`` and returns
    ``[loss sum, correct, images]`` summed over all workers."""
    t = cfg.train
    gen = make_generator(cfg.seed, "augment", epoch, peers.rank)
    model.train()
    loss_sum = correct = count = 0.0
    for idx in epoch_batches(len(data.y_train), t.batch_size, cfg.seed, epoch, peers.rank, peers.world):
        x, y = data.x_train[idx].to(peers.device), data.y_train[idx].to(peers.device)
        if augment.enabled:
            x = augment(x, gen)
        logits, aux = model(x)
        loss = training_loss(logits, aux, y, t)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(net, t)
        optimizer.step()
        value = loss.item()
        batch_losses.append(value)
        loss_sum += value * len(y)
        correct += float((logits.detach().argmax(1) == y).sum())
        count += len(y)
    return peers.sum([loss_sum, correct, count])


def fit(cfg: ExperimentConfig, genotype: Genotype, data: TrainData, run_dir: str | Path, *,
        peers: Peers | None = None, resume: bool = False, stop_after: int | None = None,
        on_epoch: Callable[[dict[str, float]], None] | None = None) -> FitResult:
    """Train ``genotype``'s full network on ``data`` for epochs up to ``cfg.train.epochs`` (or ``stop_after``).

    ``resume`` continues from the newest good checkpoint in ``run_dir/checkpoints``. A checkpoint is
    written after every epoch; ``cfg.train.max_minutes`` stops after the epoch in progress once the
    budget (counted from the start of this call's first epoch) is spent. ``on_epoch`` receives each
    epoch's row on every worker. The global torch RNG is reseeded every epoch (drop-path draws from it)
    and restored on return (CPU).

    Example:
        >>> # res = fit(cfg, get_genotype("darts_v2"), load_train_data(cfg), "runs/x")
        >>> # res.test_acc, res.history[-1]["train_loss"]
    """
    peers = peers or Peers(device=resolve_device(cfg.device))
    t = cfg.train
    run_dir = Path(run_dir).absolute()
    if t.batch_size < 2 * peers.world:
        raise UserError(f"train.batch_size={t.batch_size} is too small for {peers.world} workers "
                        "(each needs at least 2 images per step for BatchNorm)")
    net = build_network(cfg, genotype, data.in_channels, data.num_classes)
    signature = network_signature(cfg, genotype, net.state_dict(), data.in_channels, data.num_classes)
    start, history, train_s, opt_saved = _resume_into(net, run_dir, signature) if resume else (0, [], 0.0, {})
    if peers.writer:  # only now: a refused resume must leave config.yaml and genotype.json as they were
        write_train_inputs(cfg, genotype, run_dir)
    net.to(peers.device)
    optimizer = make_optimizer(net, t)
    if opt_saved:
        load_optimizer_tensors(net, optimizer, opt_saved)
    model = peers.wrap(WithAux(net))
    augment = create_augment(cfg.data.augment)
    store = CheckpointStore(run_dir / CHECKPOINT_SUBDIR, keep=KEEP_CHECKPOINTS) if peers.writer else None
    end = t.epochs if stop_after is None else min(t.epochs, stop_after)
    batch_losses: list[float] = []
    last_ckpt: Path | None = None
    stopped = False
    started = time.perf_counter()
    epoch = start
    # Drop-path and augmentation draw from their own generators; the fork only keeps a library op
    # that uses the global RNG from changing the caller's state.
    with torch.random.fork_rng(devices=[]):
        for epoch in range(start, end):
            t0 = time.perf_counter()
            lr = lr_at(t, epoch)
            set_lr(optimizer, lr)
            net.drop_path_prob = drop_path_at(t, epoch)
            net.drop_gen = make_generator(cfg.seed, "drop-path", epoch, peers.rank, device=peers.device)
            loss_sum, correct, count = _train_epoch(cfg, net, model, optimizer, augment, data, epoch, peers,
                                                     batch_losses)
            seconds = time.perf_counter() - t0
            train_s += seconds
            row = {"epoch": float(epoch + 1), "lr": lr, "drop_path": net.drop_path_prob,
                   "train_loss": loss_sum / max(count, 1.0), "train_acc": correct / max(count, 1.0),
                   "epoch_s": seconds}
            if not math.isfinite(row["train_loss"]):
                raise UserError(f"training diverged in epoch {epoch + 1} (loss {row['train_loss']}); "
                                f"lower train.lr (now {t.lr}) or train.grad_clip")
            history.append(row)
            if store is not None:
                opt_state = optimizer_tensors(net, optimizer)
                meta = checkpoint_meta(cfg, genotype, signature, history, train_s)
                last_ckpt = save_train_checkpoint(store, epoch + 1, net, opt_state, meta)
            if on_epoch is not None:
                on_epoch(row)
            if epoch + 1 < end and _over_budget(cfg, started, peers):
                stopped = True
                log.info("train.max_minutes=%s spent: stopping after epoch %d of %d (resume with --resume)",
                         t.max_minutes, epoch + 1, t.epochs)
                break
    epochs_done = int(history[-1]["epoch"]) if history else start
    test_acc, test_loss = evaluate_network(net, data.x_test, data.y_test, peers)
    if last_ckpt is None and store is not None:
        found = store.list()
        last_ckpt = found[-1] if found else None
    return FitResult(history=history, epochs_done=epochs_done, test_acc=test_acc, test_loss=test_loss,
                     train_s=train_s, stopped_by_budget=stopped, batch_losses=batch_losses, net=net,
                     checkpoint=last_ckpt, resumed_from=start)
