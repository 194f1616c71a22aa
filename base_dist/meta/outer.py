"""The outer update of Algorithm 1 (line 10): ``W <- W + lambda * (1/C) * sum_c delta_c``.

The mean itself is :func:`base_dist.meta.rounds.fold_mean`'s (task-index order, whatever the arrival
order); this module only turns it into the next ``W``.

With ``meta.outer_optimizer: adam`` the mean delta is treated as a negative gradient
(``g = -mean(delta)``) and fed to Adam, with ``meta.outer_adam_lr_weights`` for weights and
``meta.outer_adam_lr_arch`` for ``arch.*`` logits, both multiplied by the lambda schedule's factor
``outer_lr_at(r) / outer_lr``. In the first ``meta.arch_warmup_rounds`` rounds phi does not move (the
weights warm up first). The Adam state is a flat ``dict[str, Tensor]`` (``step``,
``exp_avg.<name>``, ``exp_avg_sq.<name>``) so checkpoints store it as plain tensors.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import Tensor

from base_dist.config import MetaConfig
from base_dist.meta.diagnostics import group_of
from base_dist.meta.schedules import outer_lr_at, outer_lr_factor
from base_dist.space.meta_state import is_arch

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def init_outer_state(W: Mapping[str, Tensor], meta: MetaConfig) -> dict[str, Tensor]:
    """Empty outer-optimizer state: ``{}`` for plain lambda steps, zeroed Adam moments otherwise.

    Example:
        >>> from base_dist.config import MetaConfig
        >>> init_outer_state({"w": torch.zeros(2)}, MetaConfig())
        {}
    """
    if meta.outer_optimizer == "none":
        return {}
    state: dict[str, Tensor] = {"step": torch.zeros((), dtype=torch.int64)}
    for k, v in W.items():
        state[f"exp_avg.{k}"] = torch.zeros_like(v, dtype=torch.float32, device="cpu")
        state[f"exp_avg_sq.{k}"] = torch.zeros_like(v, dtype=torch.float32, device="cpu")
    return state


@torch.no_grad()
def apply_outer(
    W: Mapping[str, Tensor], mean: Mapping[str, Tensor], meta: MetaConfig, round_idx: int,
    outer_state: Mapping[str, Tensor] | None,
) -> tuple[OrderedDict[str, Tensor], dict[str, Tensor]]:
    """One outer step from an already averaged delta; returns new tensors (inputs untouched).

    Example:
        >>> from base_dist.config import MetaConfig
        >>> W, s = apply_outer({"w": torch.zeros(1)}, {"w": torch.ones(1)}, MetaConfig(outer_lr=0.5), 0, {})
        >>> W["w"]
        tensor([0.5000])
        >>> W, s = apply_outer({"cells.0.mu": torch.zeros(1), "arch.normal": torch.zeros(1)},
        ...                    {"cells.0.mu": torch.ones(1), "arch.normal": torch.ones(1)},
        ...                    MetaConfig(outer_lr=4, outer_lr_scale={"phi": 0.25}), 0, {})
        >>> W["cells.0.mu"], W["arch.normal"]
        (tensor([4.]), tensor([1.]))
    """
    warmup = round_idx < meta.arch_warmup_rounds  # phi stays; its Adam moments too
    if meta.outer_optimizer == "none":
        lam, scale = outer_lr_at(meta, round_idx), meta.outer_lr_scale
        # Per-key lambdas only when asked for: the driver runs this over every entry of W each round.
        lams = ({k: 0.0 if warmup and is_arch(k) else lam * scale.get(group_of(k), 1.0)  # type: ignore[call-overload]
                 for k in W} if scale or warmup else {})
        new_W = OrderedDict((k, (v.to(torch.float32) + lams.get(k, lam) * mean[k].to(v.device, torch.float32)))
                            for k, v in W.items())
        return new_W, dict(outer_state or {})
    state = {k: v.clone() for k, v in (outer_state or init_outer_state(W, meta)).items()}
    if "step" not in state:
        state = init_outer_state(W, meta)
    step = int(state["step"]) + 1
    state["step"] = torch.tensor(step, dtype=torch.int64)
    b1, b2 = ADAM_BETAS
    bc1, bc2 = 1.0 - b1**step, 1.0 - b2**step
    factor = outer_lr_factor(meta, round_idx)
    new_W = OrderedDict()
    for k, v in W.items():
        if warmup and is_arch(k):
            new_W[k] = v.to(torch.float32).clone()
            continue
        g = -mean[k].to("cpu", torch.float32)
        m = state[f"exp_avg.{k}"].mul_(b1).add_(g, alpha=1.0 - b1)
        s = state[f"exp_avg_sq.{k}"].mul_(b2).addcmul_(g, g, value=1.0 - b2)
        lr = (meta.outer_adam_lr_arch if is_arch(k) else meta.outer_adam_lr_weights) * factor
        denom = (s / bc2).sqrt_().add_(ADAM_EPS)
        upd = (m / bc1).div_(denom).mul_(-lr)
        new_W[k] = v.to(torch.float32) + upd.to(v.device)
    return new_W, state
