"""Second-order optimization embedding: differentiate through the T unrolled inner steps (eq. 10-11).

The task posterior ``[phi_T, psi_T]`` is a differentiable function of ``W = [phi_0, psi_0]``: the T
inner SGD(+momentum) steps are replayed functionally with :func:`torch.func.functional_call` and
``create_graph=True``. The meta-objective is the eq.-11 loss of ``phi_T`` on the task's *val* part
(noise from ``make_generator(seed, "query")``), and the meta-gradient is its gradient w.r.t. ``W``
(second-order MAML, as in the paper's few-shot search, section 6.3).

With ``meta.second_order: true`` :func:`base_dist.meta.task.run_task` returns
``delta = -(T * eta_group) * meta_gradient`` (``eta_group`` = ``inner_lr_weights`` or
``inner_lr_arch``), i.e. the meta-gradient scaled like T inner steps, so the outer update
``W + lambda * mean(delta)`` and its schedule keep their meaning; ``T = 0`` still gives a zero
delta. Only ``inner_optimizer: sgd`` is unrolled (Adam's square root has no usable second derivative
at zero).

The inner steps are the same as the first-order loop's: same batches (``(seed, "batch", t)``), same
noise (``(seed, "noise", t)``), the same per-group gradient clipping and the same SGD momentum rule (:mod:`base_dist.sgd`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from base_dist.config import MetaConfig
from base_dist.errors import UserError
from base_dist.meta.inner import sample_batch
from base_dist.sgd import clip_coefficient, sgd_update
from base_dist.space.meta_state import is_arch
from base_dist.utils import make_generator


class _Objective(nn.Module):
    """Wraps a meta-network so one ``functional_call`` gives ``(ce + kl, ce, logits)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, y: Tensor, n_way: int, gen: torch.Generator | None,
                tau: float) -> tuple[Tensor, Tensor, Tensor]:
        logits = self.net(x, n_way=n_way, gen=gen, tau=tau)
        ce = F.cross_entropy(logits, y)
        return ce + self.net.kl(), ce, logits


def _call(obj: _Objective, params: Mapping[str, Tensor], x: Tensor, y: Tensor, n_way: int,
          gen: torch.Generator | None, tau: float) -> tuple[Tensor, Tensor, Tensor]:
    return functional_call(obj, {f"net.{k}": v for k, v in params.items()}, (x, y, n_way, gen, tau))


def _clip(grads: dict[str, Tensor], names: list[str], max_norm: float) -> None:
    """Scale one group's gradients by the inner loop's clip coefficient (differentiably)."""
    present = [grads[n] for n in names if grads[n] is not None]
    if not present:
        return
    coef = clip_coefficient(present, max_norm)
    for n in names:
        if grads[n] is not None:
            grads[n] = grads[n] * coef


def unroll(
    model: nn.Module, params: Mapping[str, Tensor], x_train: Tensor, y_train: Tensor, n_way: int,
    meta: MetaConfig, *, seed: int, tau: float, create_graph: bool = True,
) -> tuple[OrderedDict[str, Tensor], dict[str, float]]:
    """Replay T inner SGD(+momentum) steps functionally from ``params``; returns ``(phi_T, metrics)``.

    With ``create_graph=True`` ``phi_T`` stays differentiable w.r.t. ``params``.

    Example:
        >>> # phi_T, m = unroll(net, W_leaves, x, y, 5, cfg.meta, seed=s, tau=1.0)
    """
    if meta.inner_optimizer != "sgd":
        raise UserError("meta.second_order=true needs meta.inner_optimizer=sgd (Adam is not unrolled)")
    obj = _Objective(model)
    model.train()
    cur = OrderedDict(params)
    names = list(cur)
    groups = [[n for n in names if not is_arch(n)], [n for n in names if is_arch(n)]]
    bufs: dict[str, Tensor | None] = {n: None for n in names}
    device = next(iter(cur.values())).device
    tot = {"train_loss": 0.0, "train_ce": 0.0, "train_acc": 0.0}
    for t in range(meta.inner_steps):
        idx = sample_batch(int(y_train.shape[0]), meta.batch_size, make_generator(seed, "batch", t)).to(device)
        noise = make_generator(seed, "noise", t, device=device)
        loss, ce, logits = _call(obj, cur, x_train[idx], y_train[idx], n_way, noise, tau)
        raw = torch.autograd.grad(loss, [cur[n] for n in names], create_graph=create_graph, allow_unused=True)
        grads = dict(zip(names, raw, strict=True))
        for group in groups:
            _clip(grads, group, meta.grad_clip)
        nxt = OrderedDict()
        for n in names:
            g = grads[n]
            if g is None:
                nxt[n] = cur[n]
                continue
            lr = meta.inner_lr_arch if is_arch(n) else meta.inner_lr_weights
            nxt[n], bufs[n] = sgd_update(cur[n], g, bufs[n], lr, meta.inner_momentum)
        if not create_graph:
            nxt = OrderedDict((n, v.detach().requires_grad_(True)) for n, v in nxt.items())
            bufs = {n: (b.detach() if b is not None else None) for n, b in bufs.items()}
        cur = nxt
        tot["train_loss"] += float(loss.detach())
        tot["train_ce"] += float(ce.detach())
        tot["train_acc"] += float((logits.detach().argmax(-1) == y_train[idx]).float().mean())
    steps = max(meta.inner_steps, 1)
    return cur, {k: v / steps for k, v in tot.items()}


