"""Quick adaptation on digits (tiny config) and the meta-train / adapt CLIs through subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from base_dist.meta.adapt import adapt
from tests.meta.conftest import TINY, tiny

BASE_DIST = str(Path(sys.executable).parent / "base-dist")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BASE_DIST, *args], capture_output=True, text=True, timeout=300, check=False)


def test_adapt_from_checkpoint_writes_its_files(trained_run, tmp_path):
    cfg, run = trained_run
    out = tmp_path / "adapt"
    res = adapt(tiny("adapt.epochs=2"), run.run_dir, run_dir=out, progress=False)
    assert [h["epoch"] for h in res.history] == [0, 1, 2]
    assert all(0.0 <= h["val_acc"] <= 1.0 for h in res.history)
    assert res.info["classes"] == 10 and res.info["train_images"] == cfg.adapt.max_train_images
    assert any("way10" in n for n in res.notes)  # tiny has only a 3-way classifier: a new one by rule
    assert set(res.arch) == {"normal", "reduce"}
    assert all(abs(sum(row) - 1.0) < 1e-4 for row in res.arch["normal"])
    assert len(res.genotype.normal) == 2 * cfg.space.nodes
    assert json.loads((out / "genotype.json").read_text())["normal"] == [list(p) for p in res.genotype.normal]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final_val_acc"] == res.final_val_acc and len(metrics["history"]) == 3
    assert list((out / "checkpoints").glob("ckpt-*.safetensors"))
    assert not torch.equal(res.W["arch.normal"], run.W["arch.normal"])  # arch co-optimised


def test_new_head_rule_and_frozen_arch(trained_run):
    _, run = trained_run
    res = adapt(tiny("adapt.image_size=20", "adapt.freeze_arch=true"), run.checkpoint, progress=False)
    assert any("c1_s20" in n and "copied from c1_s16" in n for n in res.notes)
    assert torch.equal(res.W["arch.normal"], run.W["arch.normal"])
    assert torch.equal(res.W["arch.reduce"], run.W["arch.reduce"])
    assert "heads.c1_s20.0.weight" in res.W


def test_adapt_takes_a_prior_meta_trained_on_another_task_size(tmp_path):
    from base_dist import meta_train
    from base_dist.config import config_from_dict
    from base_dist.track.checkpoint import load_checkpoint

    prior = meta_train(tiny("data.n_way=4", "space.n_ways=[4]", "meta.rounds=1"), tmp_path / "prior")
    res = adapt(tiny("adapt.max_train_images=32"), prior.checkpoint, run_dir=tmp_path / "adapt", progress=False)
    assert "classifiers.way10.weight" in res.W and len(res.history) == 2
    (ckpt,) = (tmp_path / "adapt" / "checkpoints").glob("ckpt-*.safetensors")
    saved = config_from_dict(load_checkpoint(ckpt).meta["config"])  # it validates: adapt can start from it
    assert saved.data.n_way == 4 and saved.space.n_ways == [4, 10]


def test_adapt_from_scratch_baseline():
    res = adapt(tiny("adapt.max_val_images=7"), None, progress=False)
    assert res.info["checkpoint"] is None and len(res.history) == 2
    assert res.info["val_images"] == 7  # capped (digits' 20 % would be 360)
    assert res.info["tau"] == 1.0  # tau_start: no meta-training rounds behind a from-scratch run


def test_adapt_tau_follows_the_checkpoint_round_unless_pinned(tmp_path):
    from base_dist import meta_train

    anneal = ["space.arch.tau_start=1.0", "space.arch.tau_end=0.25", "space.arch.tau_anneal_rounds=2"]
    run = meta_train(tiny("meta.rounds=2", *anneal), tmp_path / "mt", progress=False)
    assert adapt(tiny(*anneal), run.checkpoint, progress=False).info["tau"] == 0.25  # schedule at round 2
    pinned = adapt(tiny(*anneal, "adapt.tau=0.7"), run.checkpoint, progress=False)
    assert pinned.info["tau"] == 0.7


def test_cli_meta_train_then_adapt(tmp_path):
    run = tmp_path / "mt"
    r = _cli("meta-train", "--config", str(TINY), "--set", "meta.rounds=1", "--set", "dist.workers=0",
             "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    assert f"run directory: {run}" in r.stdout
    assert list((run / "checkpoints").glob("ckpt-*.safetensors"))
    out = tmp_path / "ad"
    r = _cli("adapt", "--checkpoint", str(run), "--dataset", "digits", "--run-dir", str(out))
    assert r.returncode == 0, r.stderr
    assert "genotype: Genotype(" in r.stdout and f"run directory: {out}" in r.stdout
    assert "epoch 1/1" in r.stderr  # progress
    assert (out / "genotype.json").is_file() and (out / "metrics.json").is_file()


def test_cli_adapt_bad_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    for path in (bad, tmp_path / "missing"):
        r = _cli("adapt", "--checkpoint", str(path), "--dataset", "digits", "--run-dir", str(tmp_path / "o"))
        assert r.returncode == 2
        assert len(r.stderr.strip().splitlines()) == 1 and str(path) in r.stderr


def test_the_engine_alone_refuses_ray_workers_before_writing(tmp_path):
    """Ray workers come from base_dist.create_trainer; the bare engine says so and writes nothing."""
    from base_dist.errors import UserError
    from base_dist.meta.trainer import MetaTrainer

    with pytest.raises(UserError, match="create_trainer"):
        MetaTrainer(tiny("dist.workers=1"), tmp_path / "d")
    assert not (tmp_path / "d").exists()
