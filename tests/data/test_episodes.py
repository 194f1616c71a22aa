"""N-way K-shot episodes: disjoint support/query, shapes, permuted labels, determinism, val class splits."""

from __future__ import annotations

import pytest
import torch

from base_dist.config import DataConfig, SourceSpec
from base_dist.data import TaskDistribution, create_source
from base_dist.data.tasks import SPLITS
from base_dist.errors import UserError

pytestmark = pytest.mark.usefixtures("glyphs_available")


@pytest.fixture(scope="module")
def glyphs_available():
    """The glyph set needs the Debian fonts; skip (as tests/data/test_glyphs.py does) where they are missing."""
    try:
        create_source("glyphs")
    except UserError as err:
        pytest.skip(f"glyphs unavailable: {err}")


def _glyphs(split: str = "meta-train", size: int = 16) -> TaskDistribution:
    return TaskDistribution(DataConfig(sources=[SourceSpec(name="glyphs", image_sizes=[size])]), split=split)


def _store_indices(dist: TaskDistribution, seed: int, k_shot: int, k_query: int) -> tuple[list[int], list[int]]:
    """Store indices of an episode's support and query images (in tensor order), seen at the pixel gather."""
    src = create_source("glyphs")
    gather = src.pixels
    seen: list[torch.Tensor] = []
    src.pixels = lambda idx, size: (seen.append(idx.clone()), gather(idx, size))[1]  # type: ignore[method-assign]
    try:
        dist.sample_episode(seed, n_way=5, k_shot=k_shot, k_query=k_query)
    finally:
        del src.pixels
    idx = seen[0].tolist()
    return idx[: 5 * k_shot], idx[5 * k_shot :]


@pytest.mark.parametrize(("k_shot", "k_query"), [(1, 15), (5, 15), (3, 2)])
def test_shapes_and_each_label_exactly_k_times(k_shot, k_query):
    ep = _glyphs().sample_episode(3, n_way=5, k_shot=k_shot, k_query=k_query)
    assert ep.x_support.shape == (5 * k_shot, 1, 16, 16) and ep.x_query.shape == (5 * k_query, 1, 16, 16)
    assert torch.bincount(ep.y_support, minlength=5).tolist() == [k_shot] * 5
    assert torch.bincount(ep.y_query, minlength=5).tolist() == [k_query] * 5
    assert ep.y_support.dtype == torch.int64 and ep.n_way == 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_support_and_query_share_no_image_and_labels_name_the_classes(seed):
    dist = _glyphs()
    support, query = _store_indices(dist, seed, k_shot=5, k_query=15)
    assert len(set(support)) == 25 and len(set(query)) == 75 and not set(support) & set(query)
    ep = dist.sample_episode(seed, n_way=5, k_shot=5, k_query=15)
    labels = create_source("glyphs").labels
    classes = torch.tensor(ep.classes)
    assert torch.equal(labels[support], classes[ep.y_support]) and torch.equal(labels[query], classes[ep.y_query])


def test_class_to_label_mapping_is_permuted_across_seeds():
    dist = _glyphs()
    specs = [dist.spec(s, n_way=5) for s in range(300)]  # label i is classes[i]; no pixels needed
    labels_of: dict[int, set[int]] = {}
    for spec in specs:
        for label, c in enumerate(spec.classes):
            labels_of.setdefault(c, set()).add(label)
    repeated = [labels for labels in labels_of.values() if len(labels) > 1]
    assert len(repeated) > 50  # a class gets different labels in different episodes
    assert sum(list(s.classes) == sorted(s.classes) for s in specs) < 20  # ~300/120 expected if random


def test_same_seed_same_tensors_bitwise_and_another_seed_differs():
    a, b = _glyphs().sample_episode(7, k_shot=1, k_query=5), _glyphs().sample_episode(7, k_shot=1, k_query=5)
    for name in ("x_support", "y_support", "x_query", "y_query"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    c = _glyphs().sample_episode(8, k_shot=1, k_query=5)
    assert a.classes != c.classes


def test_glyph_class_splits_are_pairwise_disjoint_and_episodes_stay_inside():
    pools = {s: set(_glyphs(s).class_pool("glyphs")) for s in SPLITS}
    assert [len(pools[s]) for s in SPLITS] == [484, 85, 197]
    for i, s in enumerate(SPLITS):
        for t in SPLITS[i + 1 :]:
            assert not pools[s] & pools[t], (s, t)
    for s in SPLITS:
        ep = _glyphs(s).sample_episode(5, k_shot=1, k_query=2)
        assert set(ep.classes) <= pools[s]
    # The val split draws other episodes than meta-train for the same seed.
    assert _glyphs("val").spec(0).classes != _glyphs("meta-train").spec(0).classes


def test_val_split_of_mini_imagenet_and_refused_without_one(tmp_path, writers):
    writers.mini_imagenet(tmp_path / "mini")
    cfg = DataConfig(sources=[SourceSpec(name="mini-imagenet", root=tmp_path / "mini", image_sizes=[8])], n_way=2,
                     train_per_class=1, val_per_class=1)
    ep = TaskDistribution(cfg, split="val").sample_episode(0, n_way=2, k_shot=1, k_query=2)
    assert set(ep.class_names) == {"n05", "n06"}
    with pytest.raises(UserError, match="'digits' has no fixed class split") as err:
        TaskDistribution(DataConfig(sources=[SourceSpec(name="digits", image_sizes=[8])]), split="val")
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="expected one of meta-train, val, holdout"):
        TaskDistribution(cfg, split="test")
