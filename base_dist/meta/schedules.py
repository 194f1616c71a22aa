"""Schedules indexed by the outer round: the outer step size lambda and the Gumbel temperature tau.

Rounds are 0-based: round ``r`` is the ``r+1``-th outer iteration of Algorithm 1.
"""

from __future__ import annotations

import math

from base_dist.config import ArchConfig, MetaConfig
from base_dist.space.arch import tau_at as _space_tau_at


def outer_lr_at(meta: MetaConfig, round_idx: int) -> float:
    """lambda for round ``round_idx`` (0-based).

    ``constant``: ``outer_lr`` every round. ``linear``: from ``outer_lr`` at round 0 to
    ``outer_lr_end`` at the last round (``rounds - 1``). ``cosine``: half a cosine between the same
    end points. A single-round run uses ``outer_lr``.

    Example:
        >>> from base_dist.config import MetaConfig
        >>> m = MetaConfig(rounds=3, outer_lr=1.0, outer_lr_end=0.0, outer_lr_schedule="linear")
        >>> [outer_lr_at(m, r) for r in range(3)]
        [1.0, 0.5, 0.0]
    """
    start, end = meta.outer_lr, meta.outer_lr_end
    if meta.outer_lr_schedule == "constant" or meta.rounds <= 1:
        return float(start)
    frac = min(max(round_idx, 0), meta.rounds - 1) / (meta.rounds - 1)
    if meta.outer_lr_schedule == "linear":
        return float(start + (end - start) * frac)
    return float(end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * frac)))


def outer_lr_factor(meta: MetaConfig, round_idx: int) -> float:
    """``outer_lr_at(r) / outer_lr``: the schedule as a multiplier (used to scale the outer Adam lrs).

    Example:
        >>> from base_dist.config import MetaConfig
        >>> outer_lr_factor(MetaConfig(outer_lr=2.0), 5)
        1.0
    """
    return outer_lr_at(meta, round_idx) / meta.outer_lr


def tau_at(arch: ArchConfig, round_idx: int) -> float:
    """Gumbel-softmax temperature for round ``round_idx`` (delegates to :func:`base_dist.space.arch.tau_at`).

    Geometric annealing from ``tau_start`` (round 0) to ``tau_end`` (round ``tau_anneal_rounds``),
    then constant; ``tau_anneal_rounds == 0`` keeps ``tau_start``.

    Example:
        >>> from base_dist.config import ArchConfig
        >>> a = ArchConfig(tau_start=1.0, tau_end=0.25, tau_anneal_rounds=2)
        >>> [tau_at(a, r) for r in range(4)]
        [1.0, 0.5, 0.25, 0.25]
    """
    return float(_space_tau_at(arch, round_idx))
