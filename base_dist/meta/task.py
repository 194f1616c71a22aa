"""One task of Algorithm 1 (lines 5-9), pure in its inputs: the contract between the round and its executors.

A task's result depends only on ``(W, cfg, round_idx, task_index, attempt)`` — the task is drawn
from :func:`task_seed` — never on the global RNG or on which process runs it. Executors (in this
process, or the Ray workers of :mod:`base_dist.distributed`) call :func:`run_task`; how the task
turns W into a delta is the config's :mod:`strategy <base_dist.meta.strategy>`.

Threads: torch's intra-op thread count is process state. Call :func:`configure_process` once per
process (the trainer, ``adapt`` and each Ray worker do) so that it equals ``cfg.dist.torch_threads``;
bitwise reproducibility across processes holds for equal thread counts on the same hardware.

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config("jobs/configs/tiny.yaml")
    >>> task_seed(cfg, 0, 1) == task_seed(cfg, 0, 1) != task_seed(cfg, 1, 0)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from base_dist.config import ExperimentConfig
from base_dist.data import Task, TaskDistribution, TaskSpec
from base_dist.meta.inner import arch_entropy, evaluate_at_mean
from base_dist.meta.schedules import tau_at
from base_dist.meta.strategy import strategy_for
from base_dist.space.meta_state import load_state
from base_dist.utils import derive_seed


@dataclass
class TaskResult:
    """What one task sends back: its ``index`` in the round, the flat fp32 CPU ``delta = W_task - W``
    (in :class:`base_dist.space.meta_state.Layout` order of W), and its metrics."""

    index: int
    delta: Tensor
    metrics: dict[str, float] = field(default_factory=dict)


def configure_process(cfg: ExperimentConfig) -> None:
    """Set process-level torch state for meta-training: ``torch.set_num_threads(cfg.dist.torch_threads)``.

    Example:
        >>> from base_dist.config import load_config
        >>> configure_process(load_config(None)); torch.get_num_threads()
        1
    """
    if torch.get_num_threads() != cfg.dist.torch_threads:
        torch.set_num_threads(cfg.dist.torch_threads)


def task_seed(cfg: ExperimentConfig, round_idx: int, task_index: int, attempt: int = 0) -> int:
    """The seed of task ``task_index`` of round ``round_idx``: it picks the task and seeds its steps.

    ``attempt > 0`` gives the seed of a replacement task (``dist.on_nonfinite: resample``).

    Example:
        >>> from base_dist.config import load_config
        >>> cfg = load_config(None)
        >>> task_seed(cfg, 0, 0) != task_seed(cfg, 0, 0, attempt=1)
        True
    """
    if attempt:
        return derive_seed(cfg.seed, "task", round_idx, task_index, "attempt", attempt)
    return derive_seed(cfg.seed, "task", round_idx, task_index)


def task_n_way(task: Task) -> int:
    """Arity of a task's classifier: ``len(task.classes)``."""
    return len(task.classes)


def _as_task(task: Task | TaskSpec, cfg: ExperimentConfig, tasks: TaskDistribution | None) -> Task:
    """A built Task from a Task or a TaskSpec (built with ``tasks``, or a meta-train distribution)."""
    if isinstance(task, Task):
        return task
    return (tasks or TaskDistribution(cfg.data, split="meta-train")).build(task)


def _evaluate(model: nn.Module, task: Task, n_way: int, tau: float, device: torch.device, suffix: str = "") -> dict[str, float]:
    loss, acc = evaluate_at_mean(model, task.x_val.to(device), task.y_val.to(device), n_way, tau)
    return {f"val_loss{suffix}": loss, f"val_acc{suffix}": acc}


