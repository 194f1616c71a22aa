"""MAML (Finn et al. 2017) for one discrete network: inner SGD on the support set, loss on the query set.

The network is used as a pure function of its parameters through :func:`torch.func.functional_call`
(few-shot networks keep no BatchNorm buffers, see :mod:`base_dist.space.fewshot_nets`):

- :func:`adapt` takes ``steps`` plain SGD steps ``w <- w - lr * grad`` on the support loss from
  ``params``. With ``create_graph=True`` the adapted weights stay a differentiable function of
  ``params`` (second-order MAML); with ``False`` each step's gradient is a constant, so the query
  loss's gradient w.r.t. ``params`` is its gradient at the adapted weights (first-order MAML).
- :func:`meta_gradient` is the gradient of the post-adaptation query loss w.r.t. ``params``.
- :func:`meta_step` averages that over a meta-batch of episodes and takes one step of the outer
  optimizer (Adam in :mod:`base_dist.train.fewshot`): :func:`episode_step` per episode, then
  :func:`apply_episode_steps`.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Linear(4, 2)
    >>> params = dict(net.named_parameters())
    >>> x, y = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1] * 3)
    >>> fast = adapt(net, params, x, y, steps=3, lr=0.5, create_graph=True)
    >>> bool(query_loss(net, fast, x, y)[0] < query_loss(net, params, x, y)[0])
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from base_dist.data import Episode
from base_dist.errors import UserError
from base_dist.sgd import clip_coefficient, sgd_update

Params = dict[str, Tensor]


def query_loss(net: nn.Module, params: Mapping[str, Tensor], x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``(mean cross-entropy, logits)`` of ``net`` run with ``params`` on ``(x, y)``."""
    logits = functional_call(net, dict(params), (x,))
    return F.cross_entropy(logits, y), logits


def adapt(net: nn.Module, params: Mapping[str, Tensor], x: Tensor, y: Tensor, *, steps: int, lr: float,
          create_graph: bool, grad_clip: float | None = None) -> Params:
    """``steps`` SGD steps on ``(x, y)`` from ``params`` (which must require grad); returns the adapted weights.

    ``grad_clip`` scales each step's gradient to at most that L2 norm (differentiably), as BASE's
    inner loop does: cell networks at MAML's step sizes otherwise blow up their query loss.

    Example:
        >>> from torch import nn
        >>> net = nn.Linear(2, 2)
        >>> adapt(net, dict(net.named_parameters()), torch.ones(2, 2), torch.tensor([0, 1]), steps=0, lr=1.0,
        ...       create_graph=False)["weight"] is net.weight
        True
    """
    fast = dict(params)
    for _ in range(steps):
        loss, _ = query_loss(net, fast, x, y)
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=create_graph, allow_unused=True,
                                    materialize_grads=True)
        if grad_clip is not None:
            coef = clip_coefficient(list(grads), grad_clip)
            grads = tuple(g * coef for g in grads)
        fast = {name: sgd_update(w, g, None, lr, 0.0)[0] for (name, w), g in zip(fast.items(), grads, strict=True)}
    return fast


def episode_objective(net: nn.Module, params: Mapping[str, Tensor], ep: Episode, *, steps: int, lr: float,
                      first_order: bool, grad_clip: float | None = None) -> tuple[Tensor, Tensor]:
    """``(query loss after adapting on the support set, query accuracy)``; the loss is differentiable in ``params``."""
    fast = adapt(net, params, ep.x_support, ep.y_support, steps=steps, lr=lr, create_graph=not first_order,
                 grad_clip=grad_clip)
    loss, logits = query_loss(net, fast, ep.x_query, ep.y_query)
    return loss, (logits.detach().argmax(1) == ep.y_query).float().mean()


