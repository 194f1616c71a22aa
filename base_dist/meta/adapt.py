"""Quick adaptation of the meta-network to a whole dataset (the paper's "adapting the meta-network").

From a meta-training checkpoint (or from the seeded initial W: the "from scratch" baseline), train
on the target dataset's ``train`` split minus a held-out part (``adapt.val_fraction``, seeded),
``adapt.epochs`` passes over all of it, co-optimising weights and architecture logits
(``adapt.freeze_arch`` freezes phi, the paper's ablation). Each step uses the eq.-11 objective with
fresh Gumbel/weight noise from ``make_generator(seed, "adapt", epoch, step)``; the optimizer kind
and momentum are the inner loop's (``meta.inner_optimizer``, ``meta.inner_momentum``: the
meta-network was learned to be adapted by that optimizer) with ``adapt.lr_weights`` /
``adapt.lr_arch``. After every epoch the held-out accuracy is measured at the posterior mean.

Threads: like ``meta_train``, ``adapt`` sets ``torch.set_num_threads(cfg.dist.torch_threads)``.

Missing heads/classifiers (a new image size or class count) are created by the rules of
:mod:`base_dist.meta.heads`.

Outputs in ``run_dir`` (when given): ``genotype.json``, ``metrics.json`` (history, final accuracy,
architecture distribution, notes), ``checkpoints/ckpt-*.safetensors`` (the adapted posterior).
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from base_dist.config import AdaptConfig, ExperimentConfig, SpaceConfig
from base_dist.data import load_dataset
from base_dist.meta.checkpoints import save_meta_checkpoint
from base_dist.meta.inner import arch_entropy, evaluate_at_mean, make_optimizers, optimizer_step
from base_dist.meta.prior import FittedNetwork, config_with_space, fit_to_target, load_posterior, seeded_metanet
from base_dist.meta.schedules import tau_at
from base_dist.meta.task import configure_process
from base_dist.meta.trainer import GENOTYPE_FILE
from base_dist.space.genotypes import Genotype, genotype_to_dict
from base_dist.space.meta_state import cpu_fp32, get_state
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore
from base_dist.track.mlflow_logger import NullTracker, start_tracker
from base_dist.track.progress import format_duration
from base_dist.utils import make_generator, resolve_device, write_text_atomic

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.json"


@dataclass
class AdaptResult:
    """The adapted posterior ``W``, ``arch`` = softmax(phi) per cell type, the genotype, per-epoch history.

    ``history[0]`` is epoch 0 (before any step); ``final_val_acc`` is the last epoch's held-out accuracy.
    """

    W: OrderedDict[str, Tensor]
    arch: dict[str, list[list[float]]]
    genotype: Genotype
    history: list[dict[str, float]]
    final_val_acc: float
    notes: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None


def with_adapt_modes(space: SpaceConfig, a: AdaptConfig) -> SpaceConfig:
    """``space`` with ``adapt.arch_mode`` / ``adapt.eval_mode`` applied where they are set.

    Neither changes W's layout, so a prior meta-trained in ``hard`` mode adapts in ``gumbel`` mode.

    Example:
        >>> with_adapt_modes(SpaceConfig(), AdaptConfig(arch_mode="hard")).arch.mode
        'hard'
    """
    out = space.model_copy(deep=True)
    if a.arch_mode is not None:
        out.arch.mode = a.arch_mode
    if a.eval_mode is not None:
        out.arch.eval_mode = a.eval_mode
    return out


def _split(n: int, val_fraction: float, seed: int, max_train: int | None,
           max_val: int | None = None) -> tuple[Tensor, Tensor]:
    perm = torch.randperm(n, generator=make_generator(seed, "adapt-split"))
    n_val = min(max(1, round(val_fraction * n)), n - 1)
    val, train = perm[:n_val], perm[n_val:]
    # Caps take prefixes of the seeded split, so a capped run sees a subset of the uncapped one's images.
    if max_train is not None:
        train = train[:max_train]
    if max_val is not None:
        val = val[:max_val]
    return train, val


@dataclass
class _Target:
    """The target dataset's seeded train / held-out parts, on the device."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    n_classes: int
    in_channels: int


def _load_target(cfg: ExperimentConfig, device: torch.device) -> _Target:
    a = cfg.adapt
    x, y, class_names = load_dataset(a.dataset, "train", a.image_size, root=cfg.data.root)
    train_idx, val_idx = _split(int(y.shape[0]), a.val_fraction, cfg.seed, a.max_train_images, a.max_val_images)
    return _Target(x[train_idx].to(device), y[train_idx].to(device), x[val_idx].to(device), y[val_idx].to(device),
                   len(class_names), int(x.shape[1]))


