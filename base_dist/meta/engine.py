"""The "meta -> dist" contract: one task's inner loop, task seeds/specs of a round, the outer update.

Everything here is pure in its inputs: a task's result depends only on ``(W, cfg, round_idx,
task_index)`` (the task itself is drawn from ``task_seed(cfg, round_idx, task_index)``), never on
the global RNG or on which process runs it. The Ray workers (issue 6) call :func:`run_task` and the
driver calls :func:`outer_update`; :func:`base_dist.meta.loop.meta_train` does both in one process.

Threads: torch's intra-op thread count is process state. Call :func:`configure_process` once per
process (``meta_train``/``adapt`` do; each Ray worker should at actor start) so that it equals
``cfg.dist.torch_threads``; :func:`run_task` does not change it. Bitwise reproducibility across
processes holds for equal thread counts on the same hardware.

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config("jobs/configs/tiny.yaml")
    >>> task_seed(cfg, 0, 1) == task_seed(cfg, 0, 1) != task_seed(cfg, 1, 0)
    True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from base_dist.config import ExperimentConfig
from base_dist.errors import UserError
from base_dist.meta import outer as _outer
from base_dist.meta.inner import arch_entropy, evaluate, inner_loop, make_optimizers
from base_dist.meta.schedules import outer_lr_at, tau_at
from base_dist.space.state import get_state, load_state
from base_dist.utils import derive_seed


@dataclass
class TaskResult:
    """What one task sends back: its ``index`` in the round, ``delta = W_task - W`` (CPU fp32), metrics."""

    index: int
    delta: OrderedDict[str, Tensor]
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


def task_spec(dist: Any, cfg: ExperimentConfig, round_idx: int, task_index: int, attempt: int = 0) -> Any:
    """The spec of one task of a round (``attempt > 0``: its replacement after a non-finite result).

    Example:
        >>> # spec = task_spec(TaskDistribution(cfg.data), cfg, round_idx=0, task_index=2)
    """
    return dist.spec(task_seed(cfg, round_idx, task_index, attempt))


def task_specs_for_round(dist: Any, cfg: ExperimentConfig, round_idx: int) -> list[Any]:
    """The C = ``cfg.meta.tasks_per_round`` task specs of a round, in task-index order.

    ``dist`` is a :class:`base_dist.data.TaskDistribution`; specs are small and picklable, so the
    driver sends specs and each worker builds its task.

    Example:
        >>> # specs = task_specs_for_round(TaskDistribution(cfg.data), cfg, round_idx=0)
    """
    return [task_spec(dist, cfg, round_idx, i) for i in range(cfg.meta.tasks_per_round)]


def _as_task(task: Any, cfg: ExperimentConfig, dist: Any | None) -> Any:
    """A built Task from a Task or a TaskSpec (built with ``dist``, or a meta-train distribution)."""
    if hasattr(task, "x_train"):
        return task
    if dist is None:
        from base_dist.data import TaskDistribution

        dist = TaskDistribution(cfg.data, split="meta-train")
    return dist.build(task)


def task_n_way(task: Any) -> int:
    """Arity of a task's classifier: ``len(task.classes)`` (falls back to ``max(label) + 1``)."""
    classes = getattr(task, "classes", None)
    return len(classes) if classes is not None else int(task.y_train.max()) + 1


