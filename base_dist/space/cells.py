"""Search cells: K nodes, each the z-weighted sum over every (input, op) pair (eq. 1).

Edges are numbered node by node: node k (0-based) reads states ``0 .. k+1`` (the two cell inputs,
then earlier nodes), so K nodes have ``sum_k (k + 2)`` edges (14 for K = 4); row e of ``phi`` is edge e.

Example:
    >>> import torch
    >>> cell = SearchCell(6, 6, 4, reduction=False, reduction_prev=False, ops=["skip_connect", "avg_pool_3x3"])
    >>> w = torch.full((num_edges(4), 2), 0.5)
    >>> cell(torch.zeros(2, 6, 8, 8), torch.zeros(2, 6, 8, 8), w).shape
    torch.Size([2, 16, 8, 8])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from base_dist.space.ops import FactorizedReduce, OpContext, ReLUConvBN, create_op


def num_edges(nodes: int) -> int:
    """Number of (node, input) edges of a cell with ``nodes`` intermediate nodes.

    Example:
        >>> num_edges(4)
        14
    """
    return sum(k + 2 for k in range(nodes))


def edge_index(nodes: int) -> list[tuple[int, int]]:
    """``[(node, input), ...]`` in edge order.

    Example:
        >>> edge_index(2)
        [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    """
    return [(k, i) for k in range(nodes) for i in range(k + 2)]


class MixedEdge(nn.Module):
    """All candidate ops of one edge; runs all of them (soft) or only the sampled one (hard)."""

    def __init__(self, C: int, stride: int, ops: Sequence[str], ctx: OpContext) -> None:
        super().__init__()
        self.ops = nn.ModuleList(create_op(name, C, stride, ctx) for name in ops)

    def forward(self, x: torch.Tensor, weights: Sequence[torch.Tensor], index: int | None = None) -> torch.Tensor:
        """``weights``: this edge's per-op scalars; ``index``: the sampled op (hard mode) or None."""
        if index is not None:
            # The fast path: one op. Multiplying by its (straight-through) weight keeps phi's gradient.
            return weights[index] * self.ops[index](x)
        out = weights[0] * self.ops[0](x)
        for w, op in zip(weights[1:], self.ops[1:], strict=True):
            out = out + w * op(x)
        return out


class SearchCell(nn.Module):
    """A normal or reduction cell of the supernet; its architecture weights come from outside.

    All cells of one type read the same ``[edges, ops]`` weights: the architecture is shared, the
    operation weights are per cell.
    """

    def __init__(self, C_pp: int, C_p: int, C: int, *, reduction: bool, reduction_prev: bool,
                 ops: Sequence[str], nodes: int = 4, ctx: OpContext | None = None) -> None:
        super().__init__()
        ctx = ctx or OpContext(affine=False, track_running_stats=False)
        self.reduction, self.nodes = reduction, nodes
        # The older input is at twice the resolution after a reduction: reduce it to match.
        self.preprocess0 = FactorizedReduce(C_pp, C, ctx) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 0, ctx)
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, ctx)
        self.edges = nn.ModuleList(
            MixedEdge(C, 2 if reduction and i < 2 else 1, ops, ctx) for _, i in edge_index(nodes)
        )
        self.out_channels = nodes * C

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor | Sequence[Sequence[torch.Tensor]],
                indices: Sequence[int] | None = None) -> torch.Tensor:
        """``weights``: ``[edges, ops]`` (a tensor, or pre-split rows); ``indices``: hard-mode op per edge."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        e = 0
        for k in range(self.nodes):
            total = None
            for i in range(k + 2):
                y = self.edges[e](states[i], weights[e], None if indices is None else indices[e])
                total = y if total is None else total + y
                e += 1
            states.append(total)
        return torch.cat(states[2:], dim=1)
