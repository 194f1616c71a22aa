"""ImageNet-style ``ROOT/class_name/*.jpg`` trees, decoded lazily (each image once per task).

Classes are the sorted sub-folders; every image is in the ``train`` split. Photos are centre-cropped
to a square and resized to the task's image size; statistics are ImageNet's.

Example:
    >>> from base_dist.data import get_loader
    >>> ".jpg" in get_loader("image-folder").extensions
    True
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from base_dist.data import discovery
from base_dist.data.registry import SourceLoader, SourceMeta, register_source
from base_dist.data.source import Source
from base_dist.errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def class_dirs(root: Path) -> list[Path]:
    """Sorted non-hidden sub-folders of ``root``."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_files(folder: Path) -> list[Path]:
    """The image files (by extension) directly in ``folder``, sorted by path.

    Example:
        >>> import tempfile
        >>> image_files(Path(tempfile.mkdtemp()))
        []
    """
    return [Path(p) for p in sorted(e.path for e in os.scandir(folder)
                                    if e.is_file() and e.name.lower().endswith(EXTENSIONS))]


@register_source
class ImageFolder(SourceLoader):
    name = "image-folder"
    description = "class_name/*.jpg folders under --data-root, RGB, decoded lazily"
    extensions = EXTENSIONS

    @classmethod
    def locate(cls, root: str | os.PathLike | None = None) -> Path:
        roots = discovery.candidate_roots(cls.name, root)
        for r in roots:
            if r.is_dir() and class_dirs(r):
                return r
        raise UserError(f"dataset 'image-folder' not found (looked for class sub-folders in "
                        f"{', '.join(map(str, roots))}); to get it: {discovery.HOW_TO_GET[cls.name]}")

    @classmethod
    def meta(cls, root: Path) -> SourceMeta:
        return SourceMeta(tuple(d.name for d in class_dirs(root)))  # no file scan needed

    @classmethod
    def load(cls, root: Path) -> Source:
        names, files, labels = [], [], []
        for d in class_dirs(root):
            images = image_files(d)
            if not images:
                raise UserError(f"{d}: no image files ({', '.join(EXTENSIONS)}) in this class folder")
            labels += [len(names)] * len(images)
            names.append(d.name)
            files += images
        return Source(name=cls.name, root=root, class_names=names, labels=torch.tensor(labels, dtype=torch.int64),
                      splits={"train": torch.arange(len(files))}, channels=3, image_size=None, files=files)
