"""Data-parallel training through Ray Train's TorchTrainer (gloo on CPU), on the shared test cluster.

One short run (Ray Train's start-up dominates its time); resume goes through the same loop code as
in process and is tested there.
"""

from __future__ import annotations

import json

import pytest

from base_dist.track.checkpoint import load_checkpoint
from base_dist.train import train


@pytest.mark.ray
@pytest.mark.slow
def test_two_ray_train_workers_train_and_checkpoint(ray_session, tmp_path, tiny):
    cfg = tiny("train.workers=2", "train.epochs=2", "train.max_train_images=128", "dist.num_cpus_per_worker=0.5",
               "dist.torch_threads=1")
    res = train(cfg, tmp_path, stop_after=1, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["workers"] == 2  # two DDP ranks took part
    assert metrics["epochs_done"] == 1 and len(metrics["history"]) == 1
    assert 0.0 <= metrics["test_acc"] <= 1.0 and metrics["test_acc"] == res.test_acc
    assert metrics["params"] > 0 and metrics["macs"] > 0
    ckpt = load_checkpoint(tmp_path)  # written by rank 0 into the run directory
    assert ckpt.round == 1 and ckpt.meta["kind"] == "train"
    assert ray_session.is_initialized()  # the shared cluster is left running
