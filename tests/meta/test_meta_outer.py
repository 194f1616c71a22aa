"""The outer update equals the explicit formula, in task-index order, with schedules and outer Adam."""

from __future__ import annotations

import math
import random
from collections import OrderedDict

import pytest
import torch
from conftest import tiny

from base_dist.config import MetaConfig
from base_dist.meta.engine import TaskResult, outer_update
from base_dist.meta.outer import apply_outer, init_outer_state, mean_delta
from base_dist.meta.schedules import outer_lr_at, tau_at
from base_dist.track.checkpoint import CheckpointStore


def _W() -> OrderedDict:
    g = torch.Generator().manual_seed(0)
    return OrderedDict([("arch.normal", torch.randn(3, 4, generator=g)), ("cells.0.mu", torch.randn(5, generator=g)),
                        ("classifiers.way3.bias", torch.randn(3, generator=g))])


def _results(W: OrderedDict, n: int) -> list[TaskResult]:
    g = torch.Generator().manual_seed(1)
    return [TaskResult(index=i, delta=OrderedDict((k, torch.randn(v.shape, generator=g) * 10 ** (i % 3))
                                                  for k, v in W.items()), metrics={}) for i in range(n)]


def test_update_equals_explicit_formula_and_ignores_arrival_order():
    cfg = tiny("meta.outer_lr=0.7")
    W, results = _W(), _results(_W(), 5)
    new_W, state = outer_update(W, results, cfg, 0, {})
    for k in W:
        total = (((results[0].delta[k] + results[1].delta[k]) + results[2].delta[k]) + results[3].delta[k]) \
            + results[4].delta[k]
        expected = W[k] + 0.7 * (total / 5)
        assert torch.equal(new_W[k], expected)
    assert state == {}
    for seed in range(3):
        shuffled = list(results)
        random.Random(seed).shuffle(shuffled)
        again, _ = outer_update(W, shuffled, cfg, 0, {})
        assert all(torch.equal(again[k], new_W[k]) for k in W)  # bitwise, not approximately


def test_inputs_untouched_and_duplicates_refused():
    W, results = _W(), _results(_W(), 2)
    before = {k: v.clone() for k, v in W.items()}
    outer_update(W, results, tiny(), 0, {})
    assert all(torch.equal(W[k], before[k]) for k in W)
    with pytest.raises(ValueError):
        mean_delta([results[0], results[0]])


@pytest.mark.parametrize("kind", ["constant", "linear", "cosine"])
def test_lambda_schedules(kind):
    m = MetaConfig(rounds=5, outer_lr=1.0, outer_lr_end=0.2, outer_lr_schedule=kind)
    lams = [outer_lr_at(m, r) for r in range(5)]
    assert lams[0] == 1.0
    if kind == "constant":
        assert lams == [1.0] * 5
    else:
        assert math.isclose(lams[-1], 0.2) and all(a >= b for a, b in zip(lams, lams[1:], strict=False))
    if kind == "linear":
        assert math.isclose(lams[2], 0.6)
    if kind == "cosine":
        assert math.isclose(lams[2], 0.6) and lams[1] > 0.8


def test_scheduled_lambda_is_applied():
    cfg = tiny("meta.rounds=3", "meta.outer_lr_schedule=linear", "meta.outer_lr=1.0", "meta.outer_lr_end=0.0")
    W, results = _W(), _results(_W(), 2)
    last, _ = outer_update(W, results, cfg, 2, {})
    assert all(torch.equal(last[k], W[k]) for k in W)  # lambda = 0 at the last round


def test_tau_schedule_geometric():
    a = tiny("space.arch.tau_start=1.0", "space.arch.tau_end=0.25", "space.arch.tau_anneal_rounds=2").space.arch
    assert [tau_at(a, r) for r in range(4)] == [1.0, 0.5, 0.25, 0.25]


def test_outer_adam_matches_torch_adam_with_separate_lrs():
    cfg = tiny("meta.outer_optimizer=adam", "meta.outer_adam_lr_weights=0.01", "meta.outer_adam_lr_arch=0.05")
    W = _W()
    params = OrderedDict((k, torch.nn.Parameter(v.clone())) for k, v in W.items())
    ref = torch.optim.Adam([{"params": [p for k, p in params.items() if k.startswith("arch.")], "lr": 0.05},
                            {"params": [p for k, p in params.items() if not k.startswith("arch.")], "lr": 0.01}])
    state = init_outer_state(W, cfg.meta)
    for r in range(3):
        results = _results(W, 3)
        W, state = outer_update(W, results, cfg, r, state)
        mean = mean_delta(results)
        for k, p in params.items():
            p.grad = -mean[k]
        ref.step()
    for k in W:
        torch.testing.assert_close(W[k], params[k].detach(), rtol=1e-5, atol=1e-6)
    assert int(state["step"]) == 3
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_outer_state_round_trips_through_a_checkpoint(tmp_path):
    cfg = tiny("meta.outer_optimizer=adam")
    W = _W()
    W1, state = outer_update(W, _results(W, 2), cfg, 0, None)
    store = CheckpointStore(tmp_path)
    loaded = store.load(store.save(1, {"W": W1, "outer": state})).tensors
    a, sa = apply_outer(W1, mean_delta(_results(W, 2)), cfg.meta, 1, state)
    b, sb = apply_outer(loaded["W"], mean_delta(_results(W, 2)), cfg.meta, 1, loaded["outer"])
    assert all(torch.equal(a[k], b[k]) for k in a) and all(torch.equal(sa[k], sb[k]) for k in sa)
