"""The real offline datasets: Fashion-MNIST (Debian package) and scikit-learn's digits."""

from __future__ import annotations

import torch

from base_dist.data import create_source, load_dataset


def test_fashion_mnist_counts():
    src = create_source("fashion-mnist")
    assert len(src) == 70_000 and src.split_sizes() == {"train": 60_000, "test": 10_000}
    assert src.num_classes == 10 and src.image_size == 28 and src.channels == 1
    assert [len(ix) for ix in src.by_class("train")] == [6000] * 10
    x, y, names = load_dataset("fashion-mnist", "test", 28)
    assert x.shape == (10_000, 1, 28, 28) and torch.bincount(y).tolist() == [1000] * 10 and len(names) == 10


def test_digits_counts_and_scaling():
    src = create_source("digits")
    assert len(src) == 1797 and src.num_classes == 10 and src.image_size == 8
    assert src.images.dtype == torch.uint8 and int(src.images.max()) == 255  # 16 -> 255
    x, y, _ = load_dataset("digits", "all", 16)
    assert x.shape == (1797, 1, 16, 16) and set(torch.unique(y).tolist()) == set(range(10))
    assert abs(x.mean().item()) < 0.1