def meta_gradient(net: nn.Module, params: Mapping[str, Tensor], ep: Episode, *, steps: int, lr: float,
                  first_order: bool = False) -> Params:
    """Gradient of the post-adaptation query loss w.r.t. ``params`` (second order unless ``first_order``).

    Example:
        >>> # g = meta_gradient(net, dict(net.named_parameters()), episode, steps=5, lr=0.1)
    """
    loss, _ = episode_objective(net, params, ep, steps=steps, lr=lr, first_order=first_order)
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True, materialize_grads=True)
    return dict(zip(params, grads, strict=True))


@torch.no_grad()
def query_accuracy(net: nn.Module, params: Mapping[str, Tensor], ep: Episode) -> float:
    """Query accuracy of ``params`` as they are (no adaptation): the before-adaptation baseline."""
    _, logits = query_loss(net, params, ep.x_query, ep.y_query)
    return float((logits.argmax(1) == ep.y_query).float().mean())


@dataclass
class EpisodeStep:
    """One episode's share of an outer step: the gradient of its query loss / meta-batch size (None
    where a parameter got none), the query loss and accuracy after adaptation, the accuracy before it."""

    grads: dict[str, Tensor | None]
    loss: float
    acc: float
    acc_before: float


def episode_step(net: nn.Module, params: Mapping[str, Tensor], ep: Episode, *, batch: int, steps: int, lr: float,
                 first_order: bool, grad_clip: float | None = None) -> EpisodeStep:
    """:class:`EpisodeStep` of ``ep`` for a meta-batch of ``batch`` episodes (``params`` are ``net``'s own).

    The episode's graph is backpropagated (and freed) here, so memory holds one unrolled episode at
    a time. It goes through ``.backward()`` from cleared ``.grad`` s, as the one-process loop always has.
    """
    before = query_accuracy(net, params, ep)
    loss, acc = episode_objective(net, params, ep, steps=steps, lr=lr, first_order=first_order, grad_clip=grad_clip)
    for p in params.values():
        p.grad = None
    (loss / batch).backward()
    grads = {name: p.grad for name, p in params.items()}
    for p in params.values():
        p.grad = None
    return EpisodeStep(grads, loss.item(), acc.item(), before)


def apply_episode_steps(optimizer: torch.optim.Optimizer, params: Mapping[str, Tensor],
                        results: Sequence[EpisodeStep]) -> dict[str, float]:
    """Add the episodes' gradients up in order into ``.grad`` and take one step of ``optimizer``; its metrics.

    The sum is ``((g_0 + g_1) + g_2) + ...``, the order autograd accumulates in, so wherever the
    episodes were computed the step is the same bits.
    """
    optimizer.zero_grad(set_to_none=True)
    loss_sum = acc_sum = before_sum = 0.0
    with torch.no_grad():
        for res in results:
            for name, g in res.grads.items():
                if g is None:
                    continue
                p = params[name]
                if p.grad is None:
                    p.grad = g.to(p.device, copy=True)  # the caller's gradients stay as they were
                else:
                    p.grad += g.to(p.device)
            loss_sum, acc_sum, before_sum = loss_sum + res.loss, acc_sum + res.acc, before_sum + res.acc_before
    n = len(results)
    if not math.isfinite(loss_sum):
        raise UserError(f"MAML diverged (query loss {loss_sum / n}); lower fewshot.inner_lr or fewshot.outer_lr")
    optimizer.step()
    return {"query_loss": loss_sum / n, "query_acc": acc_sum / n, "query_acc_before": before_sum / n}


def meta_step(net: nn.Module, optimizer: torch.optim.Optimizer, episodes: Sequence[Episode], *, steps: int,
              lr: float, first_order: bool, grad_clip: float | None = None) -> dict[str, float]:
    """One outer step on the mean post-adaptation query loss of ``episodes``; returns its metrics.

    :class:`base_dist.train.maml_workers.EpisodeWorkers` takes the same step with the episodes split
    over processes.
    """
    params = dict(net.named_parameters())
    results = [episode_step(net, params, ep, batch=len(episodes), steps=steps, lr=lr, first_order=first_order,
                            grad_clip=grad_clip) for ep in episodes]
    return apply_episode_steps(optimizer, params, results)
