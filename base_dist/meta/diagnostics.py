"""Does meta-training learn? Per-round diagnostics of W and of the round's task deltas.

Five parameter groups, by name: ``phi`` (``arch.*``), ``heads``, ``cells`` (the cell weights' means
``mu`` and plain tensors), ``rho`` (the Gaussian layers' sigma parameters, kept apart: their large
constant init would swamp the relative displacement of ``mu``) and ``classifier``.

- **Delta coherence** per group: ``||mean_c delta_c|| / mean_c ||delta_c||``. 1 when every task
  pushes W the same way, ``1/sqrt(C)`` for C orthogonal deltas (pure noise), 0 for cancelling ones.
  Reptile's shared direction only builds up where it is clearly above ``1/sqrt(C)``.
- **Displacement** of W from its seeded initialisation per group: ``||W - W0|| / ||W0||`` for the
  weights; for ``phi`` (initialised at zero) the plain ``||W - W0||``.
- **Architecture**: mean entropy of softmax(phi) over every edge, and the largest top-1 minus top-2
  logit gap of any edge.
- **sigma**: the mean posterior standard deviation over the Gaussian weights.

Example:
    >>> import torch
    >>> layout = GroupLayout.of({"arch.normal": torch.zeros(2), "cells.0.mu": torch.zeros(2)})
    >>> acc = CoherenceAccumulator(layout)
    >>> for d in (torch.tensor([1., 0, 1, 1]), torch.tensor([1., 0, 1, 1])): acc.add(d)
    >>> acc.coherence(torch.tensor([1., 0, 1, 1]))["coh_cells"]
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from base_dist.config import PARAM_GROUPS
from base_dist.space.bayes import sigma_from_rho
from base_dist.space.meta_state import Layout, is_arch

GROUPS = PARAM_GROUPS


def group_of(name: str) -> str:
    """The diagnostic group of a W entry.

    Example:
        >>> [group_of(n) for n in ("arch.reduce", "heads.c1_s16.0.weight", "cells.3.x.mu", "cells.3.x.rho",
        ...                        "classifiers.way5.bias")]
        ['phi', 'heads', 'cells', 'rho', 'classifier']
    """
    if is_arch(name):
        return "phi"
    if name.endswith(".rho"):
        return "rho"
    head = name.split(".", 1)[0]
    return {"heads": "heads", "cells": "cells", "classifiers": "classifier", "pooled": "pooled"}.get(head, "cells")


@dataclass(frozen=True)
class GroupLayout:
    """Where each group lies in W's flat vector: ``(group, start, end)`` runs in W order."""

    runs: tuple[tuple[str, int, int], ...]

    @classmethod
    def of(cls, W: Mapping[str, Tensor]) -> GroupLayout:
        runs: list[tuple[str, int, int]] = []
        at = 0
        for name, v in W.items():
            g, n = group_of(name), int(v.numel())
            if runs and runs[-1][0] == g and runs[-1][2] == at:
                runs[-1] = (g, runs[-1][1], at + n)  # merge: groups are contiguous in practice
            else:
                runs.append((g, at, at + n))
            at += n
        return cls(tuple(runs))

    def sq_norms(self, flat: Tensor) -> dict[str, float]:
        """Squared L2 norm of each present group of a flat vector."""
        out: dict[str, float] = {}
        for g, start, end in self.runs:
            out[g] = out.get(g, 0.0) + float(flat[start:end].double().square().sum())
        return out


class CoherenceAccumulator:
    """Collects per-group norms of each delta as the driver folds them (see :func:`fold_mean`)."""

    def __init__(self, layout: GroupLayout) -> None:
        self.layout = layout
        self.norm_sums: dict[str, float] = {}
        self.count = 0

    def add(self, flat_delta: Tensor) -> None:
        for g, sq in self.layout.sq_norms(flat_delta).items():
            self.norm_sums[g] = self.norm_sums.get(g, 0.0) + math.sqrt(sq)
        self.count += 1

    def coherence(self, flat_mean: Tensor) -> dict[str, float]:
        """``coh_<group>`` for every group; NaN where the deltas of a group are all zero."""
        out = {}
        for g, sq in self.layout.sq_norms(flat_mean).items():
            mean_norm = self.norm_sums.get(g, 0.0) / max(self.count, 1)
            out[f"coh_{g}"] = math.sqrt(sq) / mean_norm if mean_norm > 0 else float("nan")
        return out


