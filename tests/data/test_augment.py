"""Augmentation: batched, seeded, shape-preserving."""

from __future__ import annotations

import torch

from base_dist.config import AugmentConfig
from base_dist.data import create_augment
from base_dist.data.augment import cutout, random_crop, random_flip


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_disabled_is_identity():
    x = torch.rand(4, 1, 8, 8)
    aug = create_augment(AugmentConfig())
    assert not aug.enabled and torch.equal(aug(x, _gen()), x)


def test_deterministic_per_generator_seed():
    aug = create_augment(AugmentConfig(crop_padding=2, flip=True, cutout=3))
    x = torch.rand(16, 3, 12, 12)
    assert torch.equal(aug(x, _gen(1)), aug(x, _gen(1)))
    assert not torch.equal(aug(x, _gen(1)), aug(x, _gen(2)))
    assert aug(x, _gen(1)).shape == x.shape


def test_crop_is_a_shifted_window_of_the_padded_image():
    x = torch.arange(2 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    out = random_crop(x, 2, _gen(3))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, a : a + 6, b : b + 6] for a in range(5) for b in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_flip_mirrors_or_keeps_each_image():
    x = torch.rand(32, 1, 4, 4)
    out = random_flip(x, _gen(0))
    flipped = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x, strict=True)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)


def test_cutout_zeroes_at_most_a_square():
    out = cutout(torch.ones(64, 2, 10, 10), 4, _gen(0))
    zeros = (out == 0).sum(dim=(1, 2, 3)) / 2
    assert bool((zeros > 0).all()) and bool((zeros <= 16).all())
