"""Writers of small dataset files in every supported format (tests write them into tmp_path)."""

from __future__ import annotations

import pickle
import types
from pathlib import Path

import numpy as np
import pytest

from base_dist.data.idx import write_idx


def write_fashion(root: Path, n_train: int = 30, n_test: int = 10, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Four IDX .gz files; returns {split: (images [n, 28, 28], labels)}."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", y)
        out[split] = (x, y)
    return out


def write_imagenet(root: Path, size: int = 32, fmt: str = "pickle", batches: int = 2, per_batch: int = 12,
                   classes: int = 4, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """train_data_batch_1..B and val_data as pickled dicts or .npz; returns {split: (data rows, 1-based labels)}."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    files = [f"train_data_batch_{i}" for i in range(1, batches + 1)] + ["val_data"]
    rows: dict[str, list] = {"train": [], "test": []}
    for f in files:
        data = rng.integers(0, 256, size=(per_batch, 3 * size * size), dtype=np.uint8)
        labels = [int(v) for v in (np.arange(per_batch) % classes) + 1]
        d = {"data": data, "labels": labels, "mean": data.mean(0)}
        if fmt == "npz":
            np.savez(root / f"{f}.npz", data=data, labels=np.array(labels), mean=d["mean"])
        else:
            (root / f).write_bytes(pickle.dumps(d, protocol=4))
        rows["test" if f == "val_data" else "train"].append((data, np.array(labels)))
    return {k: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v])) for k, v in rows.items()}


def write_cifar10(root: Path, per_batch: int = 4, seed: int = 0, bytes_keys: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """torchvision's cifar-10-batches-py/ (Python-2 style bytes keys by default)."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)

    def key(k: str) -> str | bytes:
        return k.encode() if bytes_keys else k

    out: dict[str, list] = {"train": [], "test": []}
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        (d / f).write_bytes(pickle.dumps({key("data"): data, key("labels"): labels, key("batch_label"): f}, protocol=2))
        out["test" if f == "test_batch" else "train"].append((data, np.array(labels)))
    names = [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")]
    (d / "batches.meta").write_bytes(pickle.dumps({key("label_names"): names, key("num_vis"): 3072}, protocol=2))
    return {k: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v])) for k, v in out.items()}


def write_image_folder(root: Path, classes: int = 3, per_class: int = 4, size: int = 8, ext: str = ".png",
                       seed: int = 0) -> dict[str, list[np.ndarray]]:
    """class_i/img_j.png (lossless) or .jpg; returns {class name: [HxWx3 uint8 arrays]} in file order."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {}
    for c in range(classes):
        d = root / f"class_{c}"
        d.mkdir(parents=True, exist_ok=True)
        out[d.name] = []
        for j in range(per_class):
            arr = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(d / f"img_{j}{ext}")
            out[d.name].append(arr)
    return out


def write_mini_imagenet(root: Path, per_class: int = 3, size: int = 8, seed: int = 0) -> dict[str, list[str]]:
    """train/val/test.csv + images/ with 4 + 2 + 3 classes; returns {split: [wnid per row]}."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    layout = {"train": ["n01", "n02", "n03", "n04"], "val": ["n05", "n06"], "test": ["n07", "n08", "n09"]}
    out: dict[str, list[str]] = {}
    for split, wnids in layout.items():
        lines, out[split] = ["filename,label"], []
        for w in wnids:
            for j in range(per_class):
                name = f"{w}{j:04d}.png"
                Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)).save(root / "images" / name)
                lines.append(f"{name},{w}")
                out[split].append(w)
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return out


def write_omniglot(root: Path, background: int = 3, evaluation: int = 2, characters: int = 3, drawings: int = 4,
                   size: int = 12, seed: int = 0) -> dict[str, list[str]]:
    """torchvision's omniglot-py/images_{background,evaluation}/<alphabet>/<character>/*.png (1-bit PNGs).

    Returns {part: [alphabet names]}; alphabet i of a part is ``<Part>_<i>``.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {}
    for part, n in (("background", background), ("evaluation", evaluation)):
        out[part] = [f"{part.title()}_{i}" for i in range(n)]
        for alphabet in out[part]:
            for c in range(characters):
                d = root / "omniglot-py" / f"images_{part}" / alphabet / f"character{c + 1:02d}"
                d.mkdir(parents=True, exist_ok=True)
                for j in range(drawings):
                    img = Image.fromarray(rng.integers(0, 2, size=(size, size), dtype=np.uint8) * 255).convert("1")
                    img.save(d / f"{c:04d}_{j + 1:02d}.png")
    return out


@pytest.fixture
def writers() -> types.SimpleNamespace:
    """The writers above, as one fixture."""
    return types.SimpleNamespace(fashion=write_fashion, imagenet=write_imagenet, cifar10=write_cifar10,
                                 image_folder=write_image_folder, mini_imagenet=write_mini_imagenet,
                                 omniglot=write_omniglot)
