"""Train and evaluation modes of the architecture: hard meta-training, gumbel adaptation, argmax evaluation."""

from __future__ import annotations

import torch

from base_dist import meta_train
from base_dist.config import SpaceConfig
from base_dist.meta.adapt import adapt
from base_dist.space.arch import argmax_arch
from base_dist.space.metanet import create_metanet
from tests.meta.conftest import tiny


def test_argmax_evaluation_runs_the_most_probable_op_only():
    net = create_metanet(SpaceConfig(channels=4, layers=2, n_ways=[3], arch={"mode": "hard"}), seed=0)
    with torch.no_grad():
        net.arch.normal[:, 3] = 5.0  # skip_connect everywhere
    normal, _ = net.sample_arch(None)
    assert normal.indices == [3] * net.arch.normal.shape[0]
    assert torch.equal(normal.weights, argmax_arch(net.arch.normal).weights)
    soft = create_metanet(SpaceConfig(channels=4, layers=2, n_ways=[3], arch={"mode": "hard", "eval_mode": "softmax"}),
                          seed=0)
    assert soft.sample_arch(None)[0].indices is None  # the softmax mixture, as configured


def test_hard_meta_training_adapts_in_gumbel_mode(tmp_path):
    cfg = tiny("meta.rounds=2", "space.arch.mode=hard")
    res = meta_train(cfg, tmp_path / "mt", progress=False)
    assert res.rounds_done == 2
    out = adapt(tiny("adapt.arch_mode=gumbel", "adapt.eval_mode=softmax", "adapt.max_train_images=64"),
                tmp_path / "mt", run_dir=tmp_path / "ad", progress=False)
    assert len(out.history) == 2 and 0.0 <= out.final_val_acc <= 1.0
    import yaml

    saved = yaml.safe_load((tmp_path / "mt" / "config.yaml").read_text())
    assert saved["space"]["arch"]["mode"] == "hard"
    from base_dist.track.checkpoint import load_checkpoint

    adapted = load_checkpoint(tmp_path / "ad").meta["config"]["space"]["arch"]
    assert adapted["mode"] == "gumbel" and adapted["eval_mode"] == "softmax"
