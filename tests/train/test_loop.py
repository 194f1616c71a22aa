"""The training loop: it learns, checkpoints every epoch, resumes exactly, honours the budget."""

from __future__ import annotations

import json

import pytest
import torch

from base_dist.errors import UserError
from base_dist.space.genotypes import get_genotype
from base_dist.track.checkpoint import CheckpointMismatch, load_checkpoint
from base_dist.train import fit, train

G = get_genotype("darts_v2")


def test_one_epoch_lowers_the_loss_and_checkpoints(digits, tmp_path, tiny):
    res = fit(tiny(), G, digits, tmp_path)
    losses = res.batch_losses
    assert len(losses) == 8  # 256 images, batches of 32
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert res.epochs_done == 1 and 0.0 <= res.test_acc <= 1.0
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.round == 1 and ckpt.meta["kind"] == "train"
    assert set(ckpt.tensors) == {"model", "opt", "sched"}
    assert int(ckpt.tensors["sched"]["epoch"]) == 1
    assert ckpt.tensors["opt"]["momentum_buffer"]  # the optimizer state travels as tensors


def test_two_epochs_equal_one_plus_resume_bitwise(digits, tmp_path, tiny):
    # Augmentation, drop-path and label smoothing on: every random draw must be keyed to the epoch.
    cfg = tiny("train.epochs=2", "train.drop_path_prob=0.3", "train.label_smoothing=0.1",
                      "data.augment.cutout=4", "data.augment.crop_padding=2", "data.augment.flip=true")
    straight = fit(cfg, G, digits, tmp_path / "straight")
    first = fit(cfg, G, digits, tmp_path / "split", stop_after=1)
    assert first.epochs_done == 1
    torch.manual_seed(12345)  # a disturbed global RNG must not matter
    resumed = fit(cfg, G, digits, tmp_path / "split", resume=True)
    assert resumed.resumed_from == 1 and resumed.epochs_done == 2
    a, b = straight.net.state_dict(), resumed.net.state_dict()
    assert list(a) == list(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert straight.batch_losses[8:] == resumed.batch_losses
    assert [h["train_loss"] for h in straight.history] == [h["train_loss"] for h in resumed.history]
    assert straight.test_acc == resumed.test_acc


def test_resume_refuses_another_network(digits, tmp_path, tiny):
    fit(tiny(), G, digits, tmp_path)
    with pytest.raises(CheckpointMismatch):
        fit(tiny("train.channels=6"), G, digits, tmp_path, resume=True)
    with pytest.raises(UserError, match="no checkpoint"):
        fit(tiny(), G, digits, tmp_path / "empty", resume=True)


def test_budget_stops_after_the_epoch_in_progress(digits, tmp_path, tiny):
    cfg = tiny("train.epochs=3", "train.max_minutes=1e-6")
    res = fit(cfg, G, digits, tmp_path)
    assert res.stopped_by_budget and res.epochs_done == 1
    assert load_checkpoint(tmp_path).round == 1


def test_train_writes_metrics_and_logs_to_mlflow(tmp_path, tiny):
    cfg = tiny("train.max_train_images=64", "tracking.mlflow=true")
    res = train(cfg, tmp_path, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs_done"] == 1 and metrics["test_acc"] == res.test_acc
    assert metrics["params"] > 0 and metrics["macs"] > 0 and metrics["aux_params"] > 0
    assert len(metrics["history"]) == 1 and metrics["wall_s"] > 0
    assert json.loads((tmp_path / "genotype.json").read_text())["normal"][0] == ["sep_conv_3x3", 0]
    assert "test acc" in res.results_line()
    run_id = (tmp_path / "mlflow_run_id").read_text().strip()
    from mlflow import MlflowClient

    run = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id)
    assert run.data.params["train.channels"] == "4"
    assert run.data.metrics["test_acc"] == pytest.approx(res.test_acc)
    assert "train_loss" in run.data.metrics and run.info.status == "FINISHED"
    with pytest.raises(UserError, match="already holds checkpoints"):
        train(cfg, tmp_path, progress=False)
