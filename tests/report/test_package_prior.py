"""Packaging a prior is a pure function of its checkpoint: the same bytes however often it is made."""

from __future__ import annotations

import random

import torch

from base_dist.meta.prior import load_posterior, shipped_prior
from base_dist.report.priors import package_prior


def test_packaging_twice_gives_the_same_bytes_and_the_same_W(tmp_path):
    source = shipped_prior("glyphs-fmnist")
    card = {"name": "copy", "measured": {}}
    torch.manual_seed(1)
    random.seed(1)
    a = package_prior(source, tmp_path / "a", card)
    torch.manual_seed(2)  # the packaging process's own RNG state must not leak into the file
    random.seed(2)
    b = package_prior(source, tmp_path / "b", card)
    assert a.read_bytes() == b.read_bytes()
    copied, original = load_posterior(a), load_posterior(source)
    assert list(copied.W) == list(original.W)
    assert all(torch.equal(copied.W[k], original.W[k]) for k in original.W)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["card.json", "prior.safetensors"]
