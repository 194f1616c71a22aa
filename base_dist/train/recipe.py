"""The DARTS retraining recipe: SGD with momentum, cosine learning rate, drop-path ramp, auxiliary loss.

Everything here is a pure function of ``(TrainConfig, epoch)`` or plain optimizer plumbing, so the
in-process loop and every Ray Train worker apply exactly the same recipe, and a resumed run needs
nothing but the epoch counter and the tensors of the model and the optimizer.

Example:
    >>> from base_dist.config import TrainConfig
    >>> cfg = TrainConfig(lr=0.1, epochs=4, drop_path_prob=0.2)
    >>> round(lr_at(cfg, 2), 4), drop_path_at(cfg, 2)
    (0.05, 0.1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from base_dist.config import TrainConfig


def lr_at(cfg: TrainConfig, epoch: int, lr_min: float = 0.0) -> float:
    """Cosine-annealed learning rate of 0-based ``epoch`` (DARTS: ``T_max = epochs``, ``eta_min = 0``).

    Closed form rather than ``CosineAnnealingLR``'s recursive update: the value depends on the epoch
    alone, so a resumed run gets bit-identical rates and the scheduler's state is one integer.

    Example:
        >>> lr_at(TrainConfig(lr=0.1, epochs=10), 0)
        0.1
    """
    progress = min(max(epoch, 0), cfg.epochs) / cfg.epochs
    return lr_min + 0.5 * (cfg.lr - lr_min) * (1.0 + math.cos(math.pi * progress))


def drop_path_at(cfg: TrainConfig, epoch: int) -> float:
    """Drop-path probability of 0-based ``epoch``: ramped linearly from 0 (DARTS: ``p * epoch / epochs``).

    Example:
        >>> drop_path_at(TrainConfig(drop_path_prob=0.3, epochs=3), 0)
        0.0
    """
    return cfg.drop_path_prob * min(max(epoch, 0), cfg.epochs) / cfg.epochs


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum and weight decay on every parameter (auxiliary head included, as DARTS).

    Example:
        >>> opt = make_optimizer(nn.Linear(2, 2), TrainConfig(lr=0.05))
        >>> opt.param_groups[0]["momentum"]
        0.9
    """
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group (the schedule's one side effect).

    Example:
        >>> opt = make_optimizer(nn.Linear(2, 2), TrainConfig()); set_lr(opt, 0.01)
        >>> opt.param_groups[0]["lr"]
        0.01
    """
    for group in optimizer.param_groups:
        group["lr"] = lr


def training_loss(logits: Tensor, aux_logits: Tensor | None, y: Tensor, cfg: TrainConfig) -> Tensor:
    """Cross-entropy (optionally label-smoothed) plus ``auxiliary_weight`` times the auxiliary head's.

    Example:
        >>> y = torch.tensor([0, 1])
        >>> round(float(training_loss(torch.zeros(2, 2), None, y, TrainConfig())), 4) == round(math.log(2), 4)
        True
    """
    loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
    if aux_logits is not None and cfg.auxiliary_weight > 0:
        loss = loss + cfg.auxiliary_weight * F.cross_entropy(aux_logits, y, label_smoothing=cfg.label_smoothing)
    return loss


def clip_gradients(model: nn.Module, cfg: TrainConfig) -> float:
    """Clip the global gradient norm to ``grad_clip``; returns the norm before clipping.

    Example:
        >>> m = nn.Linear(1, 1); m(torch.ones(1, 1)).sum().backward()
        >>> clip_gradients(m, TrainConfig(grad_clip=5.0)) > 0
        True
    """
    return float(nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))


# ----------------------------------------------------------------------------- optimizer state as tensors
def optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, dict[str, Tensor]]:
    """Per-parameter optimizer state keyed by state name, then parameter name: tensors only.

    Hyper-parameters are not saved: they come from the config and :func:`lr_at` on resume, so the
    checkpoint never needs a pickle. Parameters without state yet (no step taken) are absent.

    Example:
        >>> m = nn.Linear(1, 1); opt = make_optimizer(m, TrainConfig())
        >>> m(torch.ones(1, 1)).sum().backward(); opt.step()
        >>> sorted(optimizer_tensors(m, opt)["momentum_buffer"])
        ['bias', 'weight']
    """
    out: dict[str, dict[str, Tensor]] = {}
    for name, param in model.named_parameters():
        for key, value in optimizer.state.get(param, {}).items():
            if isinstance(value, Tensor):
                out.setdefault(key, {})[name] = value.detach()
            elif value is not None:
                # A non-tensor state (e.g. an int step) would be lost silently; make it a tensor instead.
                out.setdefault(key, {})[name] = torch.tensor(value)
    return out


def load_optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer,
                           tensors: Mapping[str, Mapping[str, Tensor]]) -> None:
    """Inverse of :func:`optimizer_tensors`: copy the saved state onto the model's parameters.

    Example:
        >>> m = nn.Linear(1, 1); opt = make_optimizer(m, TrainConfig())
        >>> load_optimizer_tensors(m, opt, {"momentum_buffer": {"weight": torch.ones(1, 1)}})
        >>> opt.state[m.weight]["momentum_buffer"].tolist()
        [[1.0]]
    """
    params = dict(model.named_parameters())
    for key, per_param in tensors.items():
        for name, value in per_param.items():
            if name not in params:
                raise KeyError(f"optimizer state for unknown parameter {name!r}")
            p = params[name]
            optimizer.state[p][key] = value.to(device=p.device, dtype=p.dtype).clone()
