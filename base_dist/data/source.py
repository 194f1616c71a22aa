"""A class-indexed source: images (in memory or lazily decoded files), labels, class names, splits.

Every dataset format ends up as one :class:`Source`. Pixels leave it only through
:meth:`Source.pixels`, which returns float32 images resized for a head and normalised with the
source's own per-channel mean and std.

Example:
    >>> from base_dist.data import create_source
    >>> src = create_source("digits")
    >>> src.num_classes, src.channels, src.pixels(src.by_class("train")[0][:4], 16).shape
    (10, 1, torch.Size([4, 1, 16, 16]))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from base_dist.data.transforms import decode_image_file, normalise, resize
from base_dist.errors import UserError

# Standard ImageNet statistics: used for lazily decoded sources, where scanning every file is too slow.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Per-channel statistics are estimated on at most this many images (exact for the small sources).
_STATS_IMAGES = 50_000


@dataclass
class Source:
    """A loaded dataset. ``images`` (uint8 ``[N, C, H, W]``) or ``files`` (decoded on demand) holds the pixels.

    ``splits`` maps a split name to indices into the store; ``labels[i]`` is the class index of image i.
    ``class_splits`` optionally fixes which classes are meta-train vs held out (Mini-ImageNet's CSVs).
    ``task_splits`` are the splits whose images tasks are drawn from.
    """

    name: str
    root: Path | None
    class_names: list[str]
    labels: torch.Tensor
    splits: dict[str, torch.Tensor]
    channels: int
    image_size: int | None
    images: torch.Tensor | None = None
    files: list[Path] | None = None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    class_splits: dict[str, list[int]] | None = None
    task_splits: tuple[str, ...] = ("train",)
    _by_class: dict[tuple[str, ...], list[torch.Tensor]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if (self.images is None) == (self.files is None):
            raise ValueError("a Source holds exactly one of images or files")
        if not self.mean:
            self.mean, self.std = self._estimate_stats()

    # ------------------------------------------------------------------ shape
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def lazy(self) -> bool:
        """True when pixels are decoded from files on demand."""
        return self.files is not None

    def __len__(self) -> int:
        return int(self.labels.numel())

    def split_sizes(self) -> dict[str, int]:
        """Images per split, e.g. ``{"train": 60000, "test": 10000}``."""
        return {k: int(v.numel()) for k, v in self.splits.items()}

    def split_indices(self, *names: str) -> torch.Tensor:
        """Store indices of one or more splits (concatenated in the given order)."""
        for n in names:
            if n not in self.splits:
                raise UserError(f"source {self.name!r} has no split {n!r} (splits: {', '.join(self.splits)})")
        return torch.cat([self.splits[n] for n in names]) if len(names) > 1 else self.splits[names[0]]

    def by_class(self, *names: str) -> list[torch.Tensor]:
        """Per-class store indices over the given splits (default: the task splits), cached.

        Example:
            >>> from base_dist.data import create_source
            >>> len(create_source("digits").by_class("train"))
            10
        """
        key = names or self.task_splits
        if key not in self._by_class:
            idx = self.split_indices(*key)
            lab = self.labels[idx]
            order = torch.argsort(lab, stable=True)  # stable: indices stay in file order inside a class
            counts = torch.bincount(lab, minlength=self.num_classes).tolist()
            self._by_class[key] = list(torch.split(idx[order], counts))
        return self._by_class[key]

    # ------------------------------------------------------------------ pixels
    def pixels(self, indices: torch.Tensor, image_size: int) -> torch.Tensor:
        """Float32 images ``[n, C, S, S]`` for store ``indices``: resized (bilinear) and normalised.

        In-memory sources do this as a few batched tensor ops; lazy sources decode each file once.
        """
        if self.images is not None:
            x = self.images.index_select(0, indices).float().div_(255.0)
            x = resize(x, image_size)
        else:
            assert self.files is not None
            x = torch.stack([decode_image_file(self.files[i], image_size, self.channels) for i in indices.tolist()]) \
                if indices.numel() else torch.empty(0, self.channels, image_size, image_size)
        return normalise(x, self.mean, self.std)

    def _estimate_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean/std on [0, 1] pixels, from a histogram of the uint8 values (exact, cheap)."""
        if self.images is None:
            if self.channels == 3:
                return IMAGENET_MEAN, IMAGENET_STD
            return (0.5,) * self.channels, (0.25,) * self.channels
        imgs = self.images
        step = max(1, imgs.shape[0] // _STATS_IMAGES)  # a fixed stride keeps it deterministic
        sample = imgs[::step]
        values = torch.arange(256, dtype=torch.float64) / 255.0
        means, stds = [], []
        for c in range(imgs.shape[1]):
            hist = torch.bincount(sample[:, c].reshape(-1).to(torch.int64), minlength=256).double()
            total = hist.sum().clamp_min(1)
            m = float((hist * values).sum() / total)
            var = float((hist * (values - m) ** 2).sum() / total)
            means.append(m)
            stds.append(max(var**0.5, 1e-3))  # a blank channel must not divide by zero
        return tuple(means), tuple(stds)

    # ------------------------------------------------------------------ description
    def describe(self) -> dict[str, object]:
        """A JSON-safe summary (for ``base-dist data describe``)."""
        return {
            "name": self.name,
            "root": str(self.root) if self.root else None,
            "classes": self.num_classes,
            "class_names": list(self.class_names),
            "images": len(self),
            "splits": self.split_sizes(),
            "image_size": self.image_size,
            "channels": self.channels,
            "storage": "files (decoded lazily)" if self.lazy else "memory (uint8)",
            "mean": [round(m, 4) for m in self.mean],
            "std": [round(s, 4) for s in self.std],
        }


def make_source(name: str, root: Path | None, class_names: list[str], split_arrays: dict[str, tuple[np.ndarray, np.ndarray]],
                **kwargs: object) -> Source:
    """Build an in-memory :class:`Source` from ``{split: (uint8 images [n, C, H, W], int labels [n])}``.

    Example:
        >>> import numpy as np
        >>> s = make_source("toy", None, ["a", "b"], {"train": (np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 1]))})
        >>> s.split_sizes()
        {'train': 2}
    """
    labels, splits, start, shapes = [], {}, 0, set()
    for split, (x, y) in split_arrays.items():
        if x.ndim != 4 or x.dtype != np.uint8:
            raise UserError(f"source {name!r}: split {split} must be uint8 [N, C, H, W], got {x.dtype} {list(x.shape)}")
        if len(x) != len(y):
            raise UserError(f"source {name!r}: split {split} has {len(x)} images but {len(y)} labels")
        y = np.asarray(y, dtype=np.int64)
        if len(y) and (y.min() < 0 or y.max() >= len(class_names)):
            raise UserError(f"source {name!r}: split {split} has labels outside 0..{len(class_names) - 1}")
        labels.append(torch.from_numpy(y.copy()))
        splits[split] = torch.arange(start, start + len(x))
        start += len(x)
        shapes.add(tuple(x.shape[1:]))
    if len(shapes) != 1:
        raise UserError(f"source {name!r}: splits disagree on the image shape {sorted(shapes)}")
    # One owned, writable store: the arrays may be read-only views of file buffers.
    store = torch.empty((start, *shapes.pop()), dtype=torch.uint8)
    view, at = store.numpy(), 0
    for x, _ in split_arrays.values():
        view[at : at + len(x)] = x
        at += len(x)
    c, h, w = store.shape[1:]
    return Source(name=name, root=root, class_names=list(class_names), labels=torch.cat(labels), splits=splits,
                  channels=int(c), image_size=int(h) if h == w else None, images=store, **kwargs)  # type: ignore[arg-type]
