"""Omniglot (Lake et al. 2015) in torchvision's ``omniglot-py`` layout, decoded lazily as grayscale.

``<root>/omniglot-py/images_background/<Alphabet>/<character>/*.png`` and ``images_evaluation/...``
(``root`` may also point at ``omniglot-py`` itself). A class is one (alphabet, character) pair,
named ``Alphabet/character``. The class split is fixed by alphabet, as in the few-shot literature:

- ``meta-train``: the background alphabets, except
- ``val``: about a sixth of the background alphabets (at least one when there are two or more),
  picked by a permutation seeded with a constant, so every machine picks the same ones;
- ``holdout``: the evaluation alphabets.

Inside a class the first three quarters of its drawings (file order) are the ``train`` split and the
rest ``test`` (what :func:`load_dataset` sees); tasks draw from both.

Example:
    >>> from base_dist.data import get_loader
    >>> get_loader("omniglot").parts
    ('images_background', 'images_evaluation')
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from base_dist.data import discovery
from base_dist.data.registry import SourceLoader, SourceMeta, register_source
from base_dist.data.source import Source
from base_dist.data.sources.image_folder import EXTENSIONS, class_dirs, image_files
from base_dist.errors import UserError
from base_dist.utils import make_generator

BACKGROUND, EVALUATION = "images_background", "images_evaluation"
LAYOUT_DIR = "omniglot-py"  # what torchvision's Omniglot(root) creates under root
VAL_FRACTION = 1 / 6  # of the background alphabets: 5 of Omniglot's 30


def find_omniglot(candidates: list[Path]) -> Path | None:
    """The first of ``candidates`` (or its ``omniglot-py``) holding ``images_background`` or ``images_evaluation``.

    Example:
        >>> find_omniglot([Path("/nonexistent")]) is None
        True
    """
    for c in candidates:
        for r in (c, c / LAYOUT_DIR):
            if (r / BACKGROUND).is_dir() or (r / EVALUATION).is_dir():
                return r
    return None


def val_alphabets(background: list[str]) -> set[str]:
    """The background alphabets kept for ``val``: a constant-seeded pick of ``round(n / 6)`` (>= 1 if n >= 2).

    Example:
        >>> len(val_alphabets([f"a{i}" for i in range(30)])), val_alphabets(["only"])
        (5, set())
    """
    n = len(background)
    k = 0 if n < 2 else max(1, round(n * VAL_FRACTION))
    order = torch.randperm(n, generator=make_generator("omniglot.val-alphabets")).tolist()
    return {sorted(background)[i] for i in order[:k]}


def _characters(root: Path) -> list[tuple[str, str, Path]]:
    """``(part, alphabet, character folder)`` of every class, background first, each sorted by name."""
    out = []
    for part in (BACKGROUND, EVALUATION):
        if (root / part).is_dir():
            for alphabet in class_dirs(root / part):
                out += [(part, alphabet.name, ch) for ch in class_dirs(alphabet)]
    if not out:
        raise UserError(f"{root}: no <alphabet>/<character>/ folders under {BACKGROUND}/ or {EVALUATION}/")
    return out


def _meta(root: Path) -> tuple[list[tuple[str, str, Path]], SourceMeta]:
    """The classes and their split, from the folder names alone (no image is opened)."""
    chars = _characters(root)
    val = val_alphabets(sorted({a for part, a, _ in chars if part == BACKGROUND}))
    splits: dict[str, list[int]] = {"meta-train": [], "holdout": []} | ({"val": []} if val else {})
    for i, (part, alphabet, _) in enumerate(chars):
        key = "holdout" if part == EVALUATION else "val" if alphabet in val else "meta-train"
        splits[key].append(i)
    names = tuple(f"{alphabet}/{ch.name}" for _, alphabet, ch in chars)
    return chars, SourceMeta(names, {k: tuple(v) for k, v in splits.items()})


@register_source
class Omniglot(SourceLoader):
    name = "omniglot"
    description = "Omniglot (torchvision omniglot-py layout), 1623 characters of 50 alphabets, grayscale, lazy"
    parts = (BACKGROUND, EVALUATION)

    @classmethod
    def locate(cls, root: str | os.PathLike | None = None) -> Path:
        roots = discovery.candidate_roots(cls.name, root)
        found = find_omniglot(roots)
        if found is None:
            raise UserError(f"dataset 'omniglot' not found (looked for {BACKGROUND}/ or {EVALUATION}/ in "
                            f"{', '.join(map(str, roots))} and their {LAYOUT_DIR}/); to get it: "
                            f"{discovery.HOW_TO_GET[cls.name]}")
        return found

    @classmethod
    def meta(cls, root: Path) -> SourceMeta:
        return _meta(root)[1]

    @classmethod
    def load(cls, root: Path) -> Source:
        chars, meta = _meta(root)
        files: list[Path] = []
        labels: list[int] = []
        train: list[bool] = []
        for label, (_, _, folder) in enumerate(chars):
            drawings = image_files(folder)
            if not drawings:
                raise UserError(f"{folder}: no image files ({', '.join(EXTENSIONS)}) in this character folder")
            n_train = max(1, 3 * len(drawings) // 4)
            files += drawings
            labels += [label] * len(drawings)
            train += [j < n_train for j in range(len(drawings))]
        is_train = torch.tensor(train)
        splits = {"train": torch.nonzero(is_train).flatten(), "test": torch.nonzero(~is_train).flatten()}
        class_splits = {k: list(v) for k, v in (meta.class_splits or {}).items()}
        return Source(name=cls.name, root=root, class_names=list(meta.class_names),
                      labels=torch.tensor(labels, dtype=torch.int64), splits=splits, channels=1, image_size=None,
                      files=files, class_splits=class_splits, task_splits=("train", "test"))
