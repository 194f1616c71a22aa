"""CIFAR-10 and CIFAR-100 from torchvision's python layout, read through the restricted unpickler.

``ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``ROOT/cifar-100-python/{train, test, meta}``. Rows are 3072 bytes: the R, G and B 32x32 planes.

Example:
    >>> from base_dist.data import get_loader
    >>> get_loader("cifar10").marker
    'cifar-10-batches-py'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from base_dist.data.registry import SourceLoader, SourceMeta, register_source
from base_dist.data.safe_pickle import safe_load, str_keys
from base_dist.data.source import Source, make_source
from base_dist.errors import UserError


def read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 [N, 3, 32, 32], int64 [N])`` from one pickled CIFAR batch; a bad file names itself.

    Example:
        >>> read_batch(Path("/nonexistent/test_batch"), "labels")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent/test_batch: cannot read (FileNotFoundError)
    """
    d = str_keys(safe_load(path), str(path))
    if "data" not in d or label_key not in d:
        raise UserError(f"{path}: not a CIFAR batch (needs 'data' and '{label_key}', has {sorted(d)})")
    try:
        data, labels = np.asarray(d["data"]), np.asarray(d[label_key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as err:
        raise UserError(f"{path}: 'data' and '{label_key}' must be an array and a list of ints ({err})") from err
    if (data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.ndim != 1
            or len(data) != len(labels)):
        raise UserError(f"{path}: 'data' must be uint8 [N, 3072] with one label per row, got {data.dtype} "
                        f"{list(data.shape)} and labels of shape {list(labels.shape)}")
    return data.reshape(-1, 3, 32, 32), labels


def _label_names(path: Path, key: str) -> list[str]:
    d = str_keys(safe_load(path), str(path))
    names = d.get(key)
    if not isinstance(names, list) or not names:
        raise UserError(f"{path}: missing the class name list '{key}'")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


class _Cifar(SourceLoader):
    folder = ""
    train_files: tuple[str, ...] = ()
    test_files: tuple[str, ...] = ()
    meta_file = ""
    names_key = ""
    label_key = ""
    tv_class = ""  # torchvision dataset class whose url/md5 a requested download uses

    @classmethod
    def _dir(cls, root: Path) -> Path:
        d = root / cls.folder
        missing = [f for f in (*cls.train_files, *cls.test_files, cls.meta_file) if not (d / f).is_file()]
        if missing:
            raise UserError(f"{d}: wrong layout, missing {', '.join(missing)} (torchvision's {cls.folder}/ layout)")
        return d

    @classmethod
    def meta(cls, root: Path) -> SourceMeta:
        return SourceMeta(tuple(_label_names(cls._dir(root) / cls.meta_file, cls.names_key)))

    @classmethod
    def load(cls, root: Path) -> Source:
        d = cls._dir(root)
        names = _label_names(d / cls.meta_file, cls.names_key)
        splits = {}
        for split, files in (("train", cls.train_files), ("test", cls.test_files)):
            parts = [read_batch(d / f, cls.label_key) for f in files]
            splits[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        return make_source(cls.name, root, names, splits)

    @classmethod
    def download(cls, root: Path) -> None:
        import torchvision.datasets as tvd
        from torchvision.datasets.utils import download_and_extract_archive

        ds = getattr(tvd, cls.tv_class)
        try:  # the archive only: torchvision's own loader would unpickle without restrictions
            download_and_extract_archive(ds.url, str(root), filename=ds.filename, md5=ds.tgz_md5)
        except Exception as exc:
            raise UserError(f"download of {cls.name} into {root} failed ({type(exc).__name__}); "
                            f"fetch it elsewhere and pass --data-root DIR") from exc


@register_source
class Cifar10(_Cifar):
    name = "cifar10"
    marker = "cifar-10-batches-py"
    description = "CIFAR-10, 10 classes, 32x32 RGB (torchvision layout under --data-root)"
    folder = "cifar-10-batches-py"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)
    meta_file, names_key, label_key, tv_class = "batches.meta", "label_names", "labels", "CIFAR10"


@register_source
class Cifar100(_Cifar):
    name = "cifar100"
    marker = "cifar-100-python"
    description = "CIFAR-100 (fine labels), 100 classes, 32x32 RGB (torchvision layout under --data-root)"
    folder = "cifar-100-python"
    train_files = ("train",)
    test_files = ("test",)
    meta_file, names_key, label_key, tv_class = "meta", "fine_label_names", "fine_labels", "CIFAR100"
