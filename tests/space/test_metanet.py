"""The meta-network: modes, hard fast path, reproducible samples, KL, the W contract."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from base_dist.config import SpaceConfig
from base_dist.errors import UserError
from base_dist.space import meta_state
from base_dist.space.cells import MixedEdge
from base_dist.space.metanet import create_metanet


def small_cfg(**kw) -> SpaceConfig:
    return SpaceConfig(channels=4, layers=3, **kw)


def batch(size: int = 16, n: int = 4) -> torch.Tensor:
    return torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize("mode", ["gumbel", "hard", "softmax"])
def test_forward_backward_all_modes(mode: str) -> None:
    net = create_metanet(small_cfg(arch={"mode": mode}), seed=0)
    for size in (16, 28):
        out = net(batch(size), n_way=5, gen=torch.Generator().manual_seed(1), tau=0.7)
        assert out.shape == (4, 5)
        (out.logsumexp(-1).mean() + net.kl()).backward()
    assert net.arch.normal.grad is not None and net.arch.normal.grad.abs().sum() > 0
    assert net.arch.reduce.grad is not None and net.arch.reduce.grad.abs().sum() > 0
    mus = [p for n, p in net.named_parameters() if n.endswith(".mu")]
    assert mus and all(p.grad is not None for p in mus)


def test_hard_mode_runs_one_op_per_edge_and_phi_gets_gradient() -> None:
    net = create_metanet(small_cfg(arch={"mode": "hard"}), seed=0)
    calls: Counter[int] = Counter()
    edges = [m for m in net.modules() if isinstance(m, MixedEdge)]
    for e, edge in enumerate(edges):
        for op in edge.ops:
            op.register_forward_hook(lambda *_, e=e: calls.update([e]))
    out = net(batch(), n_way=5, gen=torch.Generator().manual_seed(3))
    assert len(calls) == len(edges) and set(calls.values()) == {1}
    out.sum().backward()
    assert net.arch.normal.grad.abs().sum() > 0 and net.arch.reduce.grad.abs().sum() > 0

    calls.clear()  # gumbel runs every op of every edge
    net(batch(), n_way=5, gen=torch.Generator().manual_seed(3), mode="gumbel")
    assert set(calls.values()) == {len(net.ops)}


def test_same_seed_same_sample_different_seed_different() -> None:
    net = create_metanet(small_cfg(), seed=0)
    x = batch()

    def run(seed: int) -> torch.Tensor:
        with torch.no_grad():
            return net(x, n_way=10, gen=torch.Generator().manual_seed(seed))

    assert torch.equal(run(7), run(7))
    assert not torch.allclose(run(7), run(8))
    a = net.sample_arch(torch.Generator().manual_seed(4))[0].weights
    b = net.sample_arch(torch.Generator().manual_seed(4))[0].weights
    assert torch.equal(a, b)


def test_gen_none_is_deterministic_and_init_is_seeded() -> None:
    a, b = create_metanet(small_cfg(), seed=11), create_metanet(small_cfg(), seed=11)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    x = batch()
    with torch.no_grad():
        assert torch.equal(a(x, n_way=5), b(x, n_way=5))


def test_deterministic_bayes_ignores_weight_noise() -> None:
    net = create_metanet(small_cfg(arch={"mode": "softmax"}, bayes={"deterministic": True, "sigma_init": 0.5}), seed=0)
    x = batch()
    with torch.no_grad():
        assert torch.equal(net(x, n_way=5, gen=torch.Generator().manual_seed(1)), net(x, n_way=5))


def test_kl_zero_at_prior_positive_otherwise() -> None:
    cfg = small_cfg(bayes={"sigma_init": 0.1, "prior_sigma": 0.1, "prior_mu": 0.0,
                           "kl_weight_theta": 1.0, "kl_weight_z": 1.0})
    net = create_metanet(cfg, seed=0)
    with torch.no_grad():
        for n, p in net.named_parameters():
            if n.endswith(".mu"):
                p.zero_()
    assert abs(net.kl().item()) < 1e-4  # phi starts uniform, posterior == prior
    terms = net.kl_terms()
    assert abs(terms["kl_theta"].item()) < 1e-4 and abs(terms["kl_z"].item()) < 1e-6
    with torch.no_grad():
        net.arch.normal[0, 3] = 2.0
    assert net.kl_terms()["kl_z"].item() > 0 and net.kl().item() > 0
    with torch.no_grad():
        net.arch.normal.zero_()
        next(p for n, p in net.named_parameters() if n.endswith(".mu")).add_(0.3)
    assert net.kl_terms()["kl_theta"].item() > 0
    net.kl().backward()  # differentiable


def test_kl_weights_zero_disable() -> None:
    net = create_metanet(small_cfg(bayes={"kl_weight_theta": 0.0, "kl_weight_z": 0.0}), seed=0)
    assert net.kl().item() == 0.0


def test_state_contract() -> None:
    net = create_metanet(small_cfg(), seed=0)
    assert list(net.buffers()) == []
    W = meta_state.get_state(net)
    assert list(W) == [n for n, _ in net.named_parameters()]
    assert list(W)[:2] == ["arch.normal", "arch.reduce"] and W["arch.normal"].shape == (14, 8)
    assert [k for k in W if meta_state.is_arch(k)] == ["arch.normal", "arch.reduce"]
    weights = [k for k in W if not meta_state.is_arch(k)]
    assert any(k.endswith(".mu") for k in weights) and any(k.endswith(".rho") for k in weights)
    assert any(k.startswith("heads.") for k in weights) and any(k.startswith("classifiers.way10") for k in weights)
    # A task delta is one flat vector in W's layout, and it maps back to W's names and shapes.
    layout = meta_state.Layout.of(W)
    for p in net.parameters():
        p.data.add_(1.0)
    delta = layout.flatten(dict(net.named_parameters())) - layout.flatten(W)
    assert delta.shape == (layout.numel,) and torch.allclose(delta, torch.ones_like(delta))
    named = layout.unflatten(delta)
    assert list(named) == list(W) and all(named[k].shape == W[k].shape for k in W)
    with pytest.raises(ValueError, match="another search space"):
        layout.unflatten(delta[:-1])
    meta_state.load_state(net, W)
    assert all(torch.equal(a, b) for a, b in zip(meta_state.get_state(net).values(), W.values(), strict=True))
    with pytest.raises(KeyError):
        meta_state.load_state(net, {"arch.normal": W["arch.normal"]})


def test_heads_and_classifiers_by_shape() -> None:
    net = create_metanet(small_cfg(), seed=0)
    with pytest.raises(UserError, match="no head"):
        net(torch.randn(2, 1, 20, 20), n_way=5)
    with pytest.raises(UserError, match="no classifier"):
        net(batch(), n_way=7)
    with torch.no_grad():
        assert net(torch.randn(2, 1, 56, 56), n_way=10).shape == (2, 10)


def test_genotype_of_metanet() -> None:
    net = create_metanet(small_cfg(), seed=0)
    with torch.no_grad():
        net.arch.normal[0, net.ops.index("sep_conv_5x5")] = 5.0
    g = net.genotype()
    assert g.normal[0] == ("sep_conv_5x5", 0) and len(g.normal) == 8
    assert all(op != "none" for op, _ in g.normal + g.reduce)
    g2 = net.sampled_genotype(torch.Generator().manual_seed(0), samples=4)
    assert len(g2.reduce) == 8
