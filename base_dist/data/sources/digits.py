"""scikit-learn's handwritten digits: 1,797 greyscale 8x8 images, 10 classes, bundled (no root needed).

Pixel values 0..16 are scaled to uint8 0..255. The set has no official split; every fifth image
(index % 5 == 4) is the test split, so both splits cover every class.

Example:
    >>> from base_dist.data import create_source
    >>> create_source("digits").split_sizes()
    {'train': 1438, 'test': 359}
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from base_dist.data.registry import SourceLoader, SourceMeta, register_source
from base_dist.data.source import Source, make_source
from base_dist.errors import UserError

CLASSES = [str(d) for d in range(10)]


@register_source
class Digits(SourceLoader):
    """``sklearn.datasets.load_digits``: always available."""

    name = "digits"
    description = "scikit-learn handwritten digits, 10 classes, 8x8 greyscale (bundled)"

    @classmethod
    def locate(cls, root: str | os.PathLike | None = None) -> Path:
        import sklearn.datasets

        return Path(sklearn.datasets.__file__).parent / "data"  # where the bundled csv lives

    @classmethod
    def meta(cls, root: Path) -> SourceMeta:
        return SourceMeta(tuple(CLASSES))

    @classmethod
    def load(cls, root: Path) -> Source:
        from sklearn.datasets import load_digits

        try:
            bunch = load_digits()
        except Exception as exc:  # a broken scikit-learn install: say so in one line
            raise UserError(f"digits: scikit-learn could not load its bundled data ({type(exc).__name__})") from exc
        x = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[:, None]
        y = bunch.target.astype(np.int64)
        test = np.arange(len(y)) % 5 == 4
        return make_source(cls.name, None, CLASSES, {"train": (x[~test], y[~test]), "test": (x[test], y[test])})
