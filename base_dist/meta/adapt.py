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
from base_dist.meta.engine import configure_process
from base_dist.meta.heads import extend_space, transfer_state
from base_dist.meta.inner import arch_entropy, evaluate, make_optimizers, optimizer_step
from base_dist.meta.loop import GENOTYPE_FILE, init_seed, save_meta_checkpoint, space_signature
from base_dist.meta.schedules import tau_at
from base_dist.space.genotypes import Genotype, genotype_to_dict
from base_dist.space.metanet import create_metanet
from base_dist.space.state import get_state, load_state
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore, load_checkpoint, space_of
from base_dist.track.mlflow_logger import NullTracker, start_tracker
from base_dist.track.progress import format_duration
from base_dist.utils import make_generator, resolve_device

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


def load_meta_state(checkpoint: str | Path) -> tuple[OrderedDict[str, Tensor], SpaceConfig, int, Path]:
    """``(W, space config, rounds done, file)`` of a meta-train checkpoint file or run directory.

    Raises :class:`base_dist.track.checkpoint.CheckpointError` (a ``UserError``) with one line.

    Example:
        >>> # W, space, rounds, path = load_meta_state("runs/meta-train-20250101-120000")
    """
    ckpt = load_checkpoint(checkpoint)
    space = space_of(ckpt)
    W = OrderedDict((k, v.to(torch.float32)) for k, v in ckpt.tensors["W"].items())
    return W, space, ckpt.round, ckpt.path


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


