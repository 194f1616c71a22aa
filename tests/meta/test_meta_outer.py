"""The round's mean and outer update equal the explicit formula, in task-index order whatever the arrival
order, with schedules and outer Adam."""

from __future__ import annotations

import math
import random
from collections import OrderedDict

import pytest
import torch

from base_dist.config import MetaConfig
from base_dist.data import TaskDistribution
from base_dist.meta.outer import apply_outer, init_outer_state
from base_dist.meta.rounds import TaskOutcome, collect_round, fold_mean
from base_dist.meta.schedules import outer_lr_at, tau_at
from base_dist.space.meta_state import Layout
from base_dist.track.checkpoint import CheckpointStore
from tests.meta.conftest import tiny


def _W() -> OrderedDict:
    g = torch.Generator().manual_seed(0)
    return OrderedDict([("arch.normal", torch.randn(3, 4, generator=g)), ("cells.0.mu", torch.randn(5, generator=g)),
                        ("classifiers.way3.bias", torch.randn(3, generator=g))])


def _deltas(W: OrderedDict, n: int) -> list[OrderedDict]:
    """``n`` named deltas of very different scales (so summation order shows in the last bits)."""
    g = torch.Generator().manual_seed(1)
    return [OrderedDict((k, torch.randn(v.shape, generator=g) * 10 ** (i % 3)) for k, v in W.items()) for i in range(n)]


class ShuffledExecutor:
    """Hands back fixed deltas for the requested indices, in a shuffled arrival order."""

    def __init__(self, W: OrderedDict, deltas: list[OrderedDict], seed: int) -> None:
        self.flat = [Layout.of(W).flatten(d) for d in deltas]
        self.rng = random.Random(seed)

    def execute(self, W, round_idx, requests):
        out = [TaskOutcome(r.index, r.attempt, {}, True, fetch=lambda d=self.flat[r.index]: d) for r in requests]
        self.rng.shuffle(out)
        return out

    def stats(self):
        return {}

    def close(self):
        pass


def _update(W, deltas, cfg, r, state, seed=0):
    """One round through the production path: collect_round's fold, then the outer step."""
    tasks = TaskDistribution(cfg.data)
    summary = collect_round(ShuffledExecutor(W, deltas, seed), tasks, W, cfg.model_copy(
        update={"meta": cfg.meta.model_copy(update={"tasks_per_round": len(deltas)})}), r)
    return apply_outer(W, summary.mean_delta, cfg.meta, r, state)


def test_streaming_fold_equals_the_plain_mean_bit_for_bit():
    W, deltas = _W(), _deltas(_W(), 5)
    flat = [Layout.of(W).flatten(d) for d in deltas]
    plain = ((((flat[0] + flat[1]) + flat[2]) + flat[3]) + flat[4]) / 5
    assert torch.equal(fold_mean(iter([lambda d=d: d for d in flat])), plain)
    assert all(torch.equal(f, Layout.of(W).flatten(d)) for f, d in zip(flat, deltas, strict=True))  # inputs untouched
    with pytest.raises(ValueError):
        fold_mean(iter([]))


def test_update_equals_explicit_formula_and_ignores_arrival_order():
    cfg = tiny("meta.outer_lr=0.7")
    W, deltas = _W(), _deltas(_W(), 5)
    new_W, state = _update(W, deltas, cfg, 0, {})
    for k in W:
        total = (((deltas[0][k] + deltas[1][k]) + deltas[2][k]) + deltas[3][k]) + deltas[4][k]
        assert torch.equal(new_W[k], W[k] + 0.7 * (total / 5))
    assert state == {}
    for seed in range(1, 4):
        again, _ = _update(W, deltas, cfg, 0, {}, seed=seed)
        assert all(torch.equal(again[k], new_W[k]) for k in W)  # bitwise, not approximately


def test_inputs_untouched():
    W, deltas = _W(), _deltas(_W(), 2)
    before = {k: v.clone() for k, v in W.items()}
    _update(W, deltas, tiny(), 0, {})
    assert all(torch.equal(W[k], before[k]) for k in W)


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
    W = _W()
    last, _ = _update(W, _deltas(W, 2), cfg, 2, {})
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
        deltas = _deltas(W, 3)
        W, state = _update(W, deltas, cfg, r, state)
        for k, p in params.items():
            p.grad = -((deltas[0][k] + deltas[1][k]) + deltas[2][k]) / 3
        ref.step()
    for k in W:
        torch.testing.assert_close(W[k], params[k].detach(), rtol=1e-5, atol=1e-6)
    assert int(state["step"]) == 3
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_outer_state_round_trips_through_a_checkpoint(tmp_path):
    cfg = tiny("meta.outer_optimizer=adam")
    W = _W()
    W1, state = _update(W, _deltas(W, 2), cfg, 0, None)
    store = CheckpointStore(tmp_path)
    loaded = store.load(store.save(1, {"W": W1, "outer": state})).tensors
    a, sa = _update(W1, _deltas(W, 2), cfg, 1, state)
    b, sb = _update(loaded["W"], _deltas(W, 2), cfg, 1, loaded["outer"])
    assert all(torch.equal(a[k], b[k]) for k in a) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_outer_lr_scale_multiplies_lambda_per_group_and_follows_the_schedule():
    from base_dist.meta.outer import apply_outer

    meta = MetaConfig(rounds=3, outer_lr=4.0, outer_lr_scale={"phi": 0.25, "classifier": 0.0},
                      outer_lr_schedule="linear", outer_lr_end=2.0)
    W = {"cells.0.mu": torch.zeros(2), "arch.normal": torch.zeros(2), "classifiers.way5.weight": torch.zeros(2)}
    delta = {k: torch.ones(2) for k in W}
    last, _ = apply_outer(W, delta, meta, 2, {})  # the last round: lambda 2.0
    assert last["cells.0.mu"].tolist() == [2.0, 2.0] and last["arch.normal"].tolist() == [0.5, 0.5]
    assert last["classifiers.way5.weight"].tolist() == [0.0, 0.0]  # scale 0: the classifier stays put
    same, _ = apply_outer(W, delta, MetaConfig(outer_lr=4.0), 0, {})  # no scales: one lambda for all
    assert same["arch.normal"].tolist() == [4.0, 4.0]
    with pytest.raises(ValueError):
        MetaConfig(outer_lr_scale={"clasifier": 0.0})  # a typo is refused, not ignored


@pytest.mark.parametrize("optimizer", ["none", "adam"])
def test_arch_warmup_holds_phi_and_its_adam_moments_while_the_weights_move(optimizer):
    from base_dist.meta.outer import apply_outer

    meta = MetaConfig(outer_lr=1.0, outer_optimizer=optimizer, arch_warmup_rounds=2)
    W = {"cells.0.mu": torch.zeros(2), "arch.normal": torch.zeros(2)}
    delta = {k: torch.ones(2) for k in W}
    state: dict = {}
    for r in range(2):
        W, state = apply_outer(W, delta, meta, r, state)
        assert W["arch.normal"].tolist() == [0.0, 0.0] and W["cells.0.mu"][0] > 0
    if optimizer == "adam":
        assert state["exp_avg.arch.normal"].abs().sum() == 0 and state["exp_avg.cells.0.mu"].abs().sum() > 0
    W, state = apply_outer(W, delta, meta, 2, state)  # warm-up over: phi moves toward the mean delta
    assert (W["arch.normal"] > 0).all()