def _start(cfg: ExperimentConfig, checkpoint: str | Path | None, target: _Target,
           device: torch.device) -> tuple[FittedNetwork, int, Path | None]:
    """The network adaptation starts from: the prior's W (or the seeded W) fitted to the target."""
    if checkpoint is not None:
        post = load_posterior(checkpoint)
        W_old, space_old, rounds, path = post.W, post.space, post.rounds, post.path
    else:
        W_old, space_old, rounds, path = get_state(seeded_metanet(cfg)), cfg.space, 0, None
    fitted = fit_to_target(W_old, space_old, cfg, image_size=cfg.adapt.image_size, in_channels=target.in_channels,
                           n_classes=target.n_classes, device=device,
                           modes=lambda s: with_adapt_modes(s, cfg.adapt))
    fitted.model.anchor_prior()  # the prior's Gaussian is the adaptation's prior (bayes.kl_prior: meta)
    for note in fitted.notes:
        log.info("adapt: %s", note)
    return fitted, rounds, path


def _epoch(cfg: ExperimentConfig, model: torch.nn.Module, groups: list[Any], target: _Target, epoch: int,
           tau: float, device: torch.device) -> dict[str, float]:
    """One pass over the target's train part in seeded order; the epoch's metrics row."""
    a, t0, n = cfg.adapt, time.perf_counter(), int(target.y_train.shape[0])
    model.train()
    perm = torch.randperm(n, generator=make_generator(cfg.seed, "adapt", "epoch", epoch)).to(device)
    tot_loss = tot_correct = 0.0
    for step, start in enumerate(range(0, n, a.batch_size)):
        idx = perm[start:start + a.batch_size]
        noise = make_generator(cfg.seed, "adapt", epoch, step, device=device)
        _, ce, logits = optimizer_step(model, groups, target.x_train[idx], target.y_train[idx], target.n_classes,
                                       noise, tau, cfg.meta.grad_clip)
        tot_loss += float(ce.detach()) * int(idx.numel())
        tot_correct += float((logits.detach().argmax(-1) == target.y_train[idx]).sum())
    return {"epoch": float(epoch), "train_loss": tot_loss / n, "train_acc": tot_correct / n,
            **_held_out(model, target, tau), "seconds": time.perf_counter() - t0}


def _held_out(model: torch.nn.Module, target: _Target, tau: float) -> dict[str, float]:
    val_loss, val_acc = evaluate_at_mean(model, target.x_val, target.y_val, target.n_classes, tau)
    return {"val_loss": val_loss, "val_acc": val_acc, "arch_entropy": arch_entropy(model)}


def _log_epoch(row: dict[str, float], epochs: int, eta_s: float) -> None:
    log.info("epoch %d/%d | train acc %.1f%% | val acc %.1f%% | arch entropy %.3f | %s | ETA %s", int(row["epoch"]),
             epochs, 100 * row["train_acc"], 100 * row["val_acc"], row["arch_entropy"],
             format_duration(row["seconds"]), format_duration(eta_s))


def _open_tracker(cfg: ExperimentConfig, run_dir: Path | None, tracker: NullTracker | None) -> tuple[NullTracker, bool]:
    """The caller's tracker, else a run of its own when there is a run directory (and ``tracking.mlflow``)."""
    if tracker is not None:
        return tracker, False
    if run_dir is None:
        return NullTracker(), False
    return start_tracker(cfg, run_dir, run_name=f"{cfg.name}-adapt", tags={"command": "adapt"}), True


