"""Whole-dataset inputs for full training: the train/test splits as tensors and the seeded batch order.

Batches are index lists drawn from ``make_generator(seed, "shuffle", epoch)``: the order of an
epoch depends on (seed, epoch) alone, so a resumed run sees the same batches, and every Ray Train
worker computes the same global order and takes its own strided share of each global batch.

Example:
    >>> [b.tolist() for b in epoch_batches(5, 4, seed=0, epoch=0)][0].__len__()
    4
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from base_dist.config import ExperimentConfig
from base_dist.data import load_dataset
from base_dist.errors import UserError
from base_dist.utils import make_generator


@dataclass
class TrainData:
    """The train and test splits of one dataset, float32 normalised ``[N, C, S, S]``, int64 labels."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    class_names: list[str]

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def subset_indices(n: int, limit: int | None, seed: int) -> Tensor:
    """A seeded random subset of ``limit`` of ``n`` indices (sorted), or all of them.

    Random rather than the first ``limit``: files are often sorted by class.

    Example:
        >>> subset_indices(10, None, 0).tolist() == list(range(10))
        True
        >>> len(subset_indices(10, 3, 0))
        3
    """
    if limit is None or limit >= n:
        return torch.arange(n)
    perm = torch.randperm(n, generator=make_generator(seed, "train-subset"))
    return perm[:limit].sort().values


def load_train_data(cfg: ExperimentConfig) -> TrainData:
    """Load ``cfg.train.dataset`` at ``cfg.train.image_size`` (train subset per ``max_train_images``).

    Raises :class:`UserError` (one line) for an unknown dataset or one without a ``test`` split.

    Example:
        >>> from base_dist.config import load_config
        >>> d = load_train_data(load_config(None, ["train.dataset=digits", "train.image_size=16",
        ...                                        "train.max_train_images=64"]))
        >>> d.x_train.shape, d.num_classes
        (torch.Size([64, 1, 16, 16]), 10)
    """
    t = cfg.train
    x, y, names = load_dataset(t.dataset, "train", t.image_size, cfg.data.root)
    keep = subset_indices(len(y), t.max_train_images, cfg.seed)
    x, y = x[keep], y[keep]
    xt, yt, _ = load_dataset(t.dataset, "test", t.image_size, cfg.data.root)
    if len(y) < 2 or len(yt) < 1:
        raise UserError(f"dataset {t.dataset!r}: too few images to train ({len(y)} train, {len(yt)} test)")
    return TrainData(x.contiguous(), y.long(), xt.contiguous(), yt.long(), list(names))


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[Tensor]:
    """This worker's index batches for ``epoch``: global batches of ``batch_size``, shard ``rank::world``.

    ``batch_size`` is the global batch (the recipe's), split across workers. A last global batch
    too small to give every worker 2 images is dropped: BatchNorm needs more than one value per
    channel in training mode, and every worker must take the same number of steps (DDP).

    Example:
        >>> [len(b) for b in epoch_batches(10, 4, seed=0, epoch=0)]
        [4, 4, 2]
        >>> [len(b) for b in epoch_batches(10, 4, seed=0, epoch=0, rank=1, world=2)]
        [2, 2]
    """
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} of world {world}")
    perm = torch.randperm(n, generator=make_generator(seed, "shuffle", epoch))
    out = []
    for start in range(0, n, batch_size):
        batch = perm[start:start + batch_size]
        if start > 0 and len(batch) < 2 * world:
            break
        out.append(batch[rank::world])
    return out
