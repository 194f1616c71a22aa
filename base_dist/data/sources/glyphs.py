"""Glyphs: letters of ~20 scripts rendered from Debian fonts (see :mod:`base_dist.data.glyphs`).

Two sources over one cached set:

- ``glyphs``: every class, with a fixed class split by script (``meta-train`` / ``val`` /
  ``holdout``), for task distributions; each class has 20 images (15 ``train``, 5 ``test``).
- ``glyphs-holdout``: only the holdout scripts' classes, relabelled ``0..K-1``, as a whole dataset
  for adaptation (the "neighbouring domain" of Fig. 4: new classes of a meta-training source).

``glyphs-hard`` and ``glyphs-hard-holdout`` are the same two over the ``strong`` rendering (wider
affine ranges, distractor strokes, an erased square, pixel noise; near-identical letters dropped):
the few-shot benchmark off the ceiling that 4-conv MAML reaches at 5-shot on ``glyphs``.

The cache lives in ``$BASE_DIST_DATA/glyphs`` (or ``--data-root``), else ``~/.cache/base-dist/glyphs``;
``base-dist data describe glyphs`` (or ``make data``) builds it once (seconds).

Example:
    >>> from base_dist.data import create_source
    >>> src = create_source("glyphs")
    >>> src.num_classes > 300 and len(src.class_splits["holdout"]) > 100
    True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from base_dist.data import discovery
from base_dist.data.glyphs import SPLITS, GlyphParams, GlyphSet, load_glyphs
from base_dist.data.registry import SourceLoader, register_source
from base_dist.data.source import Source, make_source

TRAIN_PER_CLASS = 15  # of each class's 20 images; the rest is the test split


def glyph_cache_dir(root: str | os.PathLike | None = None) -> Path:
    """Where the rendered set is cached: ``root``, else ``$BASE_DIST_DATA/glyphs``, else ``~/.cache``.

    Example:
        >>> glyph_cache_dir("/data/glyphs")
        PosixPath('/data/glyphs')
    """
    if root is not None:
        return Path(root)
    env = os.environ.get(discovery.ENV_VAR)
    if env:
        return Path(env) / "glyphs"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "base-dist" / "glyphs"


def _source(name: str, root: Path, glyphs: GlyphSet, classes: tuple[int, ...], **kwargs: object) -> Source:
    """An in-memory source over ``classes`` of ``glyphs`` (relabelled in that order), train/test per class."""
    relabel = np.full(len(glyphs.class_names), -1, np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    keep = relabel[glyphs.labels] >= 0
    x, y = glyphs.images[keep], relabel[glyphs.labels[keep]]
    if np.any(np.diff(y) < 0):
        raise ValueError("glyph images must be grouped by class in ascending order")
    rank = np.arange(len(y)) - np.searchsorted(y, y)  # position of an image inside its class
    train = rank < TRAIN_PER_CLASS
    names = [glyphs.class_names[c] for c in classes]
    return make_source(name, root, names, {"train": (x[train], y[train]), "test": (x[~train], y[~train])}, **kwargs)


@register_source
class Glyphs(SourceLoader):
    """All glyph classes with the script split."""

    name = "glyphs"
    description = "letters of ~20 scripts rendered from Debian fonts, ~760 classes x 20, 28x28 (built offline)"
    params: ClassVar[GlyphParams] = GlyphParams()

    @classmethod
    def locate(cls, root: str | os.PathLike | None = None) -> Path:
        return glyph_cache_dir(root)

    @classmethod
    def load(cls, root: Path) -> Source:
        glyphs = load_glyphs(root, cls.params)
        every = tuple(range(len(glyphs.class_names)))
        splits = {s: list(glyphs.class_split(s)) for s in SPLITS}
        return _source(cls.name, root, glyphs, every, class_splits=splits, task_splits=("train", "test"))


@register_source
class GlyphsHoldout(Glyphs):
    """The holdout scripts' classes only, as a dataset to adapt to (same cache as ``glyphs``)."""

    name = "glyphs-holdout"
    description = "the glyph classes of the holdout scripts (never meta-trained on), for adaptation"

    @classmethod
    def load(cls, root: Path) -> Source:
        glyphs = load_glyphs(root, cls.params)
        return _source(cls.name, root, glyphs, glyphs.class_split("holdout"))


@register_source
class GlyphsHard(Glyphs):
    """``glyphs`` rendered with the strong distortion (its own cache file beside the standard one)."""

    name = "glyphs-hard"
    description = "the glyph classes with strong distortions, clutter and noise, near-identical letters dropped"
    params = GlyphParams(distortion="strong")


@register_source
class GlyphsHardHoldout(GlyphsHoldout):
    """The holdout scripts' classes of ``glyphs-hard``."""

    name = "glyphs-hard-holdout"
    description = "the holdout glyph classes of glyphs-hard, for adaptation"
    params = GlyphParams(distortion="strong")
