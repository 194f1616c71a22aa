"""Augmentation for full training: random crop with padding, horizontal flip, cutout.

All three are batched tensor ops driven by a seeded ``torch.Generator`` (so a (seed, step) pair
reproduces the batch); random numbers are drawn on the generator's device and moved to the batch's.

Example:
    >>> from base_dist.config import AugmentConfig
    >>> aug = create_augment(AugmentConfig(crop_padding=2, flip=True, cutout=4))
    >>> aug(torch.rand(8, 3, 16, 16), torch.Generator().manual_seed(0)).shape
    torch.Size([8, 3, 16, 16])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from base_dist.config import AugmentConfig


class Augment:
    """Callable ``aug(x, gen) -> x'`` applying the enabled augmentations of an :class:`AugmentConfig`."""

    def __init__(self, cfg: AugmentConfig) -> None:
        self.cfg = cfg

    @property
    def enabled(self) -> bool:
        """False when every augmentation is off (the call is then the identity)."""
        return bool(self.cfg.crop_padding or self.cfg.flip or self.cfg.cutout)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.cfg.crop_padding:
            x = random_crop(x, self.cfg.crop_padding, gen)
        if self.cfg.flip:
            x = random_flip(x, gen)
        if self.cfg.cutout:
            x = cutout(x, self.cfg.cutout, gen)
        return x


def create_augment(cfg: AugmentConfig) -> Augment:
    """The augmentation pipeline of ``cfg`` (identity when nothing is enabled).

    Example:
        >>> create_augment(AugmentConfig()).enabled
        False
    """
    return Augment(cfg)


def _randint(high: int, n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randint(high, (n,), generator=gen, device=gen.device).to(device)


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` and crop back to the original size at a random offset per image.

    Zero is the dataset mean after normalisation, so the border is neutral.

    Example:
        >>> random_crop(torch.ones(2, 1, 4, 4), 1, torch.Generator().manual_seed(0)).shape
        torch.Size([2, 1, 4, 4])
    """
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    oy = _randint(2 * padding + 1, n, gen, x.device)
    ox = _randint(2 * padding + 1, n, gen, x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(n, c, h, w + 2 * padding)
    out = padded.gather(2, rows)  # pick h rows per image
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(n, c, h, w)
    return out.gather(3, cols)  # then w columns


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2.

    Example:
        >>> random_flip(torch.arange(4.).view(1, 1, 1, 4), torch.Generator().manual_seed(1)).shape
        torch.Size([1, 1, 1, 4])
    """
    flip = _randint(2, x.shape[0], gen, x.device).bool().view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero a ``size x size`` square (clipped at the border) centred at a random pixel of each image.

    Example:
        >>> out = cutout(torch.ones(1, 1, 8, 8), 4, torch.Generator().manual_seed(0))
        >>> 0 < int((out == 0).sum()) <= 16
        True
    """
    n, _, h, w = x.shape
    cy, cx = _randint(h, n, gen, x.device), _randint(w, n, gen, x.device)
    y0, x0 = (cy - size // 2)[:, None], (cx - size // 2)[:, None]
    ys, xs = torch.arange(h, device=x.device)[None], torch.arange(w, device=x.device)[None]
    in_rows = (ys >= y0) & (ys < y0 + size)  # [n, h]
    in_cols = (xs >= x0) & (xs < x0 + size)  # [n, w]
    hole = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
    return x.masked_fill(hole, 0.0)