def adapt(cfg: ExperimentConfig, checkpoint: str | Path | None = None, *, run_dir: str | Path | None = None,
          progress: bool = True, tracker: NullTracker | None = None) -> AdaptResult:
    """Adapt the meta-network of ``checkpoint`` (None: fresh seeded W) to ``cfg.adapt.dataset``.

    The search space comes from the checkpoint (its W must fit it); ``cfg`` supplies the adaptation
    settings (``cfg.adapt``, ``meta.inner_optimizer``/``inner_momentum``/``grad_clip``, seed, device,
    data root). The Gumbel temperature is ``adapt.tau``, else the schedule's value at the checkpoint's
    round (so a from-scratch run uses ``tau_start``: compare the two at one pinned ``adapt.tau``).

    Example:
        >>> from base_dist.config import load_config
        >>> res = adapt(load_config("jobs/configs/tiny.yaml", ["adapt.max_train_images=64"]), None, progress=False)
        >>> len(res.history), 0.0 <= res.final_val_acc <= 1.0
        (2, True)
    """
    t_start = time.perf_counter()
    configure_process(cfg)
    a, device = cfg.adapt, resolve_device(cfg.device)
    target = _load_target(cfg, device)
    fitted, rounds, ckpt_path = _start(cfg, checkpoint, target, device)
    model, space = fitted.model, fitted.space
    tau = a.tau if a.tau is not None else tau_at(space.arch, rounds)
    run_cfg = config_with_space(cfg, space)
    if run_dir is not None:
        run_dir = Path(run_dir).absolute()
        run_dir.mkdir(parents=True, exist_ok=True)
    tracker, own_tracker = _open_tracker(run_cfg, run_dir, tracker)
    tracker.log_params({"adapt.dataset": a.dataset, "adapt.epochs": a.epochs, "adapt.freeze_arch": a.freeze_arch,
                        "checkpoint": str(ckpt_path) if ckpt_path else "none (from scratch)"})
    groups = make_optimizers(model, cfg.meta.inner_optimizer, a.lr_weights, a.lr_arch, cfg.meta.inner_momentum,
                             freeze_arch=a.freeze_arch)
    history = [{"epoch": 0.0, **_held_out(model, target, tau), "seconds": 0.0}]
    if progress:
        log.info("adapt %s: %d train / %d held-out images at %dpx, %d classes | epoch 0/%d | val acc %.1f%%",
                 a.dataset, len(target.y_train), len(target.y_val), a.image_size, target.n_classes, a.epochs,
                 100 * history[0]["val_acc"])
    status = "FAILED"
    try:
        t_epochs = time.perf_counter()
        for epoch in range(1, a.epochs + 1):
            row = _epoch(cfg, model, groups, target, epoch, tau, device)
            history.append(row)
            tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
            if progress:
                _log_epoch(row, a.epochs, (time.perf_counter() - t_epochs) / epoch * (a.epochs - epoch))
        status = "FINISHED"
    finally:
        if own_tracker:
            tracker.end(status)
    info = {"dataset": a.dataset, "image_size": a.image_size, "classes": target.n_classes,
            "train_images": len(target.y_train), "val_images": len(target.y_val), "epochs": a.epochs,
            "freeze_arch": a.freeze_arch, "tau": tau, "checkpoint": str(ckpt_path) if ckpt_path else None,
            "meta_rounds": rounds, "seconds": time.perf_counter() - t_start, "ops": list(space.ops)}
    result = _result(model, history, fitted.notes, info, run_dir)
    if run_dir is not None:
        write_adapt_outputs(result, run_cfg, run_dir)
    return result


def pin_tau(cfg: ExperimentConfig, checkpoint: str | Path) -> ExperimentConfig:
    """A copy of ``cfg`` whose ``adapt.tau`` is set: its own, else the prior's schedule value at its last round.

    Arms compared against each other must adapt at one temperature (a from-scratch run would
    otherwise take ``tau_start``).

    Example:
        >>> # pin_tau(cfg, Path("runs/mt")).adapt.tau  -> the meta-prior's temperature, e.g. 1.0
    """
    out = cfg.model_copy(deep=True)
    if out.adapt.tau is None:
        post = load_posterior(checkpoint)
        out.adapt.tau = tau_at(post.space.arch, post.rounds)
    return out


def adaptation_gain(cfg: ExperimentConfig, checkpoint: str | Path) -> dict[str, float]:
    """What a prior is worth on ``adapt.dataset``: held-out accuracy after ``adapt.epochs`` from it and from scratch.

    Both arms adapt with the same settings, seed and temperature (:func:`pin_tau`); returns
    ``adapt_acc`` (from ``checkpoint``), ``scratch_acc`` and ``adapt_gain`` (their difference).

    Example:
        >>> # adaptation_gain(cfg, "runs/mt")  -> {"adapt_acc": 0.62, "scratch_acc": 0.55, "adapt_gain": 0.07}
    """
    pinned = pin_tau(cfg, checkpoint)
    prior = adapt(pinned, checkpoint, progress=False).final_val_acc
    scratch = adapt(pinned, None, progress=False).final_val_acc
    return {"adapt_acc": prior, "scratch_acc": scratch, "adapt_gain": prior - scratch}


def _result(model: torch.nn.Module, history: list[dict[str, float]], notes: list[str], info: dict[str, Any],
            run_dir: Path | None) -> AdaptResult:
    normal, reduce = model.arch_distributions()
    return AdaptResult(W=cpu_fp32(get_state(model)), arch={"normal": normal.cpu().tolist(), "reduce": reduce.cpu().tolist()},
                       genotype=model.genotype(), history=history, final_val_acc=history[-1]["val_acc"], notes=notes,
                       info=info, run_dir=run_dir)


def write_adapt_outputs(result: AdaptResult, cfg: ExperimentConfig, run_dir: Path) -> None:
    """Write ``genotype.json``, ``metrics.json`` and the adapted checkpoint into ``run_dir``.

    Example:
        >>> # write_adapt_outputs(res, cfg, Path("runs/adapt-x"))
    """
    (run_dir / GENOTYPE_FILE).write_text(json.dumps(genotype_to_dict(result.genotype), indent=1) + "\n")
    metrics = {"final_val_acc": result.final_val_acc, "history": result.history, "info": result.info,
               "notes": result.notes, "arch": result.arch}
    write_text_atomic(run_dir / METRICS_FILE, json.dumps(metrics, indent=1) + "\n")
    store = CheckpointStore(run_dir / CHECKPOINT_SUBDIR, keep=1)
    save_meta_checkpoint(store, cfg, int(result.info.get("meta_rounds", 0)), result.W, {}, kind="adapt")