def displacement(W: Mapping[str, Tensor], W0: Mapping[str, Tensor]) -> dict[str, float]:
    """``disp_<group>``: relative L2 distance of W from ``W0`` (absolute for ``phi``).

    Example:
        >>> import torch
        >>> round(displacement({"cells.w": torch.full((4,), 1.1)}, {"cells.w": torch.ones(4)})["disp_cells"], 6)
        0.1
    """
    layout, flat = GroupLayout.of(W0), Layout.of(W0)
    diff = layout.sq_norms(flat.flatten(W) - flat.flatten(W0))
    base = layout.sq_norms(flat.flatten(W0))
    out = {}
    for g, sq in diff.items():
        ref = 1.0 if g == "phi" else math.sqrt(base.get(g, 0.0))
        out[f"disp_{g}"] = math.sqrt(sq) / ref if ref > 0 else float("nan")
    return out


def arch_stats(W: Mapping[str, Tensor]) -> dict[str, float]:
    """``arch_entropy`` (mean over edges, nats) and ``arch_gap`` (largest top-1 minus top-2 logit).

    Example:
        >>> import torch
        >>> s = arch_stats({"arch.normal": torch.tensor([[2.0, 0.5, 0.0]])})
        >>> round(s["arch_gap"], 3)
        1.5
    """
    logits = [v.detach().float().reshape(-1, v.shape[-1]) for k, v in W.items() if is_arch(k)]
    if not logits:
        return {}
    phi = torch.cat(logits)
    logp = torch.log_softmax(phi, dim=-1)
    entropy = float(-(logp.exp() * logp).sum(-1).mean())
    top = phi.topk(min(2, phi.shape[-1]), dim=-1).values
    gap = float((top[:, 0] - top[:, -1]).max()) if top.shape[-1] > 1 else 0.0
    return {"arch_entropy_W": entropy, "arch_gap": gap}


def sigma_mean(W: Mapping[str, Tensor], sigma_param: str) -> float:
    """Mean posterior sigma over every ``*.rho`` entry of W (NaN without Gaussian weights).

    Example:
        >>> import torch
        >>> round(sigma_mean({"c.rho": torch.tensor([0.01, 0.03])}, "linear"), 3)
        0.02
    """
    total, n = 0.0, 0
    for k, v in W.items():
        if k.endswith(".rho"):
            total += float(sigma_from_rho(v.detach().float(), sigma_param).double().sum())
            n += v.numel()
    return total / n if n else float("nan")


def w_diagnostics(W: Mapping[str, Tensor], W0: Mapping[str, Tensor], sigma_param: str) -> dict[str, float]:
    """Everything the driver logs about W itself after a round (displacement, architecture, sigma)."""
    return {**displacement(W, W0), **arch_stats(W), "sigma_mean": sigma_mean(W, sigma_param)}


def progress_extra(row: Mapping[str, float]) -> dict[str, float]:
    """The diagnostics worth a place on the one-line progress display (those present in ``row``).

    Example:
        >>> progress_extra({"train_loss": 1.0, "adapt_gain": 0.2, "coh_cells": 0.5, "other": 3.0})
        {'train loss': 1.0, 'gain': 0.2, 'coh cells': 0.5}
    """
    keys = {"train_loss": "train loss", "adapt_gain": "gain", "coh_cells": "coh cells",
            "arch_entropy_W": "H(phi)"}
    return {label: float(row[k]) for k, label in keys.items() if k in row}
