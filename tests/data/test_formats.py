"""Small files of every format, written here, read back exactly."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import scipy.io
import torch

from base_dist.data import create_source, load_dataset
from base_dist.data.registry import _CACHE
from base_dist.errors import UserError


def _store(src, split):
    return src.images[src.splits[split]].numpy(), src.labels[src.splits[split]].numpy()


def test_idx_gz_roundtrip(tmp_path, writers):
    written = writers.fashion(tmp_path)
    src = create_source("fashion-mnist", tmp_path)
    for split, (x, y) in written.items():
        got_x, got_y = _store(src, split)
        assert np.array_equal(got_x[:, 0], x) and np.array_equal(got_y, y)
    assert src.split_sizes() == {"train": 30, "test": 10} and src.channels == 1 and src.image_size == 28


@pytest.mark.parametrize("damage", ["truncate", "bad_gzip", "bad_magic"])
def test_damaged_idx_is_a_one_line_error_and_not_cached(tmp_path, writers, damage):
    writers.fashion(tmp_path)
    f = tmp_path / "train-images-idx3-ubyte.gz"
    raw = f.read_bytes()
    if damage == "truncate":
        f.write_bytes(gzip.compress(gzip.decompress(raw)[:-50]))
    elif damage == "bad_gzip":
        f.write_bytes(raw[: len(raw) // 2])
    else:
        f.write_bytes(gzip.compress(b"\x01\x02" + gzip.decompress(raw)[2:]))
    with pytest.raises(UserError) as err:
        create_source("fashion-mnist", tmp_path)
    assert str(f) in str(err.value) and "\n" not in str(err.value)
    assert not any(str(tmp_path) in root for _, root in _CACHE)
    f.write_bytes(raw)  # repaired: the next call loads (nothing stale was kept)
    assert len(create_source("fashion-mnist", tmp_path)) == 40


@pytest.mark.parametrize("fmt", ["pickle", "npz"])
@pytest.mark.parametrize(("name", "size"), [("imagenet32", 32), ("imagenet64", 64)])
def test_downsampled_imagenet_roundtrip(tmp_path, writers, fmt, name, size):
    written = writers.imagenet(tmp_path, size=size, fmt=fmt)
    src = create_source(name, tmp_path)
    for split, (rows, labels) in written.items():
        got_x, got_y = _store(src, split)
        assert np.array_equal(got_x, rows.reshape(-1, 3, size, size))  # R, G, B planes -> channels
        assert np.array_equal(got_y, labels - 1)  # 1-based on disk
    assert src.num_classes == 4 and src.channels == 3 and src.image_size == size
    # Channel 0 of image 0 is the first S*S bytes of its row (the R plane).
    assert np.array_equal(got_x[0, 0].reshape(-1), written["test"][0][0, : size * size])


def test_downsampled_imagenet_wrong_width_names_file(tmp_path, writers):
    writers.imagenet(tmp_path, size=32)
    with pytest.raises(UserError, match=r"val_data.*3\*64|train_data_batch_1.*12288"):
        create_source("imagenet64", tmp_path)


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_cifar10_pickles_roundtrip(tmp_path, writers, bytes_keys):
    written = writers.cifar10(tmp_path, bytes_keys=bytes_keys)
    src = create_source("cifar10", tmp_path)
    for split, (rows, labels) in written.items():
        got_x, got_y = _store(src, split)
        assert np.array_equal(got_x, rows.reshape(-1, 3, 32, 32)) and np.array_equal(got_y, labels)
    assert src.class_names[0] == "airplane" and src.split_sizes() == {"train": 20, "test": 4}


def test_cifar_missing_file_is_wrong_layout(tmp_path, writers):
    writers.cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(UserError, match="data_batch_3"):
        create_source("cifar10", tmp_path)


def test_cifar100_roundtrip(tmp_path):
    import pickle

    d = tmp_path / "cifar-100-python"
    d.mkdir()
    rng = np.random.default_rng(1)
    data = {s: rng.integers(0, 256, size=(5, 3072), dtype=np.uint8) for s in ("train", "test")}
    for s in data:
        (d / s).write_bytes(pickle.dumps({"data": data[s], "fine_labels": [0, 1, 2, 99, 5], "coarse_labels": [0] * 5}))
    (d / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
    src = create_source("cifar100", tmp_path)
    assert src.num_classes == 100 and np.array_equal(_store(src, "test")[0], data["test"].reshape(-1, 3, 32, 32))
    assert _store(src, "train")[1].tolist() == [0, 1, 2, 99, 5]


def test_svhn_mat_roundtrip(tmp_path):
    rng = np.random.default_rng(2)
    for split in ("train", "test"):
        x = rng.integers(0, 256, size=(32, 32, 3, 6), dtype=np.uint8)
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": np.array([[1], [2], [10], [10], [5], [9]])})
    src = create_source("svhn", tmp_path)
    got_x, got_y = _store(src, "test")
    assert np.array_equal(got_x, x.transpose(3, 2, 0, 1)) and got_y.tolist() == [1, 2, 0, 0, 5, 9]


def test_image_folder_png_roundtrip(tmp_path, writers):
    written = writers.image_folder(tmp_path, size=8)
    src = create_source("image-folder", tmp_path)
    assert src.class_names == ["class_0", "class_1", "class_2"] and src.lazy and len(src) == 12
    x = src.pixels(torch.arange(len(src)), 8)
    pixels = (x * torch.tensor(src.std).view(1, 3, 1, 1) + torch.tensor(src.mean).view(1, 3, 1, 1)) * 255
    expected = np.stack([a for arrs in written.values() for a in arrs]).transpose(0, 3, 1, 2)
    assert np.array_equal(pixels.round().to(torch.uint8).numpy(), expected)
    assert src.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_image_folder_jpeg_and_resize(tmp_path, writers):
    writers.image_folder(tmp_path, classes=2, per_class=2, size=20, ext=".jpg")
    x, y, names = load_dataset("image-folder", "train", 8, root=tmp_path)
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.float32 and y.tolist() == [0, 0, 1, 1]


def test_image_folder_corrupt_file_names_it(tmp_path, writers):
    writers.image_folder(tmp_path, classes=2, per_class=2)
    bad = tmp_path / "class_1" / "img_0.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError, match="img_0.png"):
        load_dataset("image-folder", "train", 8, root=tmp_path)


def test_mini_imagenet_csv_split(tmp_path, writers):
    written = writers.mini_imagenet(tmp_path)
    src = create_source("mini-imagenet", tmp_path)
    assert src.split_sizes() == {"train": 12, "val": 6, "test": 9} and src.num_classes == 9
    assert [src.class_names[i] for i in src.labels[src.splits["val"]].tolist()] == written["val"]
    assert [src.class_names[i] for i in src.class_splits["holdout"]] == ["n07", "n08", "n09"]
    x, y, names = load_dataset("mini-imagenet", "test", 8, root=tmp_path)
    assert x.shape == (9, 3, 8, 8) and [names[i] for i in y.tolist()] == written["test"]


def test_mini_imagenet_bad_csv_names_line(tmp_path, writers):
    writers.mini_imagenet(tmp_path)
    (tmp_path / "val.csv").write_text("filename,label\nonly_one_column\n")
    with pytest.raises(UserError, match=r"val.csv: line 2"):
        create_source("mini-imagenet", tmp_path)
