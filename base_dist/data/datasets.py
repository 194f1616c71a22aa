"""Whole datasets as tensors, for adaptation and full training.

Example:
    >>> x, y, names = load_dataset("digits", "test", 16)
    >>> x.shape, y.shape, len(names)
    (torch.Size([359, 1, 16, 16]), torch.Size([359]), 10)
"""

from __future__ import annotations

import os

import torch

from base_dist.data.registry import create_source
from base_dist.data.transforms import MIN_IMAGE_SIZE
from base_dist.errors import UserError

_CHUNK = 4096  # images converted at a time: bounds the float temporaries of a resize


def load_dataset(name: str, split: str, image_size: int, root: str | os.PathLike | None = None, *,
                 download: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(x, y, class_names)``: every image of a split, float32 normalised ``[N, C, S, S]``, int64 labels.

    ``split`` is one of the source's splits (``train``/``test``; Mini-ImageNet also ``val``) or
    ``all``. Images are in file order.

    Example:
        >>> x, y, names = load_dataset("fashion-mnist", "test", 28)
        >>> x.shape, int(y.max()), names[0]
        (torch.Size([10000, 1, 28, 28]), 9, 'T-shirt/top')
    """
    if image_size < MIN_IMAGE_SIZE:
        raise UserError(f"image_size {image_size} is below the minimum image size {MIN_IMAGE_SIZE}")
    src = create_source(name, root, download=download)
    idx = src.split_indices(*src.splits) if split == "all" else src.split_indices(split)
    x = torch.empty(idx.numel(), src.channels, image_size, image_size)
    for start in range(0, idx.numel(), _CHUNK):
        part = idx[start : start + _CHUNK]
        x[start : start + part.numel()] = src.pixels(part, image_size)
    return x, src.labels[idx].clone(), list(src.class_names)
