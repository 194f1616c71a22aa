"""Held-out evaluation (base_dist.meta.holdout) and the on_round hook of meta_train."""

from __future__ import annotations

from pathlib import Path

import pytest

import base_dist.meta.holdout as evaluate_mod
from base_dist import meta_train
from base_dist.config import load_config
from base_dist.data import TaskDistribution
from base_dist.errors import UserError
from base_dist.meta.callbacks import OnRound
from base_dist.meta.holdout import holdout_accuracy, holdout_task_seed
from base_dist.meta.prior import seeded_metanet
from base_dist.meta.task import task_seed
from base_dist.space.meta_state import get_state

TINY = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(TINY, ["device=cpu", "tracking.mlflow=false"])


@pytest.fixture(scope="module")
def W(cfg):
    return get_state(seeded_metanet(cfg))


def test_tune_holdout_accuracy_is_in_unit_interval_and_deterministic(cfg, W):
    out = holdout_accuracy(cfg, W, n_tasks=2)
    assert 0.0 <= out["holdout_acc_min"] <= out["holdout_acc"] <= out["holdout_acc_max"] <= 1.0
    assert out["holdout_tasks"] == 2.0 and out["holdout_loss"] > 0
    assert holdout_accuracy(cfg, W, n_tasks=2) == out


def test_tune_holdout_accuracy_uses_only_held_out_classes_and_fresh_seeds(cfg, W, monkeypatch):
    seen = []
    real = evaluate_mod.run_task

    def spy(model, W_, task, ecfg, round_idx, task_index, device, **kw):
        seen.append((task.classes, task.spec.split, task.seed, task_seed(ecfg, round_idx, task_index)))
        return real(model, W_, task, ecfg, round_idx, task_index, device, **kw)

    monkeypatch.setattr(evaluate_mod, "run_task", spy)
    holdout_accuracy(cfg, W, n_tasks=3)
    held = set(TaskDistribution(cfg.data, split="holdout").class_pool("fashion-mnist"))
    train = set(TaskDistribution(cfg.data, split="meta-train").class_pool("fashion-mnist"))
    assert len(seen) == 3 and held and not held & train
    training_seeds = {task_seed(cfg, r, i, a) for r in range(50) for i in range(8) for a in range(3)}
    for classes, split, spec_seed, step_seed in seen:
        assert split == "holdout" and set(classes) <= held
        assert spec_seed not in training_seeds and step_seed not in training_seeds
    assert [s[2] for s in seen] == [holdout_task_seed(cfg, i) for i in range(3)]


def test_tune_holdout_accuracy_needs_held_out_classes(W):
    cfg = load_config(TINY, ["data.holdout_classes=0"])
    with pytest.raises(UserError, match="holdout"):
        holdout_accuracy(cfg, W, n_tasks=1)
    with pytest.raises(UserError, match="at least 1 task"):
        holdout_accuracy(load_config(TINY), W, n_tasks=0)


def test_tune_meta_train_calls_on_round_after_each_round(cfg, tmp_path):
    calls = []
    res = meta_train(cfg, tmp_path, callbacks=[OnRound(lambda done, row: calls.append((done, dict(row))))])
    assert [c[0] for c in calls] == [1, 2]
    assert [c[1] for c in calls] == res.history
    assert (tmp_path / "checkpoints").is_dir()


@pytest.mark.parametrize(("adapt_metric", "every"), [(False, 1), (True, 5)])
def test_trial_checkpoints_every_round_only_for_the_per_round_holdout_score(adapt_metric, every):
    from base_dist.config import config_to_dict
    from base_dist.tune.trial import TrialContext, trial_config

    base = config_to_dict(load_config(TINY, ["meta.checkpoint_every=5"]))
    ctx = TrialContext(base=base, search_dir="/abs/search", tracking_uri=None, parent_run_id=None, eval_tasks=1,
                       adapt_metric=adapt_metric)
    cfg = trial_config(ctx, {"meta.inner_steps": 3})
    assert cfg.meta.checkpoint_every == every and cfg.meta.inner_steps == 3
