"""The inner loop of Algorithm 1 (lines 5-9), first order: T optimizer steps on one task.

Each step ``t`` draws its batch indices from ``make_generator(seed, "batch", t)`` (CPU) and its
Gumbel noise xi / weight noise eps from ``make_generator(seed, "noise", t)`` (on the model's
device), so ``(seed, t)`` reproduces the step exactly and nothing touches the global RNG.

The per-step objective is eq. 11 as a loss to minimise: ``cross_entropy(f(x; theta(eps), z(xi)), y)
+ model.kl()`` (the KL weights live in the model's config).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from base_dist.sgd import clip_coefficient, sgd_update
from base_dist.space.meta_state import is_arch
from base_dist.utils import make_generator


def param_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(weights, arch)`` parameters of a meta-network (arch = names starting with ``arch.``).

    Example:
        >>> w, a = param_groups(torch.nn.Linear(2, 1)); len(w), len(a)
        (2, 0)
    """
    weights, arch = [], []
    for name, p in model.named_parameters():
        (arch if is_arch(name) else weights).append(p)
    return weights, arch


class InnerSGD:
    """SGD with momentum over one group of parameters, through :func:`sgd_update` (the optimizer of
    ``meta.inner_optimizer: sgd`` in the inner loop, adaptation and pretraining)."""

    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float) -> None:
        self.params, self.lr, self.momentum = params, lr, momentum
        self.bufs: list[Tensor | None] = [None] * len(params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            new, self.bufs[i] = sgd_update(p, p.grad, self.bufs[i], self.lr, self.momentum)
            p.copy_(new)


def make_optimizers(
    model: nn.Module, kind: str, lr_weights: float, lr_arch: float, momentum: float = 0.9,
    freeze_arch: bool = False,
) -> list[tuple[Any, list[nn.Parameter]]]:
    """One optimizer for the weights and one for the architecture logits (skipped when empty/frozen).

    ``kind`` is ``"sgd"`` (with ``momentum``) or ``"adam"``. Returns ``[(optimizer, params), ...]``
    so callers can clip each group on its own.

    Example:
        >>> opts = make_optimizers(torch.nn.Linear(2, 1), "sgd", 0.1, 0.1)
        >>> [type(o).__name__ for o, _ in opts]
        ['InnerSGD']
    """
    weights, arch = param_groups(model)
    for p in arch:
        p.requires_grad_(not freeze_arch)
    out = []
    for params, lr in ((weights, lr_weights), (arch if not freeze_arch else [], lr_arch)):
        if not params:
            continue
        if kind == "sgd":
            opt: InnerSGD | torch.optim.Optimizer = InnerSGD(params, lr=lr, momentum=momentum)
        elif kind == "adam":
            opt = torch.optim.Adam(params, lr=lr)
        else:
            raise ValueError(f"unknown optimizer {kind!r}")
        out.append((opt, params))
    return out


def sample_batch(n: int, batch_size: int, gen: torch.Generator) -> Tensor:
    """``min(batch_size, n)`` distinct indices in ``[0, n)`` drawn with ``gen``.

    Example:
        >>> sample_batch(5, 3, make_generator(0)).shape
        torch.Size([3])
    """
    return torch.randperm(n, generator=gen)[: min(batch_size, n)]


def objective(model: nn.Module, x: Tensor, y: Tensor, n_way: int, gen: torch.Generator | None,
              tau: float, pooled: tuple[Tensor, float] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(loss, cross_entropy, logits)`` with ``loss = cross_entropy + model.kl()`` (eq. 11).

    ``pooled = (labels, weight)`` adds ``weight x`` the cross-entropy of the model's ``pooled``
    classifier on the same sampled features (one forward pass serves both terms).

    Example (any module with ``forward(x, n_way=, gen=, tau=)`` and ``kl()``):
        >>> # loss, ce, logits = objective(net, x, y, 5, make_generator(1), tau=1.0)
    """
    if pooled is None:
        logits = model(x, n_way=n_way, gen=gen, tau=tau)
        ce = F.cross_entropy(logits, y)
        return ce + model.kl(), ce, logits
    features = model.features(x, gen=gen, tau=tau)
    logits = model.classifier_for(n_way)(features)
    ce = F.cross_entropy(logits, y)
    labels, weight = pooled
    return ce + weight * F.cross_entropy(model.pooled(features), labels) + model.kl(), ce, logits


@torch.no_grad()
def evaluate_at_mean(model: nn.Module, x: Tensor, y: Tensor, n_way: int, tau: float = 1.0,
             batch_size: int = 256) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` at the posterior mean (``gen=None``), in eval mode.

    Example:
        >>> # val_loss, val_acc = evaluate_at_mean(net, task.x_val, task.y_val, task_n_way)
    """
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, int(y.shape[0])
    for start in range(0, n, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        logits = model(xb, n_way=n_way, gen=None, tau=tau)
        total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(-1) == yb).sum())
    model.train(was_training)
    return (total_loss / max(n, 1), correct / max(n, 1))


@torch.no_grad()
def arch_entropy(model: nn.Module) -> float:
    """Mean entropy (nats) of ``softmax(arch logits)`` over every edge of every ``arch.*`` tensor.

    Example:
        >>> round(arch_entropy(torch.nn.Linear(1, 1)), 3)
        0.0
    """
    ents = []
    for name, p in model.named_parameters():
        if is_arch(name):
            logp = torch.log_softmax(p.detach().float().reshape(-1, p.shape[-1]), dim=-1)
            ents.append(-(logp.exp() * logp).sum(-1))
    return float(torch.cat(ents).mean()) if ents else 0.0


@torch.no_grad()
def clip_groups(groups: list[tuple[Any, list[nn.Parameter]]], max_norm: float) -> None:
    """Clip the gradient norm of each group (weights, arch) separately to ``max_norm`` (:func:`base_dist.sgd.clip_coefficient`)."""
    for _, params in groups:
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            coef = clip_coefficient(grads, max_norm)
            for g in grads:
                g.mul_(coef)


def optimizer_step(model: nn.Module, groups: list[tuple[Any, list[nn.Parameter]]], x: Tensor,
                   y: Tensor, n_way: int, noise: torch.Generator | None, tau: float,
                   grad_clip: float, pooled: tuple[Tensor, float] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """One step on the eq.-11 objective: loss, backward, per-group clip, every optimizer's step.

    The one inner step of meta-training, adaptation and pretraining; returns ``(loss, ce, logits)``.
    ``pooled``: the supervised term of :func:`objective`.

    Example:
        >>> # loss, ce, logits = optimizer_step(net, make_optimizers(net, "sgd", .1, .3), x, y, 5, gen, 1.0, 5.0)
    """
    loss, ce, logits = objective(model, x, y, n_way, noise, tau, pooled)
    for opt, _ in groups:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    clip_groups(groups, grad_clip)
    for opt, _ in groups:
        opt.step()
    return loss, ce, logits


def inner_loop(model: nn.Module, x_train: Tensor, y_train: Tensor, n_way: int, *, steps: int,
               batch_size: int, seed: int, tau: float,
               groups: list[tuple[Any, list[nn.Parameter]]], grad_clip: float,
               device: torch.device, pooled: tuple[Tensor, float] | None = None) -> dict[str, float]:
    """Run ``steps`` optimizer steps in place on ``model``; returns mean train loss/accuracy/cross-entropy.

    ``x_train``/``y_train`` are already on ``device``. With ``steps == 0`` nothing is changed and the
    train metrics are measured at the posterior mean instead. ``pooled = (labels, weight)``: the
    pooled-class labels of ``x_train`` (on ``device``) and the weight of their term in every step.

    Example:
        >>> # m = inner_loop(net, x, y, 5, steps=5, batch_size=32, seed=s, tau=1.0,
        >>> #                groups=make_optimizers(net, "sgd", .05, .05), grad_clip=5.0, device=dev)
    """
    if steps == 0:
        ce, acc = evaluate_at_mean(model, x_train, y_train, n_way, tau)
        with torch.no_grad():
            kl = float(model.kl())
        return {"train_loss": ce + kl, "train_ce": ce, "train_acc": acc}
    model.train()
    tot_loss = tot_ce = tot_acc = 0.0
    for t in range(steps):
        idx = sample_batch(int(y_train.shape[0]), batch_size, make_generator(seed, "batch", t)).to(device)
        noise = make_generator(seed, "noise", t, device=device)
        batch_pooled = None if pooled is None else (pooled[0][idx], pooled[1])
        loss, ce, logits = optimizer_step(model, groups, x_train[idx], y_train[idx], n_way, noise, tau, grad_clip,
                                          batch_pooled)
        tot_loss += float(loss.detach())
        tot_ce += float(ce.detach())
        tot_acc += float((logits.detach().argmax(-1) == y_train[idx]).float().mean())
    out = {"train_loss": tot_loss / steps, "train_ce": tot_ce / steps, "train_acc": tot_acc / steps}
    if not all(math.isfinite(v) for v in out.values()):
        out["nonfinite"] = 1.0
    return out
