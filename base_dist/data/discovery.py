"""Where datasets live: explicit root, then $BASE_DIST_DATA, then the Debian path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from base_dist.errors import UserError

DEBIAN_DATASETS = Path("/usr/share/datasets")
ENV_VAR = "BASE_DIST_DATA"

# How a user gets each dataset that has no bundled copy (one line each).
HOW_TO_GET = {
    "fashion-mnist": "sudo apt-get install dataset-fashion-mnist  (or pass --data-root DIR holding the idx .gz files)",
    "cifar10": "pass --data-root DIR holding cifar-10-batches-py/ (torchvision layout)",
    "cifar100": "pass --data-root DIR holding cifar-100-python/ (torchvision layout)",
    "svhn": "pass --data-root DIR holding train_32x32.mat and test_32x32.mat",
    "imagenet32": "pass --data-root DIR holding train_data_batch_1..10 and val_data (Imagenet32)",
    "imagenet64": "pass --data-root DIR holding train_data_batch_1..10 and val_data (Imagenet64)",
    "image-folder": "pass --data-root DIR holding class_name/*.jpg folders",
    "mini-imagenet": "pass --data-root DIR holding train.csv, val.csv, test.csv and images/",
    "omniglot": "pass --data-root DIR holding omniglot-py/images_background and images_evaluation (torchvision layout)",
}


def candidate_roots(name: str, explicit: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for ``name``, in lookup order.

    Example:
        >>> candidate_roots("fashion-mnist", "/data")[0]
        PosixPath('/data')
    """
    roots: list[Path] = []
    if explicit is not None:
        roots += [Path(explicit), Path(explicit) / name]
        return roots  # an explicit root is authoritative: no silent fallback elsewhere
    env = os.environ.get(ENV_VAR)
    if env:
        roots += [Path(env), Path(env) / name]
    roots.append(DEBIAN_DATASETS / name)
    return roots


def find_root(name: str, marker: str | Sequence[str], explicit: str | os.PathLike | None = None) -> Path:
    """The first candidate root of ``name`` that holds ``marker`` (a file or folder name, or any of several).

    Raises :class:`UserError` with one line saying how to get the data.
    """
    markers = [marker] if isinstance(marker, str) else list(marker)
    roots = candidate_roots(name, explicit)
    for root in roots:
        if any((root / m).exists() for m in markers):
            return root
    where = ", ".join(str(r) for r in roots)
    marker = " or ".join(markers)
    how = HOW_TO_GET.get(name, "pass --data-root DIR")
    raise UserError(f"dataset {name!r} not found (looked for {marker} in {where}); to get it: {how}")
