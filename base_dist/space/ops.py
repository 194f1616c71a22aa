"""The candidate operations: a registry of builders, DARTS's set by name.

A builder is ``fn(C, stride, ctx) -> nn.Module`` mapping ``[n, C, H, W]`` to
``[n, C, H/stride, W/stride]``. ``ctx`` (an :class:`OpContext`) says which convolution to use (plain
``nn.Conv2d`` for full networks, a Gaussian :class:`~base_dist.space.bayes.BayesConv2d` in the
meta-network) and how BatchNorm behaves, so one set of builders serves both.

Example:
    >>> import torch
    >>> create_op("sep_conv_3x3", 4, 2)(torch.zeros(2, 4, 8, 8)).shape
    torch.Size([2, 4, 4, 4])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from base_dist.config import DARTS_OPS
from base_dist.errors import UserError

ConvFactory = Callable[..., nn.Module]  # (C_in, C_out, kernel_size, stride=, padding=, dilation=, groups=)
OpBuilder = Callable[[int, int, "OpContext"], nn.Module]


@dataclass(frozen=True)
class OpContext:
    """How ops are built: the conv factory and the BatchNorm flavour.

    Full networks use the defaults (DARTS retraining: affine BN with running stats). The supernet uses
    affine-free BN without running statistics: nothing but ``nn.Parameter`` may be meta-learned.
    """

    conv: ConvFactory = field(default=partial(nn.Conv2d, bias=False))
    affine: bool = True
    track_running_stats: bool = True

    def bn(self, C: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(C, affine=self.affine, track_running_stats=self.track_running_stats)


DEFAULT_CONTEXT = OpContext()

OPS: dict[str, OpBuilder] = {}


def register_op(name: str) -> Callable[[OpBuilder], OpBuilder]:
    """Decorator adding a builder to the registry under ``name``.

    Example:
        >>> @register_op("conv_1x1_example")
        ... def _conv1x1(C, stride, ctx):
        ...     return ReLUConvBN(C, C, 1, stride, 0, ctx)
        >>> "conv_1x1_example" in OPS
        True
    """

    def deco(fn: OpBuilder) -> OpBuilder:
        OPS[name] = fn
        return fn

    return deco


def check_ops(names: list[str]) -> None:
    """Raise :class:`UserError` naming the first op that is not registered."""
    for name in names:
        if name not in OPS:
            raise UserError(f"unknown operation {name!r}; registered: {', '.join(sorted(OPS))}")


def create_op(name: str, C: int, stride: int, ctx: OpContext | None = None) -> nn.Module:
    """Build the op ``name`` on ``C`` channels with ``stride`` (1 or 2).

    Example:
        >>> type(create_op("skip_connect", 8, 2)).__name__
        'FactorizedReduce'
    """
    check_ops([name])
    return OPS[name](C, stride, ctx or DEFAULT_CONTEXT)


# ----------------------------------------------------------------------------- building blocks
class ReLUConvBN(nn.Sequential):
    """ReLU -> conv -> BN (the preprocessing of cell inputs, and 1x1 ops)."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, ctx: OpContext) -> None:
        super().__init__(nn.ReLU(inplace=False), ctx.conv(C_in, C_out, kernel, stride=stride, padding=padding),
                         ctx.bn(C_out))


class DilConv(nn.Sequential):
    """ReLU -> depthwise (dilated) conv -> pointwise conv -> BN."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 ctx: OpContext) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            ctx.conv(C_in, C_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=C_in),
            ctx.conv(C_in, C_out, 1, padding=0),
            ctx.bn(C_out),
        )


class SepConv(nn.Sequential):
    """Two stacked DilConv blocks with dilation 1 (only the first strides), as in DARTS."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, ctx: OpContext) -> None:
        super().__init__(
            DilConv(C_in, C_in, kernel, stride, padding, 1, ctx),
            DilConv(C_in, C_out, kernel, 1, padding, 1, ctx),
        )


class Identity(nn.Module):
    """The skip connection at stride 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape (no dependence on x, so no gradient through it)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.stride
        return x.new_zeros(n, c, (h + s - 1) // s, (w + s - 1) // s)


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two 1x1 stride-2 convs, one shifted by a pixel."""

    def __init__(self, C_in: int, C_out: int, ctx: OpContext) -> None:
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even C_out, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = ctx.conv(C_in, C_out // 2, 1, stride=2, padding=0)
        self.conv_2 = ctx.conv(C_in, C_out // 2, 1, stride=2, padding=0)
        self.bn = ctx.bn(C_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        a = self.conv_1(x)
        # The shifted branch sees the odd pixels; pad odd sizes so both branches agree on the shape.
        shifted = x[:, :, 1:, 1:]
        if x.shape[-1] % 2:
            shifted = nn.functional.pad(shifted, (0, 1, 0, 1))
        b = self.conv_2(shifted)
        return self.bn(torch.cat([a, b], dim=1))


class PoolBN(nn.Sequential):
    """A 3x3 pool, followed by BN where asked (the supernet: it rescales pools like the conv ops)."""

    def __init__(self, kind: str, C: int, stride: int, ctx: OpContext, bn: bool) -> None:
        pool = (nn.MaxPool2d(3, stride=stride, padding=1) if kind == "max"
                else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
        super().__init__(pool, *([ctx.bn(C)] if bn else []))


def _pool_bn(ctx: OpContext) -> bool:
    # Full networks (affine BN with running stats) follow DARTS: no BN after pools; the supernet adds one.
    return not (ctx.affine and ctx.track_running_stats)


# ----------------------------------------------------------------------------- the DARTS set
@register_op("none")
def _none(C: int, stride: int, ctx: OpContext) -> nn.Module:
    return Zero(stride)


@register_op("max_pool_3x3")
def _max_pool(C: int, stride: int, ctx: OpContext) -> nn.Module:
    return PoolBN("max", C, stride, ctx, _pool_bn(ctx))


@register_op("avg_pool_3x3")
def _avg_pool(C: int, stride: int, ctx: OpContext) -> nn.Module:
    return PoolBN("avg", C, stride, ctx, _pool_bn(ctx))


@register_op("skip_connect")
def _skip(C: int, stride: int, ctx: OpContext) -> nn.Module:
    return Identity() if stride == 1 else FactorizedReduce(C, C, ctx)


@register_op("sep_conv_3x3")
def _sep3(C: int, stride: int, ctx: OpContext) -> nn.Module:
    return SepConv(C, C, 3, stride, 1, ctx)


@register_op("sep_conv_5x5")
def _sep5(C: int, stride: int, ctx: OpContext) -> nn.Module:
    return SepConv(C, C, 5, stride, 2, ctx)


@register_op("dil_conv_3x3")
def _dil3(C: int, stride: int, ctx: OpContext) -> nn.Module:
    return DilConv(C, C, 3, stride, 2, 2, ctx)


@register_op("dil_conv_5x5")
def _dil5(C: int, stride: int, ctx: OpContext) -> nn.Module:
    return DilConv(C, C, 5, stride, 4, 2, ctx)


# An extra op outside the default set (DARTS defines it too): opt in with space.ops.
@register_op("conv_7x1_1x7")
def _conv_7x1_1x7(C: int, stride: int, ctx: OpContext) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        ctx.conv(C, C, (1, 7), stride=(1, stride), padding=(0, 3)),
        ctx.conv(C, C, (7, 1), stride=(stride, 1), padding=(3, 0)),
        ctx.bn(C),
    )


assert all(name in OPS for name in DARTS_OPS)  # the config's default list must stay buildable
