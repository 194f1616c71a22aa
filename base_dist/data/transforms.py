"""Batched pixel transforms: resize for a head, normalise, and the one decoder for image files.

Example:
    >>> x = torch.rand(3, 1, 28, 28)
    >>> resize(x, 16).shape
    torch.Size([3, 1, 16, 16])
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from base_dist.errors import UserError

# Smallest image size a task may ask for: the smallest head in config.HeadConfig (image_size ge=4).
MIN_IMAGE_SIZE = 4
# Largest image file decoded (a 64-megapixel photo); PIL's own limit only warns below 179M pixels.
MAX_IMAGE_PIXELS = 8192 * 8192


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of a float batch ``[n, C, h, w]`` to ``size x size``; antialiased when shrinking.

    A no-op when the batch already has that size (the common Fashion-MNIST 28 -> 28 case).

    Example:
        >>> resize(torch.zeros(2, 3, 64, 64), 32).shape
        torch.Size([2, 3, 32, 32])
    """
    h, w = x.shape[-2:]
    if h == size and w == size:
        return x
    if x.shape[0] == 0:
        return x.new_zeros(*x.shape[:-2], size, size)
    # antialias only when shrinking: upsampling with it set is identical, but slower.
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < max(h, w))


def normalise(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """``(x - mean) / std`` per channel, in place on a float batch ``[n, C, H, W]``.

    Example:
        >>> normalise(torch.ones(1, 1, 2, 2), (0.5,), (0.5,)).unique().tolist()
        [1.0]
    """
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


def denormalise(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Back to [0, 1] pixels (for pictures); returns a new tensor.

    Example:
        >>> denormalise(torch.zeros(1, 1, 2, 2), (0.5,), (0.2,)).unique().tolist()
        [0.5]
    """
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x * s + m).clamp_(0, 1)


def center_square(x: torch.Tensor) -> torch.Tensor:
    """The central square crop of ``[..., h, w]`` (keeps the aspect ratio when a photo is resized).

    Example:
        >>> center_square(torch.zeros(3, 10, 20)).shape
        torch.Size([3, 10, 10])
    """
    h, w = x.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return x[..., top : top + side, left : left + side]


def decode_image_file(path: Path, size: int, channels: int = 3) -> torch.Tensor:
    """Decode one image file to float ``[C, size, size]`` in [0, 1]: centre square crop, then resize.

    Used only by lazily decoded sources (image folders, Mini-ImageNet); a bad file is a one-line error.

    Example:
        >>> decode_image_file(Path("missing.png"), 8)
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: missing.png: cannot read image (FileNotFoundError)
    """
    from PIL import Image, UnidentifiedImageError  # lazy: in-memory sources never need PIL

    try:
        with warnings.catch_warnings():
            # PIL only warns between its two bomb limits; here every oversized image is an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:  # checked before any pixel is decoded
                    raise UserError(f"{path}: {img.width}x{img.height} pixels is more than an image may have "
                                    f"({MAX_IMAGE_PIXELS // 10**6}M pixels; a decompression bomb?)")
                img = img.convert("L" if channels == 1 else "RGB")
                arr = np.asarray(img, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"{path}: refused a decompression bomb ({exc})") from exc
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, MemoryError, EOFError) as exc:
        raise UserError(f"{path}: cannot read image ({type(exc).__name__})") from exc
    t = torch.from_numpy(arr.copy())
    t = t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)
    t = center_square(t).float().div_(255.0)
    return resize(t.unsqueeze(0), size)[0]
