"""Discrete full networks built from a genotype (DARTS's retraining networks), CIFAR- and ImageNet-style.

- ``cifar``: a 3x3 stem to ``3C`` channels at full resolution, L cells, reductions at 1/3 and 2/3 depth.
- ``imagenet``: two stride-2 stems and a third stride-2 stem (input / 8 before the first cell), then
  L cells with the same reduction placement (the DARTS "mobile setting").

Both have an optional auxiliary head after the 2/3-depth cell and drop-path on every non-identity op.

Example:
    >>> import torch
    >>> net = create_network("darts_v2", channels=8, layers=3, num_classes=10)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from base_dist.errors import UserError
from base_dist.space.genotypes import Genotype, get_genotype, validate_genotype
from base_dist.space.metanet import reduction_layers
from base_dist.space.ops import DEFAULT_CONTEXT, OPS, FactorizedReduce, Identity, ReLUConvBN, check_ops, create_op

# Full networks use DARTS's retraining ops: affine BN with running statistics, plain convs.
_CTX = DEFAULT_CONTEXT

Macro = Literal["cifar", "imagenet"]


def drop_path(x: torch.Tensor, drop_prob: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Zero whole samples of a branch with probability ``drop_prob`` and rescale the rest (training only).

    Example:
        >>> drop_path(torch.ones(4, 1), 0.0).sum().item()
        4.0
    """
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.rand((x.shape[0], 1, 1, 1), generator=gen, device=x.device if gen is None else gen.device)
    mask = (mask < keep).to(device=x.device, dtype=x.dtype)
    return x * mask / keep


class Cell(nn.Module):
    """A discrete cell: each node sums two (op, input) pairs of the genotype."""

    def __init__(self, genotype: Genotype, C_pp: int, C_p: int, C: int, *, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(C_pp, C, _CTX) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 0, _CTX)
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, _CTX)
        pairs = genotype.reduce if reduction else genotype.normal
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.inputs = [i for _, i in pairs]
        self.ops = nn.ModuleList(create_op(name, C, 2 if reduction and i < 2 else 1, _CTX) for name, i in pairs)
        self.nodes = len(pairs) // 2
        self.out_channels = len(self.concat) * C

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0,
                gen: torch.Generator | None = None) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(self.nodes):
            total = None
            for n in (2 * k, 2 * k + 1):
                op = self.ops[n]
                h = op(states[self.inputs[n]])
                # Identity paths are never dropped (DARTS): dropping them would cut the residual route.
                if self.training and drop_prob > 0 and not isinstance(op, Identity):
                    h = drop_path(h, drop_prob, gen)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """The auxiliary classifier (DARTS) after the 2/3-depth cell.

    Adaptive pooling to 2x2 instead of DARTS's fixed 5x5/3 pool: identical for 8x8 CIFAR maps and
    valid for any feature size; its parameters (not counted in the published sizes) are unchanged.
    """

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _stem(macro: Macro, in_channels: int, C: int, stem_multiplier: int) -> tuple[nn.Module, int, bool]:
    """(stem, its output channels, whether the first cell sees a reduced previous input)."""
    if macro == "cifar":
        c = stem_multiplier * C
        return nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)), c, False
    # ImageNet: stem0 strides by 4, stem1 by 2 more; s0 and s1 differ in resolution -> reduction_prev.
    return _ImageNetStem(in_channels, C), C, True


class _ImageNetStem(nn.Module):
    def __init__(self, in_channels: int, C: int) -> None:
        super().__init__()
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
                                   nn.BatchNorm2d(C))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)


class Network(nn.Module):
    """A full network: stem, L discrete cells, global pooling, linear classifier (+ auxiliary head).

    ``drop_gen`` (a ``torch.Generator`` on the network's device, or None for the global RNG) draws the
    drop-path masks; training loops set it per epoch so that a seed, not global state, fixes them.
    """

    def __init__(self, genotype: Genotype, *, macro: Macro = "cifar", channels: int = 36, layers: int = 20,
                 num_classes: int = 10, in_channels: int = 3, auxiliary: bool = False,
                 drop_path_prob: float = 0.0, stem_multiplier: int = 3) -> None:
        super().__init__()
        if macro not in ("cifar", "imagenet"):
            raise UserError(f"unknown macro structure {macro!r}; expected cifar or imagenet")
        self.macro, self.drop_path_prob = macro, drop_path_prob
        self.drop_gen: torch.Generator | None = None
        self.stem, c_stem, reduction_prev = _stem(macro, in_channels, channels, stem_multiplier)
        reductions = reduction_layers(layers)
        self.aux_layer = 2 * layers // 3
        c_pp, c_p, c_cur = c_stem, c_stem, channels
        self.cells = nn.ModuleList()
        c_aux = c_p
        for layer in range(layers):
            reduction = layer in reductions
            if reduction:
                c_cur *= 2
            cell = Cell(genotype, c_pp, c_p, c_cur, reduction=reduction, reduction_prev=reduction_prev)
            self.cells.append(cell)
            c_pp, c_p = c_p, cell.out_channels
            reduction_prev = reduction
            if layer == self.aux_layer:
                c_aux = c_p
        self.auxiliary_head = AuxiliaryHead(c_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, auxiliary logits)``; the latter only in training mode with an auxiliary head."""
        if self.macro == "cifar":
            s0 = s1 = self.stem(x)
        else:
            s0, s1 = self.stem(x)
        aux = None
        for layer, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob, self.drop_gen)
            if layer == self.aux_layer and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1)), aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_aux(x)[0]


NETWORKS: dict[str, Callable[..., Network]] = {
    "cifar": lambda genotype, **kw: Network(genotype, macro="cifar", **kw),
    "imagenet": lambda genotype, **kw: Network(genotype, macro="imagenet", **kw),
}


def create_network(genotype: Genotype | str | Path, *, macro: str = "cifar", channels: int = 36, layers: int = 20,
                   num_classes: int = 10, in_channels: int = 3, auxiliary: bool = False,
                   drop_path_prob: float = 0.0) -> Network:
    """Build the full network of ``genotype`` (a :class:`Genotype`, registry name or file path).

    Example:
        >>> net = create_network("base_imagenet", macro="imagenet", channels=8, layers=3, num_classes=5)
        >>> net(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 5])
    """
    g = genotype if isinstance(genotype, Genotype) else get_genotype(genotype)
    g = validate_genotype(g, ops=sorted(OPS))
    check_ops([name for name, _ in g.normal + g.reduce])
    if macro not in NETWORKS:
        raise UserError(f"unknown macro structure {macro!r}; expected one of {', '.join(NETWORKS)}")
    return NETWORKS[macro](g, channels=channels, layers=layers, num_classes=num_classes, in_channels=in_channels,
                           auxiliary=auxiliary, drop_path_prob=drop_path_prob)
