"""SVHN cropped digits: ``train_32x32.mat`` and ``test_32x32.mat`` (MATLAB files, not pickles).

``X`` is ``[32, 32, 3, N]``; ``y`` is ``[N, 1]`` with 10 standing for the digit 0 (as torchvision maps it).

Example:
    >>> from base_dist.data import get_loader
    >>> get_loader("svhn").marker
    'train_32x32.mat'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from base_dist.data.registry import SourceLoader, SourceMeta, register_source
from base_dist.data.source import Source, make_source
from base_dist.errors import UserError

CLASSES = [str(d) for d in range(10)]
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 [N, 3, 32, 32], int64 [N])`` from one SVHN ``.mat`` file.

    Example:
        >>> read_mat(Path("/nonexistent/test_32x32.mat"))
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent/test_32x32.mat: cannot read the MATLAB file (FileNotFoundError)
    """
    import scipy.io

    try:
        d = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises many types for a corrupt or truncated file
        raise UserError(f"{path}: cannot read the MATLAB file ({type(exc).__name__})") from exc
    if "X" not in d or "y" not in d:
        raise UserError(f"{path}: not an SVHN file (needs variables X and y)")
    x, y = np.asarray(d["X"]), np.asarray(d["y"]).reshape(-1).astype(np.int64)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y) or x.dtype != np.uint8:
        raise UserError(f"{path}: X must be uint8 [32, 32, 3, N] with N labels, got {x.dtype} {list(x.shape)}")
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise UserError(f"{path}: labels must be 1..10, found {int(y.min())}..{int(y.max())}")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y % 10


@register_source
class SVHN(SourceLoader):
    name = "svhn"
    marker = "train_32x32.mat"
    description = "SVHN cropped digits, 10 classes, 32x32 RGB (.mat files under --data-root)"

    @classmethod
    def meta(cls, root: Path) -> SourceMeta:
        return SourceMeta(tuple(CLASSES))

    @classmethod
    def load(cls, root: Path) -> Source:
        missing = [f for f in FILES.values() if not (root / f).is_file()]
        if missing:
            raise UserError(f"{root}: wrong layout, missing {', '.join(missing)}")
        return make_source(cls.name, root, CLASSES, {s: read_mat(root / f) for s, f in FILES.items()})

    @classmethod
    def download(cls, root: Path) -> None:
        from torchvision.datasets import SVHN as TV
        from torchvision.datasets.utils import download_url

        try:
            for split in FILES:
                url, filename, md5 = TV.split_list[split]
                download_url(url, str(root), filename, md5)
        except Exception as exc:
            raise UserError(f"download of svhn into {root} failed ({type(exc).__name__}); "
                            "fetch it elsewhere and pass --data-root DIR") from exc
