"""Downsampled ImageNet (Chrabaszcz, Loshchilov & Hutter 2017): Imagenet32 and Imagenet64.

A root holds ``train_data_batch_1..10`` and ``val_data``, each a pickled dict (read through the
restricted unpickler) or the ``.npz`` variant (read with ``allow_pickle=False``), with ``data``
(``N x 3*S*S`` uint8: the R, G and B planes one after another), ``labels`` (1-based) and ``mean``.
``val_data`` is the ``test`` split. Classes are numbered 1..K (K = the largest label; 1000 for the
full set); ``map_clsloc.txt`` (``wnid index name`` per line), when present, supplies the names.

Example:
    >>> from base_dist.data import get_loader
    >>> get_loader("imagenet32").size, get_loader("imagenet64").size
    (32, 64)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from base_dist.data.registry import SourceLoader, register_source
from base_dist.data.safe_pickle import load_npz, safe_load, str_keys
from base_dist.data.source import Source, make_source
from base_dist.errors import UserError

TRAIN = [f"train_data_batch_{i}" for i in range(1, 11)]
VAL = "val_data"


def _existing(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".npz"):
        if (root / name).is_file():
            return root / name
    return None


def read_batch(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 [N, 3, S, S], 0-based int64 labels [N])`` from one batch file (pickle or ``.npz``).

    Example:
        >>> read_batch(Path("/nonexistent/val_data"), 32)
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent/val_data: cannot read (FileNotFoundError)
    """
    d = load_npz(path) if path.suffix == ".npz" else str_keys(safe_load(path), str(path))
    if "data" not in d or "labels" not in d:
        raise UserError(f"{path}: not a downsampled-ImageNet batch (needs 'data' and 'labels', has {sorted(d)})")
    data, labels = np.asarray(d["data"]), np.asarray(d["labels"]).reshape(-1)
    width = 3 * size * size
    if data.ndim != 2 or data.shape[1] != width or data.dtype != np.uint8:
        raise UserError(f"{path}: 'data' must be uint8 [N, {width}] (3 planes of {size}x{size}), "
                        f"got {data.dtype} {list(data.shape)}")
    if len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{path}: 'labels' must hold one integer per row ({len(data)} rows, {len(labels)} labels)")
    if len(labels) and labels.min() < 1:
        raise UserError(f"{path}: labels are 1-based (1..1000), found {int(labels.min())}")
    return data.reshape(-1, 3, size, size), labels.astype(np.int64) - 1


def _class_names(root: Path, count: int) -> list[str]:
    """Names from ``map_clsloc.txt`` when present, else the 1-based label numbers."""
    names = [str(i) for i in range(1, count + 1)]
    mapping = root / "map_clsloc.txt"
    if mapping.is_file():
        for line in mapping.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit() and 1 <= int(parts[1]) <= count:
                names[int(parts[1]) - 1] = parts[2] if len(parts) > 2 else parts[0]
    return names


class _Downsampled(SourceLoader):
    size = 0
    marker = (VAL, VAL + ".npz")

    @classmethod
    def load(cls, root: Path) -> Source:
        train = [p for p in (_existing(root, s) for s in TRAIN) if p is not None]
        val = _existing(root, VAL)
        if not train or val is None:
            raise UserError(f"{root}: wrong layout for {cls.name} (needs train_data_batch_1..10 and val_data, "
                            "pickled or .npz)")
        parts = [read_batch(p, cls.size) for p in train]
        splits = {
            "train": (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])),
            "test": read_batch(val, cls.size),
        }
        del parts
        count = int(max(int(y.max()) for _, y in splits.values() if len(y))) + 1
        return make_source(cls.name, root, _class_names(root, count), splits)


@register_source
class Imagenet32(_Downsampled):
    name = "imagenet32"
    size = 32
    description = "Downsampled ImageNet 32x32 (Chrabaszcz et al.), 1000 classes, pickled or .npz batches"


@register_source
class Imagenet64(_Downsampled):
    name = "imagenet64"
    size = 64
    description = "Downsampled ImageNet 64x64 (Chrabaszcz et al.), 1000 classes, pickled or .npz batches"