def adapt(cfg: ExperimentConfig, checkpoint: str | Path | None = None, *, run_dir: str | Path | None = None,
          progress: bool = True, tracker: NullTracker | None = None) -> AdaptResult:
    """Adapt the meta-network of ``checkpoint`` (None: fresh seeded W) to ``cfg.adapt.dataset``.

    The search space comes from the checkpoint (its W must fit it); ``cfg`` supplies the adaptation
    settings (``cfg.adapt``, ``meta.inner_optimizer``/``inner_momentum``/``grad_clip``, seed, device,
    data root). The Gumbel temperature is ``adapt.tau``, else the schedule's value at the checkpoint's
    round (so a from-scratch run uses ``tau_start``: compare the two at one pinned ``adapt.tau``).

    Example:
        >>> from base_dist.config import load_config
        >>> cfg = load_config("jobs/configs/tiny.yaml")
        >>> res = adapt(cfg, None, progress=False)  # doctest: +SKIP
        >>> len(res.history) == cfg.adapt.epochs + 1  # doctest: +SKIP
        True
    """
    t_start = time.perf_counter()
    configure_process(cfg)
    a = cfg.adapt
    device = resolve_device(cfg.device)
    if checkpoint is not None:
        W_old, space_old, rounds, ckpt_path = load_meta_state(checkpoint)
    else:
        space_old, rounds, ckpt_path = cfg.space, 0, None
        W_old = get_state(create_metanet(space_old, seed=init_seed(cfg)))
    x, y, class_names = load_dataset(a.dataset, "train", a.image_size, root=cfg.data.root)
    train_idx, val_idx = _split(int(y.shape[0]), a.val_fraction, cfg.seed, a.max_train_images,
                                a.max_val_images)
    x_tr, y_tr = x[train_idx].to(device), y[train_idx].to(device)
    x_va, y_va = x[val_idx].to(device), y[val_idx].to(device)
    n_classes = len(class_names)

    space, notes = extend_space(space_old, a.image_size, int(x.shape[1]), n_classes)
    space = with_adapt_modes(space, a)
    model = create_metanet(space, seed=init_seed(cfg)).to(device)
    W0 = transfer_state(W_old, get_state(model), space_old, space)
    load_state(model, W0)
    model.anchor_prior()  # the prior's Gaussian is the adaptation's prior (bayes.kl_prior: meta)
    for note in notes:
        log.info("adapt: %s", note)
    tau = a.tau if a.tau is not None else tau_at(space.arch, rounds)
    run_cfg = cfg.model_copy(deep=True)
    run_cfg.space = space
    if run_dir is not None:
        run_dir = Path(run_dir).absolute()
        run_dir.mkdir(parents=True, exist_ok=True)
    own_tracker = tracker is None and run_dir is not None
    if tracker is None:
        tracker = (start_tracker(run_cfg, run_dir, run_name=f"{cfg.name}-adapt", tags={"command": "adapt"})
                   if run_dir is not None else NullTracker())
    tracker.log_params({"adapt.dataset": a.dataset, "adapt.epochs": a.epochs, "adapt.freeze_arch": a.freeze_arch,
                        "checkpoint": str(ckpt_path) if ckpt_path else "none (from scratch)"})

    groups = make_optimizers(model, cfg.meta.inner_optimizer, a.lr_weights, a.lr_arch, cfg.meta.inner_momentum,
                             freeze_arch=a.freeze_arch)
    val_loss, val_acc = evaluate(model, x_va, y_va, n_classes, tau)
    history = [{"epoch": 0.0, "val_loss": val_loss, "val_acc": val_acc, "arch_entropy": arch_entropy(model),
                "seconds": 0.0}]
    if progress:
        log.info("adapt %s: %d train / %d held-out images at %dpx, %d classes | epoch 0/%d | val acc %.1f%%",
                 a.dataset, len(train_idx), len(val_idx), a.image_size, n_classes, a.epochs, 100 * val_acc)
    status = "FAILED"
    try:
        t_epochs = time.perf_counter()
        n = int(y_tr.shape[0])
        for epoch in range(1, a.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(n, generator=make_generator(cfg.seed, "adapt", "epoch", epoch)).to(device)
            tot_loss = tot_correct = 0.0
            for step, start in enumerate(range(0, n, a.batch_size)):
                idx = perm[start:start + a.batch_size]
                noise = make_generator(cfg.seed, "adapt", epoch, step, device=device)
                _, ce, logits = optimizer_step(model, groups, x_tr[idx], y_tr[idx], n_classes, noise, tau,
                                               cfg.meta.grad_clip)
                tot_loss += float(ce.detach()) * int(idx.numel())
                tot_correct += float((logits.detach().argmax(-1) == y_tr[idx]).sum())
            val_loss, val_acc = evaluate(model, x_va, y_va, n_classes, tau)
            row = {"epoch": float(epoch), "train_loss": tot_loss / n, "train_acc": tot_correct / n,
                   "val_loss": val_loss, "val_acc": val_acc, "arch_entropy": arch_entropy(model),
                   "seconds": time.perf_counter() - t0}
            history.append(row)
            tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
            if progress:
                eta = (time.perf_counter() - t_epochs) / epoch * (a.epochs - epoch)
                log.info("epoch %d/%d | train acc %.1f%% | val acc %.1f%% | arch entropy %.3f | %s | ETA %s",
                         epoch, a.epochs, 100 * row["train_acc"], 100 * val_acc, row["arch_entropy"],
                         format_duration(row["seconds"]), format_duration(eta))
        status = "FINISHED"
    finally:
        if own_tracker:
            tracker.end(status)

    W = OrderedDict((k, v.to("cpu", torch.float32)) for k, v in get_state(model).items())
    normal, reduce = model.arch_distributions()
    arch = {"normal": normal.cpu().tolist(), "reduce": reduce.cpu().tolist()}
    genotype = model.genotype()
    info = {"dataset": a.dataset, "image_size": a.image_size, "classes": n_classes, "train_images": len(train_idx),
            "val_images": len(val_idx), "epochs": a.epochs, "freeze_arch": a.freeze_arch, "tau": tau,
            "checkpoint": str(ckpt_path) if ckpt_path else None, "meta_rounds": rounds,
            "seconds": time.perf_counter() - t_start, "ops": list(space.ops)}
    result = AdaptResult(W=W, arch=arch, genotype=genotype, history=history, final_val_acc=history[-1]["val_acc"],
                         notes=notes, info=info, run_dir=run_dir)
    if run_dir is not None:
        write_adapt_outputs(result, run_cfg, run_dir)
    return result


def write_adapt_outputs(result: AdaptResult, cfg: ExperimentConfig, run_dir: Path) -> None:
    """Write ``genotype.json``, ``metrics.json`` and the adapted checkpoint into ``run_dir``.

    Example:
        >>> # write_adapt_outputs(res, cfg, Path("runs/adapt-x"))
    """
    (run_dir / GENOTYPE_FILE).write_text(json.dumps(genotype_to_dict(result.genotype), indent=1) + "\n")
    metrics = {"final_val_acc": result.final_val_acc, "history": result.history, "info": result.info,
               "notes": result.notes, "arch": result.arch}
    tmp = run_dir / (METRICS_FILE + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=1) + "\n")
    tmp.replace(run_dir / METRICS_FILE)
    store = CheckpointStore(run_dir / CHECKPOINT_SUBDIR, keep=1)
    save_meta_checkpoint(store, cfg, int(result.info.get("meta_rounds", 0)), result.W, {},
                         space_signature(cfg, result.W), kind="adapt")
