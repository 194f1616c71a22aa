"""The architecture distribution q(z | phi): sampling in three modes, its KL, the tau schedule.

``phi`` has shape ``[edges, ops]``; each edge (node k, input i) holds a categorical over the ops.

- ``gumbel`` (the paper, eq. 8): ``z = softmax((phi + xi) / tau)``, ``xi ~ Gumbel(0, 1)``.
- ``hard``: the one-hot ``argmax`` of that sample in the forward pass with the relaxed sample's
  gradient (straight-through), so each edge runs only its sampled op.
- ``softmax``: DARTS's deterministic ``softmax(phi)``.

Example:
    >>> import torch
    >>> phi = torch.zeros(14, 8, requires_grad=True)
    >>> s = sample_arch(phi, "hard", tau=1.0, gen=torch.Generator().manual_seed(0))
    >>> s.weights.sum(-1).tolist() == [1.0] * 14 and len(s.indices) == 14
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from base_dist.config import ArchConfig

MODES = ("gumbel", "hard", "softmax")


@dataclass
class ArchSample:
    """One draw of z for one cell type.

    ``weights``: ``[edges, ops]`` mixing weights (differentiable in phi). ``indices``: in hard mode the
    sampled op per edge (Python ints, so a cell can pick modules without a device sync per edge), else None.
    """

    weights: torch.Tensor
    indices: list[int] | None = None


def gumbel_noise(shape: torch.Size, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """``Gumbel(0, 1)`` noise drawn from ``gen`` (on the generator's device, then moved to ``like``'s)."""
    u = torch.rand(shape, generator=gen, device=gen.device, dtype=torch.float32)
    # Clamp away from 0 and 1: log(0) would give inf and poison the whole sample.
    u = u.clamp_(1e-10, 1.0 - 1e-7)
    return (-torch.log(-torch.log(u))).to(device=like.device, dtype=like.dtype)


def sample_arch(phi: torch.Tensor, mode: str, *, tau: float = 1.0, gen: torch.Generator | None = None) -> ArchSample:
    """Draw z from ``phi`` in ``mode``; ``gen=None`` gives the deterministic softmax whatever the mode.

    Example:
        >>> sample_arch(torch.zeros(2, 4), "gumbel").weights.tolist()
        [[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]]
    """
    if mode not in MODES:
        raise ValueError(f"unknown architecture mode {mode!r}; expected one of {MODES}")
    if gen is None or mode == "softmax":
        return ArchSample(F.softmax(phi, dim=-1))
    soft = F.softmax((phi + gumbel_noise(phi.shape, gen, phi)) / tau, dim=-1)
    if mode == "gumbel":
        return ArchSample(soft)
    index = soft.argmax(dim=-1)
    hard = F.one_hot(index, phi.shape[-1]).to(soft.dtype)
    # Straight-through: the value is the one-hot, the gradient is the relaxed sample's.
    return ArchSample(hard - soft.detach() + soft, index.tolist())


def argmax_arch(phi: torch.Tensor) -> ArchSample:
    """The most probable op of every edge as a one-hot sample (the discrete network phi encodes).

    Example:
        >>> argmax_arch(torch.tensor([[0.0, 2.0], [1.0, 0.0]])).indices
        [1, 0]
    """
    index = phi.detach().argmax(dim=-1)
    return ArchSample(F.one_hot(index, phi.shape[-1]).to(phi.dtype), index.tolist())


def eval_mode_of(cfg: ArchConfig) -> str:
    """How the posterior mean is evaluated: ``softmax`` (mix every op) or ``argmax`` (one op per edge).

    ``auto`` evaluates the network the way it was trained: ``argmax`` after ``hard`` training (each
    step ran one op per edge, so the softmax mixture is a network that was never trained), else
    ``softmax``.

    Example:
        >>> eval_mode_of(ArchConfig(mode="hard")), eval_mode_of(ArchConfig(mode="gumbel"))
        ('argmax', 'softmax')
    """
    if cfg.eval_mode != "auto":
        return cfg.eval_mode
    return "argmax" if cfg.mode == "hard" else "softmax"


def categorical_kl_uniform(phi: torch.Tensor) -> torch.Tensor:
    """``sum_edges KL(softmax(phi_e) || Uniform(ops))``: zero iff every edge is uniform.

    This is the KL of q(z) to the prior p(z; alpha) with alpha uniform, taken on the categorical
    probabilities (the relaxed Gumbel densities have no closed form).

    Example:
        >>> float(categorical_kl_uniform(torch.zeros(3, 8)))
        0.0
    """
    logp = F.log_softmax(phi, dim=-1)
    return (logp.exp() * (logp + math.log(phi.shape[-1]))).sum()


def tau_at(cfg: ArchConfig, round_index: int) -> float:
    """The Gumbel temperature at an outer round: geometric from ``tau_start`` to ``tau_end``.

    Geometric rather than linear because the sharpness of softmax(./tau) scales with 1/tau.

    Example:
        >>> tau_at(ArchConfig(tau_start=1.0, tau_end=0.25, tau_anneal_rounds=2), 1)
        0.5
    """
    if cfg.tau_anneal_rounds <= 0:
        return cfg.tau_start
    frac = min(max(round_index, 0), cfg.tau_anneal_rounds) / cfg.tau_anneal_rounds
    return float(cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** frac)
