"""Mini-ImageNet (Vinyals et al. 2016, Ravi & Larochelle split): ``train/val/test.csv`` + ``images/``.

Each CSV has a ``filename,label`` header and one row per image (``label`` a WordNet id). The class
split is fixed: meta-train tasks use the train.csv classes, val tasks (model selection) the val.csv
classes, held-out tasks the test.csv classes; every split is also available to :func:`load_dataset`.
Images are decoded lazily.

Example:
    >>> from base_dist.data import get_loader
    >>> get_loader("mini-imagenet").marker
    'train.csv'
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from base_dist.data.registry import SourceLoader, SourceMeta, register_source
from base_dist.data.source import Source
from base_dist.errors import UserError

SPLITS = ("train", "val", "test")


def read_split_csv(path: Path) -> list[tuple[str, str]]:
    """``[(filename, label), ...]`` of one split file; a malformed row names the file and line.

    Example:
        >>> read_split_csv(Path("/nonexistent/train.csv"))
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent/train.csv: cannot read (FileNotFoundError)
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({type(exc).__name__})") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["filename", "label"]:
        raise UserError(f"{path}: line 1 must be the header 'filename,label'")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise UserError(f"{path}: line {line}: expected 'filename,label', got {','.join(row)!r}")
        out.append((row[0].strip(), row[1].strip()))
    return out


def _read(root: Path) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    missing = [f"{s}.csv" for s in SPLITS if not (root / f"{s}.csv").is_file()]
    if missing or not (root / "images").is_dir():
        raise UserError(f"{root}: wrong layout for mini-imagenet, missing {', '.join(missing or ['images/'])}")
    rows = {s: read_split_csv(root / f"{s}.csv") for s in SPLITS}
    names: dict[str, int] = {}
    for s in SPLITS:
        for _, label in rows[s]:
            names.setdefault(label, len(names))  # class order: first appearance, train then val then test
    return list(names), rows


# Task split -> CSV: meta-train tasks use train.csv's classes, val tasks val.csv's, held-out tasks test.csv's.
_CLASS_SPLITS = (("meta-train", "train"), ("val", "val"), ("holdout", "test"))


def _class_splits(names: list[str], rows: dict[str, list[tuple[str, str]]]) -> dict[str, tuple[int, ...]]:
    index = {n: i for i, n in enumerate(names)}
    return {key: tuple(sorted({index[lab] for _, lab in rows[s]})) for key, s in _CLASS_SPLITS}


@register_source
class MiniImagenet(SourceLoader):
    name = "mini-imagenet"
    marker = "train.csv"
    description = "Mini-ImageNet (train/val/test.csv + images/), 100 classes, RGB, decoded lazily"

    @classmethod
    def meta(cls, root: Path) -> SourceMeta:
        names, rows = _read(root)
        return SourceMeta(tuple(names), _class_splits(names, rows))

    @classmethod
    def load(cls, root: Path) -> Source:
        names, rows = _read(root)
        index = {n: i for i, n in enumerate(names)}
        files, labels, splits = [], [], {}
        for s in SPLITS:
            splits[s] = torch.arange(len(files), len(files) + len(rows[s]))
            files += [root / "images" / f for f, _ in rows[s]]
            labels += [index[lab] for _, lab in rows[s]]
        class_splits = {k: list(v) for k, v in _class_splits(names, rows).items()}
        return Source(name=cls.name, root=root, class_names=names, labels=torch.tensor(labels, dtype=torch.int64),
                      splits=splits, channels=3, image_size=None, files=files, class_splits=class_splits,
                      task_splits=SPLITS)