def run_task(
    model: nn.Module, W: Mapping[str, Tensor], task: Any, cfg: ExperimentConfig, round_idx: int,
    task_index: int, device: torch.device | str = "cpu", *, dist: Any | None = None, attempt: int = 0,
) -> TaskResult:
    """Algorithm 1, lines 5-9 for one task: copy W into ``model``, run T inner steps, return the delta.

    ``task`` is a ``Task`` or a ``TaskSpec`` (built with ``dist`` or a meta-train distribution);
    ``attempt`` must be the one its spec was drawn with (:func:`task_spec`), as it seeds the steps.
    ``model`` is reused as scratch space (its parameters are overwritten). With
    ``cfg.meta.second_order`` the delta is ``-T * eta * meta_gradient`` (see
    :mod:`base_dist.meta.second_order`). With ``inner_steps == 0`` the delta is exactly zero.
    Metrics: ``train_loss``, ``train_ce``, ``train_acc`` (mean over steps, sampled network),
    ``val_loss``, ``val_acc`` (task's val part, posterior mean, after adaptation), ``arch_entropy``,
    ``kl``, ``tau``; with ``meta.eval_before_inner`` also ``val_loss_before``/``val_acc_before`` (at W)
    and ``adapt_gain`` (``val_acc - val_acc_before``).

    Example:
        >>> # res = run_task(model, W, task, cfg, round_idx=0, task_index=3, device="cpu")
        >>> # W, state = outer_update(W, [res, ...], cfg, 0, state)
    """
    device = torch.device(device)
    task = _as_task(task, cfg, dist)
    meta = cfg.meta
    seed = task_seed(cfg, round_idx, task_index, attempt)
    tau = tau_at(cfg.space.arch, round_idx)
    n_way = task_n_way(task)
    model.to(device)
    load_state(model, W)
    anchor = getattr(model, "anchor_prior", None)
    if anchor is not None:
        anchor()  # W's Gaussian is this task's prior (bayes.kl_prior: meta)
    x_tr, y_tr = task.x_train.to(device), task.y_train.to(device)
    x_va, y_va = task.x_val.to(device), task.y_val.to(device)
    before: dict[str, float] = {}
    if meta.eval_before_inner:  # the adaptation gain: held-out accuracy at W, then after the inner loop
        loss0, acc0 = evaluate(model, x_va, y_va, n_way, tau)
        before = {"val_loss_before": loss0, "val_acc_before": acc0}
    if meta.second_order:
        from base_dist.meta.second_order import second_order_delta

        delta, metrics, phi_T = second_order_delta(model, W, x_tr, y_tr, x_va, y_va, n_way, meta, seed=seed,
                                                   tau=tau, device=device)
        load_state(model, phi_T)  # evaluate the adapted posterior, as in the first-order path
    else:
        groups = make_optimizers(model, meta.inner_optimizer, meta.inner_lr_weights, meta.inner_lr_arch,
                                 meta.inner_momentum)
        metrics = inner_loop(model, x_tr, y_tr, n_way, steps=meta.inner_steps, batch_size=meta.batch_size,
                             seed=seed, tau=tau, groups=groups, grad_clip=meta.grad_clip, device=device)
        W_task = get_state(model)
        delta = OrderedDict((k, (W_task[k].to("cpu", torch.float32) - W[k].to("cpu", torch.float32)))
                            for k in W)
    val_loss, val_acc = evaluate(model, x_va, y_va, n_way, tau)
    with torch.no_grad():
        kl = float(model.kl())
    metrics.update(val_loss=val_loss, val_acc=val_acc, arch_entropy=arch_entropy(model), kl=kl, tau=tau,
                   image_size=float(getattr(task, "image_size", x_tr.shape[-1])), n_way=float(n_way), **before)
    if before:
        metrics["adapt_gain"] = val_acc - before["val_acc_before"]
    return TaskResult(index=task_index, delta=delta, metrics=metrics)


def is_finite_result(result: TaskResult) -> bool:
    """False when the delta holds a NaN/inf (the task diverged).

    Example:
        >>> is_finite_result(TaskResult(0, OrderedDict(w=torch.tensor([float("nan")]))))
        False
    """
    return all(bool(torch.isfinite(v).all()) for v in result.delta.values())


def outer_update(
    W: Mapping[str, Tensor], results: Sequence[TaskResult], cfg: ExperimentConfig, round_idx: int,
    outer_state: Mapping[str, Tensor] | None = None,
) -> tuple[OrderedDict[str, Tensor], dict[str, Tensor]]:
    """Algorithm 1, line 10: ``W + lambda_r * mean(delta)`` over results sorted by ``index``.

    With ``cfg.meta.outer_optimizer == "adam"`` an outer Adam step on ``g = -mean(delta)`` instead
    (see :mod:`base_dist.meta.outer`). Returns ``(new W, new outer_state)``; inputs are untouched.

    Example:
        >>> from types import SimpleNamespace as R
        >>> from base_dist.config import load_config
        >>> rs = [R(index=1, delta={"w": torch.ones(1)}), R(index=0, delta={"w": torch.zeros(1)})]
        >>> outer_update({"w": torch.zeros(1)}, rs, load_config(None), 0, {})[0]["w"]
        tensor([0.5000])
    """
    return _outer.outer_update(W, results, cfg.meta, round_idx, outer_state)


def init_outer_state(W: Mapping[str, Tensor], cfg: ExperimentConfig) -> dict[str, Tensor]:
    """The outer optimizer's initial state for ``W`` (``{}`` without an outer optimizer)."""
    return _outer.init_outer_state(W, cfg.meta)


def check_second_order(cfg: ExperimentConfig) -> None:
    """Raise :class:`UserError` for option combinations the second-order path does not support."""
    if cfg.meta.second_order and cfg.meta.inner_optimizer != "sgd":
        raise UserError("meta.second_order=true needs meta.inner_optimizer=sgd (Adam is not unrolled)")
    if cfg.meta.second_order and cfg.space.bayes.kl_prior == "meta":
        raise UserError("meta.second_order=true with space.bayes.kl_prior=meta: the anchored prior is detached, so "
                        "the meta-gradient would miss its dependence on W; use kl_prior=fixed")


__all__ = ["TaskResult", "configure_process", "task_seed", "task_spec", "task_specs_for_round", "run_task",
           "is_finite_result", "outer_update",
           "init_outer_state", "outer_lr_at", "tau_at", "check_second_order"]