def run_task(model: nn.Module, W: Mapping[str, Tensor], task: Task | TaskSpec, cfg: ExperimentConfig,
             round_idx: int, task_index: int, device: torch.device | str = "cpu", *,
             tasks: TaskDistribution | None = None, attempt: int = 0) -> TaskResult:
    """Algorithm 1, lines 5-9 for one task: load W into ``model``, adapt, return the flat delta.

    ``task`` is a ``Task`` or a ``TaskSpec`` (built with ``tasks``, else a meta-train distribution);
    ``attempt`` must be the one its spec was drawn with, as it seeds the steps. ``model`` is scratch
    space (its parameters are overwritten). With ``inner_steps == 0`` the delta is exactly zero.
    Metrics: ``train_loss``, ``train_ce``, ``train_acc`` (mean over steps, sampled network),
    ``val_loss``, ``val_acc`` (the task's val part, posterior mean, after adaptation),
    ``arch_entropy``, ``kl``, ``tau``; with ``meta.eval_before_inner`` also
    ``val_loss_before``/``val_acc_before`` (at W) and ``adapt_gain`` (``val_acc - val_acc_before``).

    Example:
        >>> from base_dist.config import load_config
        >>> from base_dist.meta.prior import seeded_metanet
        >>> from base_dist.space.meta_state import get_state
        >>> cfg = load_config("jobs/configs/tiny.yaml")
        >>> model = seeded_metanet(cfg)
        >>> res = run_task(model, get_state(model), TaskDistribution(cfg.data).spec(task_seed(cfg, 0, 0)), cfg, 0, 0)
        >>> res.delta.ndim, 0.0 <= res.metrics["val_acc"] <= 1.0
        (1, True)
    """
    device = torch.device(device)
    if cfg.meta.pooled_weight:  # its labels index this distribution's pooled classes
        tasks = tasks or TaskDistribution(cfg.data, split="meta-train")
    task = _as_task(task, cfg, tasks)
    seed = task_seed(cfg, round_idx, task_index, attempt)
    tau = tau_at(cfg.space.arch, round_idx)
    n_way = task_n_way(task)
    model.to(device)
    load_state(model, W)
    anchor = getattr(model, "anchor_prior", None)
    if anchor is not None:
        anchor()  # W's Gaussian is this task's prior (bayes.kl_prior: meta)
    before = _evaluate(model, task, n_way, tau, device, "_before") if cfg.meta.eval_before_inner else {}
    y_pooled = (tasks.pooled_labels(task.source, task.classes, task.y_train).to(device)
                if tasks is not None and cfg.meta.pooled_weight else None)
    delta, metrics = strategy_for(cfg).adapt(model, W, task.x_train.to(device), task.y_train.to(device),
                                             task.x_val.to(device), task.y_val.to(device), n_way, cfg,
                                             seed=seed, tau=tau, device=device, y_pooled=y_pooled)
    metrics.update(_evaluate(model, task, n_way, tau, device))
    with torch.no_grad():
        kl = float(model.kl())
    metrics.update(arch_entropy=arch_entropy(model), kl=kl, tau=tau, image_size=float(task.image_size),
                   n_way=float(n_way), **before)
    if before:
        metrics["adapt_gain"] = metrics["val_acc"] - before["val_acc_before"]
    return TaskResult(index=task_index, delta=delta, metrics=metrics)


def size_pooled_head(cfg: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` with ``space.pooled_classes`` set to the meta-train class count of ``data.sources`` when
    ``meta.pooled_weight`` asks for the pooled classifier and leaves its size to the data (0); else ``cfg``.

    Where meta-training starts (the trainer, :func:`check_meta_config`), so a run's config.yaml and
    checkpoints name the size the network was built with.

    Example:
        >>> from base_dist.config import load_config
        >>> cfg = load_config("jobs/configs/tiny.yaml", ["meta.pooled_weight=0.3"])
        >>> cfg.space.pooled_classes, size_pooled_head(cfg).space.pooled_classes
        (0, 7)
    """
    if not cfg.meta.pooled_weight or cfg.space.pooled_classes:
        return cfg
    classes = TaskDistribution(cfg.data, split="meta-train").pooled_classes
    return cfg.model_copy(deep=True, update={"space": cfg.space.model_copy(deep=True, update={"pooled_classes": classes})})


def check_meta_config(cfg: ExperimentConfig) -> None:
    """Raise :class:`base_dist.errors.UserError` for settings the configured strategy cannot run.

    Example:
        >>> from base_dist.config import load_config
        >>> check_meta_config(load_config(None, ["meta.second_order=true", "meta.inner_optimizer=adam"]))
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: meta.second_order=true needs meta.inner_optimizer=sgd (Adam is not unrolled)
    """
    strategy_for(cfg).check(size_pooled_head(cfg))

