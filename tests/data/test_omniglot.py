"""Omniglot on a tiny fixture in torchvision's real layout: classes, alphabet splits, lazy grayscale pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from base_dist.config import DataConfig, SourceSpec
from base_dist.data import TaskDistribution, create_source, load_dataset, source_meta
from base_dist.data.sources.omniglot import val_alphabets
from base_dist.errors import UserError


@pytest.fixture
def omni(tmp_path, writers):
    """3 background + 2 evaluation alphabets, 3 characters each, 4 drawings of 12x12 each."""
    written = writers.omniglot(tmp_path / "data")
    return tmp_path / "data", written


def test_root_may_be_the_parent_or_omniglot_py_itself(omni):
    root, _ = omni
    a, b = create_source("omniglot", root), create_source("omniglot", root / "omniglot-py")
    assert a.root == b.root == root / "omniglot-py"
    assert a.num_classes == 15 and a.channels == 1 and a.lazy


def test_classes_are_alphabet_character_pairs_split_by_alphabet(omni):
    root, written = omni
    src = create_source("omniglot", root)
    assert src.class_names[0] == "Background_0/character01" and src.class_names[-1] == "Evaluation_1/character03"
    splits = {k: set(v) for k, v in src.class_splits.items()}
    assert set(splits) == {"meta-train", "val", "holdout"}
    assert not (splits["meta-train"] & splits["val"] or splits["meta-train"] & splits["holdout"]
                or splits["val"] & splits["holdout"])
    assert set().union(*splits.values()) == set(range(15))
    alphabets = {k: {src.class_names[i].split("/")[0] for i in v} for k, v in splits.items()}
    assert alphabets["holdout"] == set(written["evaluation"])
    assert alphabets["val"] == val_alphabets(written["background"]) and len(alphabets["val"]) == 1
    assert alphabets["meta-train"] | alphabets["val"] == set(written["background"])
    # The folder-only meta (no image opened) agrees with the full load.
    meta = source_meta("omniglot", root)
    assert list(meta.class_names) == src.class_names and {k: set(v) for k, v in meta.class_splits.items()} == splits


def test_val_alphabets_are_a_fixed_sixth():
    names = [f"alpha{i}" for i in range(30)]
    assert val_alphabets(names) == val_alphabets(list(reversed(names))) and len(val_alphabets(names)) == 5
    assert val_alphabets(["a"]) == set() and len(val_alphabets(["a", "b"])) == 1


def test_pixels_are_the_grayscale_drawings_and_splits_are_per_class(omni):
    root, _ = omni
    src = create_source("omniglot", root)
    assert src.split_sizes() == {"train": 45, "test": 15}
    per_class = torch.bincount(src.labels[src.splits["test"]], minlength=15)
    assert per_class.tolist() == [1] * 15  # 3 of every 4 drawings train, the last one test
    first = src.files[0]
    want = np.asarray(Image.open(first).convert("L"), dtype=np.float32) / 255.0
    x = src.pixels(torch.tensor([0]), 12)
    assert x.shape == (1, 1, 12, 12)
    got = x[0, 0] * src.std[0] + src.mean[0]
    assert torch.allclose(got, torch.from_numpy(want), atol=1e-5)
    xs, ys, _ = load_dataset("omniglot", "test", 8, root=root)
    assert xs.shape == (15, 1, 8, 8) and ys.tolist() == list(range(15))


def test_episodes_from_every_split(omni):
    root, _ = omni
    cfg = DataConfig(sources=[SourceSpec(name="omniglot", root=root, image_sizes=[8])], n_way=3,
                     train_per_class=1, val_per_class=3)
    src = create_source("omniglot", root)
    for split in ("meta-train", "val", "holdout"):
        dist = TaskDistribution(cfg, split=split)
        ep = dist.sample_episode(4, n_way=3, k_shot=1, k_query=3)
        assert ep.x_support.shape == (3, 1, 8, 8) and ep.x_query.shape == (9, 1, 8, 8)
        assert set(ep.classes) <= set(src.class_splits[split])
        assert torch.equal(ep.x_query, dist.sample_episode(4, n_way=3, k_shot=1, k_query=3).x_query)


def test_missing_or_empty_layout_is_one_line(tmp_path):
    with pytest.raises(UserError, match="omniglot-py") as err:
        create_source("omniglot", tmp_path / "nothing")
    assert "\n" not in str(err.value)
    (tmp_path / "empty" / "images_background").mkdir(parents=True)
    with pytest.raises(UserError, match="no <alphabet>/<character>/ folders"):
        create_source("omniglot", tmp_path / "empty")
    (tmp_path / "empty" / "images_background" / "A" / "c1").mkdir(parents=True)
    with pytest.raises(UserError, match="no image files"):
        create_source("omniglot", tmp_path / "empty")
