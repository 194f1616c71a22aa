"""Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 greyscale 28x28 images in 10 classes, IDX files.

Example:
    >>> from base_dist.data import create_source
    >>> create_source("fashion-mnist").split_sizes()
    {'train': 60000, 'test': 10000}
"""

from __future__ import annotations

from pathlib import Path

from base_dist.data.idx import read_idx
from base_dist.data.registry import SourceLoader, SourceMeta, register_source
from base_dist.data.source import Source, make_source
from base_dist.errors import UserError

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FILES = {"train": "train-{}-idx{}-ubyte", "test": "t10k-{}-idx{}-ubyte"}


def _file(root: Path, split: str, kind: str) -> Path:
    """The images/labels file of a split, compressed or not."""
    stem = FILES[split].format(kind, 3 if kind == "images" else 1)
    for name in (stem + ".gz", stem):
        if (root / name).exists():
            return root / name
    raise UserError(f"{root}: missing {stem}.gz (expected the four Fashion-MNIST IDX files)")


@register_source
class FashionMNIST(SourceLoader):
    """``train-images-idx3-ubyte.gz`` & co. in the Debian package path or any root."""

    name = "fashion-mnist"
    marker = ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")
    description = "Fashion-MNIST, 10 classes, 28x28 greyscale (Debian dataset-fashion-mnist)"

    @classmethod
    def meta(cls, root: Path) -> SourceMeta:
        return SourceMeta(tuple(CLASSES))

    @classmethod
    def load(cls, root: Path) -> Source:
        arrays = {}
        for split in FILES:
            images_file, labels_file = _file(root, split, "images"), _file(root, split, "labels")
            x, y = read_idx(images_file, ndim=3), read_idx(labels_file, ndim=1)
            if len(x) != len(y):
                raise UserError(f"{labels_file}: {len(y)} labels for {len(x)} images in {images_file.name}")
            if len(y) and int(y.max()) >= len(CLASSES):
                raise UserError(f"{labels_file}: label {int(y.max())} outside 0..{len(CLASSES) - 1}")
            arrays[split] = (x[:, None], y)
        return make_source(cls.name, root, CLASSES, arrays)