def meta_gradient(
    model: nn.Module, W: Mapping[str, Tensor], x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
    n_way: int, meta: MetaConfig, *, seed: int, tau: float, first_order: bool = False,
    device: torch.device | str = "cpu",
) -> tuple[OrderedDict[str, Tensor], OrderedDict[str, Tensor], dict[str, float]]:
    """Gradient of the val-part loss at ``phi_T(W)`` w.r.t. ``W``; returns ``(grad, phi_T, metrics)``.

    ``first_order=True`` drops the Jacobian of the inner steps (first-order MAML: the gradient at
    ``phi_T`` itself), for comparison. ``grad`` and ``phi_T`` are detached CPU fp32 dicts; names
    unused by this task (other heads/classifiers) get zero gradients.

    Example:
        >>> # g, phi_T, m = meta_gradient(net, W, task.x_train, task.y_train, task.x_val, task.y_val,
        >>> #                             n_way=5, meta=cfg.meta, seed=task_seed(cfg, 0, 0), tau=1.0)
    """
    device = torch.device(device)
    leaves = OrderedDict((k, v.detach().to(device, torch.float32).clone().requires_grad_(True)) for k, v in W.items())
    phi_T, metrics = unroll(model, leaves, x_train.to(device), y_train.to(device), n_way, meta, seed=seed, tau=tau,
                            create_graph=not first_order)
    query_params = phi_T
    if first_order:
        query_params = OrderedDict((k, v.detach().requires_grad_(True)) for k, v in phi_T.items())
    wrt = query_params if first_order else leaves
    loss, ce, _ = _call(_Objective(model), query_params, x_val.to(device), y_val.to(device), n_way,
                        make_generator(seed, "query", device=device), tau)
    grads = torch.autograd.grad(loss, list(wrt.values()), allow_unused=True)
    out = OrderedDict((k, (g.detach().to("cpu", torch.float32) if g is not None else torch.zeros_like(W[k], dtype=torch.float32, device="cpu")))
                      for k, g in zip(wrt, grads, strict=True))
    metrics["query_loss"] = float(loss.detach())
    phi = OrderedDict((k, v.detach().to("cpu", torch.float32)) for k, v in phi_T.items())
    return out, phi, metrics


def second_order_delta(
    model: nn.Module, W: Mapping[str, Tensor], x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
    n_way: int, meta: MetaConfig, *, seed: int, tau: float, device: torch.device | str = "cpu",
) -> tuple[OrderedDict[str, Tensor], dict[str, float], OrderedDict[str, Tensor]]:
    """``(delta, metrics, phi_T)`` with ``delta = -(T * eta_group) * meta_gradient`` (zero when T = 0).

    Example:
        >>> # delta, metrics, phi_T = second_order_delta(net, W, xt, yt, xv, yv, 5, cfg.meta, seed=s, tau=1.0)
    """
    T = meta.inner_steps
    if T == 0:
        zero = OrderedDict((k, torch.zeros_like(v, dtype=torch.float32, device="cpu")) for k, v in W.items())
        phi = OrderedDict((k, v.detach().to("cpu", torch.float32).clone()) for k, v in W.items())
        return zero, {"train_loss": 0.0, "train_ce": 0.0, "train_acc": 0.0}, phi
    grad, phi_T, metrics = meta_gradient(model, W, x_train, y_train, x_val, y_val, n_way, meta, seed=seed, tau=tau,
                                         device=device)
    delta = OrderedDict((k, g * (-T * (meta.inner_lr_arch if is_arch(k) else meta.inner_lr_weights)))
                        for k, g in grad.items())
    return delta, metrics, phi_T
