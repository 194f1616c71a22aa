"""MAML: second-order meta-gradients against finite differences, first order, exact resume, evaluation."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from base_dist.config import load_config
from base_dist.data import Task
from base_dist.data.episodes import episode_tasks
from base_dist.errors import UserError
from base_dist.space.fewshot_nets import create_fewshot_network
from base_dist.train.fewshot import fewshot_train
from base_dist.train.fewshot_eval import evaluate_split, mean_ci95
from base_dist.train.maml import adapt, meta_gradient, meta_step, query_loss

STEPS, LR = 2, 0.3
TINY = ["fewshot.image_size=16", "fewshot.k_query=2", "fewshot.meta_batch=2", "fewshot.inner_steps=2",
        "fewshot.test_inner_steps=2", "fewshot.iterations=6", "fewshot.checkpoint_every=2", "fewshot.log_every=100",
        "device=cpu"]


def _tiny_net() -> nn.Module:
    """A conv net with (transductive) BatchNorm and smooth activations: finite differences need no kinks."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2, track_running_stats=False), nn.Tanh(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 3)).double()


def _episode(dtype: torch.dtype = torch.float64, size: int = 4) -> Task:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 1, size, size, generator=g, dtype=dtype)
    y = torch.tensor([0, 1, 2] * 4)
    return Task(x_train=x[:6], y_train=y[:6], x_val=x[6:], y_val=y[6:], classes=(0, 1, 2), class_names=("a", "b", "c"),
                image_size=size, seed=0, source="toy")


def _post_adaptation_loss(net: nn.Module, params: dict[str, torch.Tensor], ep: Task) -> float:
    fast = adapt(net, params, ep.x_support, ep.y_support, steps=STEPS, lr=LR, create_graph=False)
    return float(query_loss(net, fast, ep.x_query, ep.y_query)[0].detach())


def test_second_order_meta_gradient_matches_central_finite_differences():
    net, ep = _tiny_net(), _episode()
    params = {k: v.detach().clone().requires_grad_(True) for k, v in net.named_parameters()}
    grad = meta_gradient(net, params, ep, steps=STEPS, lr=LR)
    eps = 1e-6
    for name, p in params.items():
        for i in range(p.numel()):
            plus = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
            minus = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
            plus[name].data.view(-1)[i] += eps
            minus[name].data.view(-1)[i] -= eps
            fd = (_post_adaptation_loss(net, plus, ep) - _post_adaptation_loss(net, minus, ep)) / (2 * eps)
            assert math.isclose(float(grad[name].view(-1)[i]), fd, rel_tol=1e-5, abs_tol=1e-8), (name, i)


def test_first_order_is_the_query_gradient_at_the_adapted_weights_and_differs_from_second_order():
    net, ep = _tiny_net(), _episode()
    params = dict(net.named_parameters())
    second = meta_gradient(net, params, ep, steps=STEPS, lr=LR)
    first = meta_gradient(net, params, ep, steps=STEPS, lr=LR, first_order=True)
    fast = {k: v.detach().requires_grad_(True)
            for k, v in adapt(net, params, ep.x_support, ep.y_support, steps=STEPS, lr=LR, create_graph=False).items()}
    at_fast = torch.autograd.grad(query_loss(net, fast, ep.x_query, ep.y_query)[0], list(fast.values()))
    for (name, g1), g in zip(first.items(), at_fast, strict=True):
        assert torch.allclose(g1, g, rtol=1e-10, atol=1e-12), name
    gap = sum(float((second[k] - first[k]).norm()) for k in params)
    assert gap > 1e-3 * sum(float(second[k].norm()) for k in params)
    # With no inner step both are the plain query gradient.
    zero_s, zero_f = (meta_gradient(net, params, ep, steps=0, lr=LR, first_order=fo) for fo in (False, True))
    assert all(torch.equal(zero_s[k], zero_f[k]) for k in params)


def test_meta_gradients_reach_every_weight_of_conv4_and_the_step_moves_them():
    torch.manual_seed(0)
    net = create_fewshot_network("conv4", 1, 3, 16)
    ep = _episode(torch.float32, size=16)
    for first_order in (False, True):
        grads = meta_gradient(net, dict(net.named_parameters()), ep, steps=STEPS, lr=0.1, first_order=first_order)
        assert all(float(g.abs().sum()) > 0 for g in grads.values())
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    row = meta_step(net, torch.optim.Adam(net.parameters(), 1e-3), [ep, ep], steps=STEPS, lr=0.1, first_order=False)
    assert set(row) == {"query_loss", "query_acc", "query_acc_before"}
    assert all(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def _weights(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_interrupted_and_resumed_training_ends_bitwise_equal(tmp_path):
    cfg = load_config(None, TINY)
    whole = fewshot_train(cfg, tmp_path / "whole")
    # Stopped after 3 iterations (checkpoint at 2), as a crash would; the resume redoes iteration 3.
    cut = fewshot_train(cfg, tmp_path / "cut", stop_after=3)
    assert cut.iterations_done == 3 and [p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()] == [
        "ckpt-000002.safetensors"]
    resumed = fewshot_train(cfg, tmp_path / "cut", resume=True)
    assert resumed.iterations_done == 6 and [r["iteration"] for r in resumed.rows] == [3, 4, 5, 6]
    a, b = _weights(whole.net), _weights(resumed.net)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    want = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["query_loss"] for r in rows] == [r["query_loss"] for r in want]
    summary = json.loads((tmp_path / "cut" / "fewshot.json").read_text())
    assert summary["iterations_done"] == 6 and summary["params"] == 28485


def test_resume_refuses_another_network_and_a_fresh_start_over_checkpoints(tmp_path):
    cfg = load_config(None, [*TINY, "fewshot.iterations=2"])
    fewshot_train(cfg, tmp_path / "r")
    with pytest.raises(UserError, match="already holds checkpoints"):
        fewshot_train(cfg, tmp_path / "r")
    other = load_config(None, [*TINY, "fewshot.iterations=2", "fewshot.channels=8"])
    with pytest.raises(UserError, match="holds another network"):
        fewshot_train(other, tmp_path / "r", resume=True)


def test_evaluation_is_seeded_paired_and_on_held_out_classes():
    cfg = load_config(None, TINY)
    torch.manual_seed(0)
    net = create_fewshot_network("conv4", 1, 5, 16)
    a = evaluate_split(cfg, net, "holdout", episodes=6)
    b = evaluate_split(cfg, net, "holdout", episodes=6)
    assert a.accuracies == b.accuracies and len(a.accuracies) == 6 and a.inner_steps == 2
    mean, ci = mean_ci95(a.accuracies)
    t = torch.tensor(a.accuracies, dtype=torch.float64)
    assert math.isclose(mean, float(t.mean())) and math.isclose(ci, 1.96 * float(t.std()) / math.sqrt(6))
    assert (a.mean, a.ci95) == (mean, ci)
    other_seed = evaluate_split(load_config(None, [*TINY, "fewshot.eval_seed=1"]), net, "holdout", episodes=6)
    assert other_seed.accuracies != a.accuracies
    hold = set(episode_tasks(cfg, "holdout").class_pool("glyphs"))
    assert not hold & set(episode_tasks(cfg, "meta-train").class_pool("glyphs"))
