"""meta_train in process: W changes, metrics and checkpoints are written, resume is exact (bitwise)."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from base_dist import meta_train
from base_dist.errors import UserError
from base_dist.meta.prior import seeded_metanet
from base_dist.space.meta_state import get_state
from base_dist.track.checkpoint import CheckpointMismatch, load_checkpoint
from tests.meta.conftest import tiny


def test_three_rounds_change_W_and_write_outputs(trained_run):
    cfg, res = trained_run
    assert res.rounds_done == 3 and len(res.history) == 3
    W0 = get_state(seeded_metanet(cfg))
    assert list(res.W) == list(W0)
    assert any(not torch.equal(res.W[k], W0[k]) for k in W0)
    assert not torch.equal(res.W["arch.normal"], W0["arch.normal"])
    assert all(torch.isfinite(v).all() for v in res.W.values())
    lines = (res.run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["round"] for x in lines] == [0, 1, 2]
    assert {"val_acc", "train_loss", "arch_entropy", "tasks_per_s", "outer_lr"} <= set(json.loads(lines[-1]))
    assert (res.run_dir / "genotype.json").is_file()
    ckpt = load_checkpoint(res.run_dir)
    assert ckpt.round == 3 and ckpt.path == res.checkpoint
    assert all(torch.equal(ckpt.tensors["W"][k], res.W[k]) for k in res.W)
    assert ckpt.meta["config"]["meta"]["rounds"] == 3 and ckpt.meta["signature"]
    assert "torch_cpu" in ckpt.tensors["rng"]


def test_resume_is_bitwise_exact(trained_run, tmp_path):
    cfg, straight = trained_run
    run = tmp_path / "resumed"
    first = meta_train(cfg, run, stop_after=1, progress=False)
    assert first.rounds_done == 1
    assert load_checkpoint(run).round == 1
    resumed = meta_train(cfg, run, resume=True, progress=False)
    assert resumed.rounds_done == 3 and len(resumed.history) == 2
    assert all(torch.equal(resumed.W[k], straight.W[k]) for k in straight.W)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["round"] for x in lines] == [0, 1, 2]


def test_resume_with_outer_adam_is_exact(tmp_path):
    cfg = tiny("meta.rounds=2", "meta.outer_optimizer=adam", "meta.inner_steps=1", "meta.tasks_per_round=1")
    straight = meta_train(cfg, tmp_path / "a", progress=False)
    meta_train(cfg, tmp_path / "b", stop_after=1, progress=False)
    resumed = meta_train(cfg, tmp_path / "b", resume=True, progress=False)
    assert all(torch.equal(resumed.W[k], straight.W[k]) for k in straight.W)
    assert all(torch.equal(resumed.outer_state[k], straight.outer_state[k]) for k in straight.outer_state)


def test_resume_refuses_another_space_or_an_empty_dir(trained_run, tmp_path):
    _, res = trained_run
    with pytest.raises(CheckpointMismatch):
        meta_train(tiny("space.channels=6"), res.run_dir, resume=True, progress=False)
    with pytest.raises(UserError, match="no checkpoint"):
        meta_train(tiny(), tmp_path / "empty", resume=True, progress=False)


def test_nonfinite_deltas_never_reach_W(tmp_path):
    cfg = tiny("meta.rounds=1", "meta.inner_lr_weights=1e38", "meta.inner_momentum=0", "dist.on_nonfinite=skip")
    with pytest.raises(UserError, match="non-finite"):
        meta_train(cfg, tmp_path / "nan", progress=False)
    assert not list((tmp_path / "nan" / "checkpoints").glob("ckpt-*"))


def test_resume_warns_about_settings_that_changed(tmp_path, caplog):
    meta_train(tiny("meta.rounds=2"), tmp_path, stop_after=1, progress=False)
    with caplog.at_level("WARNING", logger="base_dist.meta.checkpoints"):
        meta_train(tiny("meta.rounds=2", "meta.inner_lr_weights=0.01", "dist.workers=0"), tmp_path, resume=True,
                   progress=False)
    warned = [r.getMessage() for r in caplog.records if "differ from the checkpoint" in r.getMessage()]
    assert len(warned) == 1 and "meta.inner_lr_weights" in warned[0]


def test_ctrl_c_while_checkpointing_loses_no_metrics_line(trained_run, tmp_path, monkeypatch):
    import base_dist.meta.callbacks as loop

    cfg, straight = trained_run
    real_save, calls = loop.save_meta_checkpoint, []

    def save_interrupted_once(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl-C lands while round 1's checkpoint is being written
        return real_save(*args, **kwargs)

    monkeypatch.setattr(loop, "save_meta_checkpoint", save_interrupted_once)
    run = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        meta_train(cfg, run, progress=False)
    assert calls == [1, 1] and load_checkpoint(run).round == 1  # the handler saved round 1 after all
    monkeypatch.setattr(loop, "save_meta_checkpoint", real_save)
    resumed = meta_train(cfg, run, resume=True, progress=False)
    assert all(torch.equal(resumed.W[k], straight.W[k]) for k in straight.W)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["round"] for x in lines] == [0, 1, 2]


def test_keep_every_keeps_early_rounds_a_short_keep_would_prune(tmp_path):
    meta_train(tiny("meta.rounds=3", "meta.keep_checkpoints=1", "meta.keep_every=2"), tmp_path, progress=False)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*"))
    assert kept == ["ckpt-000002.safetensors", "ckpt-000003.safetensors"]


def test_a_budget_ends_the_run_with_a_checkpoint_and_resume_goes_on_exactly(trained_run, tmp_path, caplog):
    cfg, straight = trained_run  # 3 rounds
    run = tmp_path / "budget"
    spent = meta_train(tiny("meta.rounds=3", "meta.budget_minutes=1e-9"), run, progress=False)
    assert spent.rounds_done == 1 and spent.stopped_by_budget  # the first round always runs, no second fits
    assert load_checkpoint(run).round == 1 and (run / "genotype.json").is_file()
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["stopped_by_budget"] == 1.0
    with caplog.at_level(logging.WARNING, logger="base_dist"):
        resumed = meta_train(cfg, run, resume=True, progress=False)  # without the budget: nothing to warn about
    assert resumed.rounds_done == 3 and not resumed.stopped_by_budget and "differ from the checkpoint" not in caplog.text
    assert all(torch.equal(resumed.W[k], straight.W[k]) for k in straight.W)


def test_a_budget_that_is_not_reached_changes_nothing(trained_run, tmp_path):
    _, straight = trained_run
    res = meta_train(tiny("meta.rounds=3", "meta.budget_minutes=600"), tmp_path / "b", progress=False)
    assert res.rounds_done == 3 and not res.stopped_by_budget
    assert all(torch.equal(res.W[k], straight.W[k]) for k in straight.W)
