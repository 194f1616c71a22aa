"""The meta-learned state ``W`` as a flat, ordered, named tensor dict, and its arithmetic.

``W`` is ``OrderedDict(name -> tensor)`` in ``model.named_parameters()`` order. Architecture logits
are the entries whose name starts with ``arch.``; everything else is a weight. Every helper returns a
new dict and never touches its inputs, so a task delta is ``sub(W_task, W)`` and the outer update is
``add_scaled(W, mean_states(deltas), lam)``.

Example:
    >>> import torch
    >>> a = OrderedDict(x=torch.ones(2)); b = OrderedDict(x=torch.full((2,), 3.0))
    >>> add_scaled(a, sub(b, a), 0.5)["x"].tolist()
    [2.0, 2.0]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

State = OrderedDict  # OrderedDict[str, torch.Tensor]

ARCH_PREFIX = "arch."


def is_arch(name: str) -> bool:
    """True for an architecture-logit entry (``arch.normal``, ``arch.reduce``)."""
    return name.startswith(ARCH_PREFIX)


def get_state(model: nn.Module) -> State:
    """Detached copies of every parameter, in ``named_parameters()`` order.

    Example:
        >>> list(get_state(nn.Linear(2, 1)))
        ['weight', 'bias']
    """
    return OrderedDict((n, p.detach().clone()) for n, p in model.named_parameters())


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy ``state`` into the model's parameters in place (names must match exactly).

    In place (``copy_``) so optimizers and references that hold the parameters stay valid.

    Example:
        >>> m = nn.Linear(2, 1); load_state(m, zeros_like(get_state(m))); float(m.weight.abs().sum())
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


def _check_keys(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> None:
    if a.keys() != b.keys():
        raise KeyError(f"states have different entries: {sorted(a.keys() ^ b.keys())[:3]}")


def sub(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> State:
    """``a - b`` entry by entry (the task delta ``W_task - W``)."""
    _check_keys(a, b)
    return OrderedDict((k, a[k] - b[k].to(a[k])) for k in a)


def add(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> State:
    """``a + b`` entry by entry."""
    return add_scaled(a, b, 1.0)


def add_scaled(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], scale: float) -> State:
    """``a + scale * b`` entry by entry (the outer update ``W + lambda * mean_delta``)."""
    _check_keys(a, b)
    return OrderedDict((k, a[k] + scale * b[k].to(a[k])) for k in a)


def scale(a: Mapping[str, torch.Tensor], s: float) -> State:
    """``s * a`` entry by entry."""
    return OrderedDict((k, v * s) for k, v in a.items())


def mean_states(states: Sequence[Mapping[str, torch.Tensor]]) -> State:
    """Entry-wise mean of a non-empty list, summed in list order (so the result is deterministic).

    Example:
        >>> mean_states([OrderedDict(x=torch.zeros(1)), OrderedDict(x=torch.ones(1))])["x"].item()
        0.5
    """
    if not states:
        raise ValueError("mean_states needs at least one state")
    first = states[0]
    out = OrderedDict((k, v.detach().clone()) for k, v in first.items())
    for s in states[1:]:
        _check_keys(first, s)
        for k in out:
            out[k] += s[k].to(out[k])
    return OrderedDict((k, v / len(states)) for k, v in out.items())


def zeros_like(a: Mapping[str, torch.Tensor]) -> State:
    """A state of zeros with ``a``'s names, shapes, dtypes and devices."""
    return OrderedDict((k, torch.zeros_like(v)) for k, v in a.items())


def clone_state(a: Mapping[str, torch.Tensor]) -> State:
    """Detached deep copy."""
    return OrderedDict((k, v.detach().clone()) for k, v in a.items())


def state_to(a: Mapping[str, torch.Tensor], device: torch.device | str | None = None,
             dtype: torch.dtype | None = None) -> State:
    """Move/cast every entry (e.g. to ``bfloat16`` on the wire and back to ``float32``)."""
    return OrderedDict((k, v.to(device=device, dtype=dtype)) for k, v in a.items())


def split_state(a: Mapping[str, torch.Tensor]) -> tuple[State, State]:
    """``(arch, weights)``: the ``arch.*`` entries and all others, each in the original order."""
    arch = OrderedDict((k, v) for k, v in a.items() if is_arch(k))
    weights = OrderedDict((k, v) for k, v in a.items() if not is_arch(k))
    return arch, weights


def state_norm(a: Mapping[str, torch.Tensor]) -> float:
    """Global L2 norm over every entry (for logging delta sizes)."""
    return float(torch.sqrt(sum((v.detach().float() ** 2).sum() for v in a.values())))


def is_finite(a: Mapping[str, torch.Tensor]) -> bool:
    """False when any entry holds a NaN or inf."""
    return all(bool(torch.isfinite(v).all()) for v in a.values())


def select(a: Mapping[str, torch.Tensor], names: Iterable[str]) -> State:
    """The sub-dict of ``names``, in ``a``'s order."""
    wanted = set(names)
    return OrderedDict((k, v) for k, v in a.items() if k in wanted)
