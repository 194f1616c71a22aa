"""Ops registry: shapes at stride 1 and 2, configurable set, unknown names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from base_dist.config import DARTS_OPS, SpaceConfig
from base_dist.errors import UserError
from base_dist.space.bayes import BayesConv2d, NoiseSource
from base_dist.space.metanet import create_metanet
from base_dist.space.ops import OPS, OpContext, ReLUConvBN, create_op, register_op

SUPERNET = OpContext(conv=lambda *a, **k: BayesConv2d(*a, noise=NoiseSource(), **k), affine=False,
                     track_running_stats=False)


@pytest.mark.parametrize("ctx", [None, SUPERNET], ids=["full", "supernet"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", [*DARTS_OPS, "conv_7x1_1x7"])
def test_op_shape(name: str, stride: int, ctx: OpContext | None) -> None:
    x = torch.randn(2, 6, 9, 9)  # odd size: the stride-2 ops must agree on ceil(9 / 2) = 5
    y = create_op(name, 6, stride, ctx)(x)
    assert y.shape == (2, 6, 5, 5) if stride == 2 else y.shape == x.shape


def test_supernet_ops_have_no_buffers() -> None:
    for name in DARTS_OPS:
        op = create_op(name, 4, 2, SUPERNET)
        assert list(op.buffers()) == [], name


def test_unknown_op_is_a_user_error_naming_it() -> None:
    with pytest.raises(UserError, match="'conv_9x9'"):
        create_op("conv_9x9", 4, 1)
    with pytest.raises(UserError, match="'conv_9x9'"):
        create_metanet(SpaceConfig(ops=["skip_connect", "conv_9x9"], channels=2, layers=1))


def test_subset_and_registered_extra_op() -> None:
    @register_op("test_conv_1x1")
    def _conv1x1(C: int, stride: int, ctx: OpContext) -> nn.Module:
        return ReLUConvBN(C, C, 1, stride, 0, ctx)

    try:
        net = create_metanet(SpaceConfig(ops=["skip_connect", "test_conv_1x1"], channels=2, layers=2), seed=0)
        assert net.arch.normal.shape == (14, 2)
        out = net(torch.randn(2, 1, 16, 16), n_way=5, gen=torch.Generator().manual_seed(0))
        assert out.shape == (2, 5)
    finally:
        OPS.pop("test_conv_1x1")
