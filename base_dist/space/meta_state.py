"""The meta-learned state ``W``: a named tensor dict, and the one flat vector it travels as.

``W`` is ``OrderedDict(name -> tensor)`` in ``model.named_parameters()`` order. Architecture logits
are the entries whose name starts with ``arch.``; everything else is a weight. A task's delta
``W_task - W`` is one flat fp32 vector in :class:`Layout` order from the moment it is made to the
moment it is folded into the round's mean: one cat per delta, one split per round.

Example:
    >>> import torch
    >>> W = OrderedDict(a=torch.zeros(2, 2), b=torch.ones(1))
    >>> layout = Layout.of(W)
    >>> flat = layout.flatten(W)
    >>> flat.tolist(), layout.unflatten(flat)["a"].shape
    ([0.0, 0.0, 0.0, 0.0, 1.0], torch.Size([2, 2]))
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

ARCH_PREFIX = "arch."


def is_arch(name: str) -> bool:
    """True for an architecture-logit entry (``arch.normal``, ``arch.reduce``).

    Example:
        >>> is_arch("arch.normal"), is_arch("cells.0.mu")
        (True, False)
    """
    return name.startswith(ARCH_PREFIX)


def get_state(model: nn.Module) -> OrderedDict[str, Tensor]:
    """Detached copies of every parameter, in ``named_parameters()`` order.

    Example:
        >>> list(get_state(nn.Linear(2, 1)))
        ['weight', 'bias']
    """
    return OrderedDict((n, p.detach().clone()) for n, p in model.named_parameters())


def load_state(model: nn.Module, state: Mapping[str, Tensor]) -> None:
    """Copy ``state`` into the model's parameters in place (names must match exactly).

    In place (``copy_``) so optimizers and references that hold the parameters stay valid.

    Example:
        >>> m = nn.Linear(2, 1); load_state(m, {"weight": torch.zeros(1, 2), "bias": torch.zeros(1)})
        >>> float(m.weight.detach().abs().sum())
        0.0
    """
    params = dict(model.named_parameters())
    missing = params.keys() - state.keys()
    extra = state.keys() - params.keys()
    if missing or extra:
        raise KeyError(f"state does not match the model: missing {sorted(missing)[:3]}, unexpected {sorted(extra)[:3]}")
    with torch.no_grad():
        for name, p in params.items():
            src = state[name]
            if src.shape != p.shape:
                raise ValueError(f"state[{name!r}] has shape {tuple(src.shape)}, the model {tuple(p.shape)}")
            p.copy_(src.to(device=p.device, dtype=p.dtype))


def cpu_fp32(state: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
    """Every entry as a CPU float32 tensor (how W is held by drivers and checkpoints).

    Example:
        >>> cpu_fp32({"w": torch.ones(1, dtype=torch.float16)})["w"].dtype
        torch.float32
    """
    return OrderedDict((k, v.detach().to("cpu", torch.float32)) for k, v in state.items())


def is_finite(flat: Tensor) -> bool:
    """False when a flat delta holds a NaN or inf: the one finiteness check of a delta.

    Example:
        >>> is_finite(torch.tensor([1.0, float("inf")]))
        False
    """
    return bool(torch.isfinite(flat).all())


@dataclass(frozen=True)
class Layout:
    """The names and shapes of W: how a flat vector maps back to named tensors."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]

    @classmethod
    def of(cls, W: Mapping[str, Tensor]) -> Layout:
        return cls(tuple(W), tuple(v.shape for v in W.values()))

    @property
    def numel(self) -> int:
        return sum(s.numel() for s in self.shapes)

    def flatten(self, state: Mapping[str, Tensor]) -> Tensor:
        """``state`` (same names) as one CPU fp32 vector in layout order."""
        return torch.cat([state[k].detach().reshape(-1).to("cpu", torch.float32) for k in self.names])

    def unflatten(self, flat: Tensor) -> OrderedDict[str, Tensor]:
        """Named views of a flat vector; a length mismatch names both sizes."""
        if flat.numel() != self.numel:
            raise ValueError(f"a flat vector of {flat.numel()} values for a W of {self.numel}: another search space?")
        parts = flat.split([s.numel() for s in self.shapes])
        return OrderedDict((k, p.view(s)) for k, s, p in zip(self.names, self.shapes, parts, strict=True))
