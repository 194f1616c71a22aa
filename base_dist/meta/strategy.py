"""How one task turns ``W`` into a delta: the part of Algorithm 1 that differs between variants.

A strategy adapts a model (loaded with ``W``) to one task and returns the delta the outer update
averages. The two here are BASE's first-order inner loop (``delta = W_T - W``, Reptile style) and
the second-order optimization embedding (``delta = -T * eta * meta_gradient``, MAML style, the
paper's few-shot search). Everything around them — seeds, before/after evaluation, metrics, the
round, the outer step, where tasks run — is shared, so a variant is one small subclass registered
in :data:`STRATEGIES`.

Example:
    >>> from base_dist.config import load_config
    >>> strategy_for(load_config(None)).name, strategy_for(load_config(None, ["meta.second_order=true"])).name
    ('first-order', 'second-order')
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from base_dist.config import ExperimentConfig
from base_dist.data import TaskDistribution
from base_dist.errors import UserError
from base_dist.meta.inner import inner_loop, make_optimizers
from base_dist.space.meta_state import Layout, load_state


class TaskStrategy(ABC):
    """The base: ``adapt`` leaves ``model`` at the task's posterior and returns ``(flat delta, metrics)``."""

    name = "base"

    def check(self, cfg: ExperimentConfig) -> None:  # noqa: B027 - optional hook, most strategies accept any config
        """Raise :class:`UserError` for settings this strategy cannot run (before anything is written)."""

    @abstractmethod
    def adapt(self, model: nn.Module, W: Mapping[str, Tensor], x_train: Tensor, y_train: Tensor, x_val: Tensor,
              y_val: Tensor, n_way: int, cfg: ExperimentConfig, *, seed: int, tau: float,
              device: torch.device, y_pooled: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        """Adapt ``model`` (holding ``W``) to the task; seeded by ``seed`` alone. ``y_pooled``: the train
        part's pooled-class labels, given when ``meta.pooled_weight`` is set."""


class FirstOrder(TaskStrategy):
    """T optimizer steps on the task's train part; ``delta = W_T - W`` (BASE Algorithm 1, first order)."""

    name = "first-order"

    def check(self, cfg: ExperimentConfig) -> None:
        if cfg.meta.pooled_weight:
            classes = TaskDistribution(cfg.data, split="meta-train").pooled_classes
            if cfg.space.pooled_classes != classes:
                raise UserError(f"space.pooled_classes={cfg.space.pooled_classes}, but data.sources have {classes} "
                                f"meta-train classes: set space.pooled_classes={classes}")

    def adapt(self, model: nn.Module, W: Mapping[str, Tensor], x_train: Tensor, y_train: Tensor, x_val: Tensor,
              y_val: Tensor, n_way: int, cfg: ExperimentConfig, *, seed: int, tau: float,
              device: torch.device, y_pooled: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        meta = cfg.meta
        groups = make_optimizers(model, meta.inner_optimizer, meta.inner_lr_weights, meta.inner_lr_arch,
                                 meta.inner_momentum)
        pooled = (y_pooled, meta.pooled_weight) if meta.pooled_weight and y_pooled is not None else None
        metrics = inner_loop(model, x_train, y_train, n_way, steps=meta.inner_steps, batch_size=meta.batch_size,
                             seed=seed, tau=tau, groups=groups, grad_clip=meta.grad_clip, device=device,
                             pooled=pooled)
        layout = Layout.of(W)
        return layout.flatten(dict(model.named_parameters())) - layout.flatten(W), metrics


class SecondOrder(TaskStrategy):
    """Differentiate the val-part loss through the unrolled inner steps (:mod:`base_dist.meta.second_order`)."""

    name = "second-order"

    def check(self, cfg: ExperimentConfig) -> None:
        if cfg.meta.pooled_weight:
            raise UserError("meta.pooled_weight is a first-order inner-loop term; set meta.pooled_weight=0 "
                            "with meta.second_order=true")
        if cfg.meta.inner_optimizer != "sgd":
            raise UserError("meta.second_order=true needs meta.inner_optimizer=sgd (Adam is not unrolled)")
        if cfg.space.bayes.kl_prior == "meta":
            raise UserError("meta.second_order=true with space.bayes.kl_prior=meta: the anchored prior is detached, "
                            "so the meta-gradient would miss its dependence on W; use kl_prior=fixed")

    def adapt(self, model: nn.Module, W: Mapping[str, Tensor], x_train: Tensor, y_train: Tensor, x_val: Tensor,
              y_val: Tensor, n_way: int, cfg: ExperimentConfig, *, seed: int, tau: float,
              device: torch.device, y_pooled: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        from base_dist.meta.second_order import second_order_delta

        delta, metrics, phi_T = second_order_delta(model, W, x_train, y_train, x_val, y_val, n_way, cfg.meta,
                                                   seed=seed, tau=tau, device=device)
        load_state(model, phi_T)  # the adapted posterior is evaluated, as in the first-order path
        return Layout.of(W).flatten(delta), metrics


STRATEGIES: dict[str, TaskStrategy] = {s.name: s for s in (FirstOrder(), SecondOrder())}


def strategy_for(cfg: ExperimentConfig) -> TaskStrategy:
    """The strategy ``cfg`` asks for (``meta.second_order`` picks the second-order one).

    Example:
        >>> from base_dist.config import load_config
        >>> strategy_for(load_config(None)).name
        'first-order'
    """
    return STRATEGIES["second-order" if cfg.meta.second_order else "first-order"]
