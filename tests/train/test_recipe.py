"""The DARTS recipe pieces: schedules, losses, optimizer state as tensors, batch order."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from base_dist.config import TrainConfig
from base_dist.train.inputs import epoch_batches, subset_indices
from base_dist.train.recipe import (
    drop_path_at,
    load_optimizer_tensors,
    lr_at,
    make_optimizer,
    optimizer_tensors,
    training_loss,
)


def test_cosine_lr_starts_at_lr_and_decays_to_zero():
    cfg = TrainConfig(lr=0.1, epochs=10)
    rates = [lr_at(cfg, e) for e in range(11)]
    assert rates[0] == 0.1
    assert rates[5] == pytest.approx(0.05)
    assert rates[10] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))


def test_drop_path_ramps_linearly_from_zero():
    cfg = TrainConfig(drop_path_prob=0.2, epochs=4)
    assert [drop_path_at(cfg, e) for e in range(4)] == pytest.approx([0.0, 0.05, 0.1, 0.15])


def test_loss_adds_weighted_auxiliary_and_label_smoothing():
    y = torch.tensor([0, 1])
    logits = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
    aux = torch.zeros(2, 2)
    plain = training_loss(logits, None, y, TrainConfig())
    with_aux = training_loss(logits, aux, y, TrainConfig(auxiliary_weight=0.4))
    assert float(with_aux - plain) == pytest.approx(0.4 * math.log(2))
    smoothed = training_loss(logits, None, y, TrainConfig(label_smoothing=0.1))
    assert float(smoothed) > float(plain)  # smoothing penalises confident correct logits


def test_optimizer_state_round_trips_as_tensors():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = make_optimizer(model, TrainConfig())
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    saved = optimizer_tensors(model, opt)
    assert set(saved) == {"momentum_buffer"}
    assert all(isinstance(t, torch.Tensor) for t in saved["momentum_buffer"].values())
    fresh = make_optimizer(model, TrainConfig())
    load_optimizer_tensors(model, fresh, saved)
    for p in model.parameters():
        assert torch.equal(fresh.state[p]["momentum_buffer"], opt.state[p]["momentum_buffer"])


def test_epoch_batches_are_seeded_sharded_and_cover_each_global_batch():
    a = epoch_batches(103, 10, seed=1, epoch=2)
    b = epoch_batches(103, 10, seed=1, epoch=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], epoch_batches(103, 10, seed=1, epoch=3)[0])
    shards = [epoch_batches(103, 10, seed=1, epoch=2, rank=r, world=3) for r in range(3)]
    assert len({len(s) for s in shards}) == 1  # same step count on every worker (DDP)
    for step, whole in enumerate(a[: len(shards[0])]):
        joined = torch.cat([s[step] for s in shards])
        assert sorted(joined.tolist()) == sorted(whole.tolist())
    # A last global batch of 3 images cannot give 3 workers 2 each: dropped everywhere.
    assert len(shards[0]) == 10 and len(a) == 11


def test_subset_is_seeded_and_sized():
    assert torch.equal(subset_indices(100, 10, 0), subset_indices(100, 10, 0))
    assert len(set(subset_indices(100, 10, 0).tolist())) == 10
    assert len(subset_indices(5, 10, 0)) == 5
