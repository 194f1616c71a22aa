"""Few-shot networks: MAML's 4-conv net, the matched genotype net, transductive BatchNorm."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from base_dist.errors import UserError
from base_dist.space.fewshot_nets import (
    Conv4,
    create_fewshot_network,
    matched_channels,
    network_genotype,
    network_width,
    parameter_count,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_conv4_is_maml_s_network():
    net = create_fewshot_network("conv4", in_channels=1, n_way=5, image_size=28)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 32, (3, 3))] + [(32, 32, (3, 3))] * 3
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 4
    assert parameter_count(net) == 28485 and net.classifier.in_features == 32
    assert Conv4(3, 5, 84).classifier.in_features == 32 * 5 * 5  # Mini-ImageNet's 800 features


def test_batchnorm_is_transductive_in_both_networks():
    x = torch.randn(6, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    for name in ("conv4", "darts_v2"):
        net = create_fewshot_network(name, 1, 5, 16, channels=None if name == "conv4" else 4, layers=3)
        assert not list(net.buffers())  # no running statistics: a pure function of its parameters
        train_out = net.train()(x)
        assert torch.equal(net.eval()(x), train_out)  # eval mode uses batch statistics too
        # A batch's statistics are its own: the same image scores differently beside other images.
        assert not torch.allclose(net(x[:3])[0], train_out[0])
        params = {k: v * 1.0 for k, v in net.named_parameters()}
        assert torch.equal(functional_call(net, params, (x,)), train_out)


def test_genotype_network_matches_conv4_parameter_count():
    conv4 = parameter_count(create_fewshot_network("conv4", 1, 5, 28))
    g = create_fewshot_network("darts_v2", 1, 5, 28)
    assert network_width("darts_v2", 1, 5, 28) == 8 == matched_channels("darts_v2", conv4, in_channels=1, n_way=5)
    assert abs(parameter_count(g) - conv4) / conv4 < 0.05
    assert g(torch.zeros(2, 1, 28, 28)).shape == (2, 5)


def test_param_ratio_scales_the_genotype_network_and_leaves_conv4_alone():
    conv4 = parameter_count(create_fewshot_network("conv4", 1, 5, 16, param_ratio=4.0))
    assert conv4 == parameter_count(create_fewshot_network("conv4", 1, 5, 16))
    wide = parameter_count(create_fewshot_network("darts_v2", 1, 5, 16, layers=3, param_ratio=4.0))
    assert abs(wide - 4 * conv4) / (4 * conv4) < 0.05


def test_conv4_wide_is_conv4_at_the_param_ratio():
    assert parameter_count(create_fewshot_network("conv4-wide", 1, 5, 16)) == 28485  # ratio 1: conv4 itself
    wide = create_fewshot_network("conv4-wide", 1, 5, 16, param_ratio=4.0)
    assert wide.classifier.in_features == 64 and parameter_count(wide) == 112261  # 3.94x, the closest width
    assert network_genotype("conv4-wide") is None


def test_conv_stem_puts_conv4_blocks_before_the_cells_at_matched_size():
    conv4 = parameter_count(create_fewshot_network("conv4", 1, 5, 16))
    for k in (1, 2):
        net = create_fewshot_network("darts_v2", 1, 5, 16, layers=3, conv_stem=k)
        pools = [m for m in net.stem if isinstance(m, torch.nn.MaxPool2d)]
        assert len(pools) == k and net.stem(torch.zeros(2, 1, 16, 16)).shape[-1] == 16 // 2 ** k
        assert abs(parameter_count(net) - conv4) / conv4 < 0.1
        assert net(torch.zeros(3, 1, 16, 16)).shape == (3, 5)
    assert parameter_count(create_fewshot_network("conv4", 1, 5, 16, conv_stem=2)) == conv4  # conv4 ignores it
    with pytest.raises(UserError, match="conv_stem=3 pools 16 px images to 2 px"):
        create_fewshot_network("darts_v2", 1, 5, 16, layers=3, conv_stem=3)


def test_bad_networks_are_one_line_errors():
    with pytest.raises(UserError, match="at least 16 px"):
        create_fewshot_network("conv4", 1, 5, 8)
    with pytest.raises(UserError, match="not 'conv4'") as err:
        create_fewshot_network("resnet12", 1, 5, 28)
    assert "\n" not in str(err.value)


def test_feature_norm_standardises_what_the_classifier_sees():
    x = torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 5
    torch.manual_seed(0)
    net = create_fewshot_network("darts_v2", 1, 5, 16, channels=4, layers=2)
    seen = {}
    net.classifier[1].register_forward_hook(lambda m, args, out: seen.update(features=args[0]))
    net(x)
    feats = seen["features"]
    assert torch.allclose(feats.mean(0), torch.zeros(feats.shape[1]), atol=1e-5)
    assert torch.allclose(feats.var(0, unbiased=False), torch.ones(feats.shape[1]), atol=1e-3)
    plain = create_fewshot_network("darts_v2", 1, 5, 16, channels=4, layers=2, feature_norm=False)
    assert isinstance(plain.classifier, torch.nn.Linear)  # DARTS's head: pooling straight into the classifier
    assert parameter_count(net) - parameter_count(plain) == 4 * net.classifier[1].in_features  # two affine BNs
