"""run_task: the inner loop's delta and metrics, zero delta at T = 0, purity in its inputs, second order."""

from __future__ import annotations

import math

import pytest
import torch

from base_dist import meta_train
from base_dist.data import TaskDistribution
from base_dist.errors import UserError
from base_dist.meta.prior import seeded_metanet
from base_dist.meta.rounds import request_for
from base_dist.meta.second_order import meta_gradient, unroll
from base_dist.meta.task import run_task, task_seed
from base_dist.space.meta_state import Layout, get_state
from tests.meta.conftest import tiny


@pytest.fixture(scope="module")
def setup():
    cfg = tiny()
    dist = TaskDistribution(cfg.data, split="meta-train")
    model = seeded_metanet(cfg)
    W = get_state(model)
    task = dist.build(request_for(dist, cfg, 0, 0).spec)
    return cfg, dist, model, W, task


def test_delta_and_metrics(setup):
    cfg, _, model, W, task = setup
    res = run_task(model, W, task, cfg, 0, 0)
    assert res.index == 0 and res.delta.shape == (Layout.of(W).numel,)  # one flat vector in W's layout
    assert res.delta.dtype == torch.float32 and res.delta.device.type == "cpu"
    assert torch.isfinite(res.delta).all() and float(res.delta.abs().max()) > 0
    assert float(Layout.of(W).unflatten(res.delta)["arch.normal"].abs().max()) > 0  # the architecture is adapted too
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "arch_entropy"):
        assert math.isfinite(res.metrics[key])
    assert 0.0 <= res.metrics["val_acc"] <= 1.0


def test_pure_in_its_inputs(setup):
    cfg, dist, model, W, _ = setup
    spec = request_for(dist, cfg, 1, 1).spec
    a = run_task(model, W, dist.build(spec), cfg, 1, 1)
    b = run_task(seeded_metanet(cfg), W, spec, cfg, 1, 1, tasks=dist)  # fresh scratch model, spec built inside
    assert torch.equal(a.delta, b.delta)  # bitwise
    assert a.metrics == b.metrics
    c = run_task(model, W, dist.build(spec), cfg, 1, 0)  # another task index: other batches and noise
    assert not torch.equal(a.delta, c.delta)
    assert task_seed(cfg, 1, 2) != task_seed(cfg, 2, 1)
    assert b.metrics["n_way"] == cfg.data.n_way


def test_zero_steps_gives_exactly_zero_delta(setup):
    cfg, _, model, W, task = setup
    for second_order in (False, True):
        c = tiny("meta.inner_steps=0", f"meta.second_order={str(second_order).lower()}")
        res = run_task(model, W, task, c, 0, 0)
        assert bool((res.delta == 0).all())
        assert math.isfinite(res.metrics["val_loss"])


def test_second_order_gradient_is_finite_and_differs_from_first_order(setup):
    cfg, _, model, W, task = setup
    seed = task_seed(cfg, 0, 0)
    args = (model, W, task.x_train, task.y_train, task.x_val, task.y_val, task.n_way, cfg.meta)
    g2, phi2, _ = meta_gradient(*args, seed=seed, tau=1.0)
    g1, phi1, _ = meta_gradient(*args, seed=seed, tau=1.0, first_order=True)
    assert list(g2) == list(W)
    assert all(torch.isfinite(g).all() for g in g2.values())
    assert all(torch.equal(phi1[k], phi2[k]) for k in W)  # same inner trajectory
    diff = sum(float((g2[k] - g1[k]).abs().sum()) for k in W)
    assert diff > 1e-6 * sum(float(g1[k].abs().sum()) for k in W)
    # The first-order (Reptile) delta of run_task and -grad both point somewhere finite; compare directions.
    flat_d = run_task(model, W, task, cfg, 0, 0).delta
    flat_g = -Layout.of(W).flatten(g2)
    assert math.isfinite(float(torch.nn.functional.cosine_similarity(flat_d, flat_g, dim=0)))


def test_functional_unroll_replays_the_first_order_inner_loop(setup):
    cfg, _, model, W, task = setup
    delta = Layout.of(W).unflatten(run_task(model, W, task, cfg, 0, 0).delta)
    leaves = {k: v.clone().requires_grad_(True) for k, v in W.items()}
    phi, _ = unroll(model, leaves, task.x_train, task.y_train, task.n_way, cfg.meta, seed=task_seed(cfg, 0, 0),
                    tau=1.0, create_graph=False)
    flat = Layout.of(W)
    W_T = flat.flatten(W) + flat.flatten(delta)
    torch.testing.assert_close(flat.flatten(phi), W_T, rtol=1e-6, atol=1e-6)  # one SGD rule (base_dist.sgd)


def test_second_order_meta_train_round_and_adam_refused(tmp_path):
    cfg = tiny("meta.rounds=1", "meta.second_order=true")
    res = meta_train(cfg, tmp_path / "so", progress=False)
    assert res.rounds_done == 1 and all(torch.isfinite(v).all() for v in res.W.values())
    with pytest.raises(UserError):
        meta_train(tiny("meta.second_order=true", "meta.inner_optimizer=adam"), tmp_path / "x", progress=False)
