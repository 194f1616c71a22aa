"""Task distributions: deterministic per seed, disjoint class pools, the data -> meta contract."""

from __future__ import annotations

import pickle

import pytest
import torch

from base_dist.config import DataConfig, SourceSpec
from base_dist.data import Task, TaskDistribution, TaskSpec, clear_cache
from base_dist.errors import UserError


def _cfg(**kw) -> DataConfig:
    base = {"sources": [SourceSpec(name="fashion-mnist", image_sizes=[16, 28, 56])], "n_way": 5,
            "train_per_class": 6, "val_per_class": 3}
    return DataConfig(**{**base, **kw})


def _tensors(t: Task) -> list[torch.Tensor]:
    return [t.x_train, t.y_train, t.x_val, t.y_val]


def test_contract_shapes_and_labels():
    task = TaskDistribution(_cfg()).sample(11)
    s = task.image_size
    assert task.x_train.shape == (30, 1, s, s) and task.x_val.shape == (15, 1, s, s)
    assert task.x_train.dtype == torch.float32 and task.y_train.dtype == torch.int64
    assert torch.bincount(task.y_train).tolist() == [6] * 5 and torch.bincount(task.y_val).tolist() == [3] * 5
    assert task.n_way == 5 and len(set(task.classes)) == 5 and task.seed == 11 and task.source == "fashion-mnist"
    assert s in (16, 28, 56)


def test_same_seed_same_task_bit_for_bit_across_instances_and_reloads():
    a = TaskDistribution(_cfg()).sample(3)
    clear_cache()  # a fresh process would reload the source
    b = TaskDistribution(_cfg()).sample(3)
    assert a.classes == b.classes and a.image_size == b.image_size
    assert all(torch.equal(x, y) for x, y in zip(_tensors(a), _tensors(b), strict=True))
    c = TaskDistribution(_cfg()).sample(4)
    assert a.classes != c.classes or not torch.equal(a.x_train, c.x_train)


def test_spec_is_small_picklable_and_rebuilds_the_same_task():
    dist = TaskDistribution(_cfg())
    spec = dist.spec(5)
    blob = pickle.dumps(spec)
    assert len(blob) < 512  # a driver ships this, never images
    again = TaskDistribution(_cfg()).build(pickle.loads(blob))
    assert isinstance(spec, TaskSpec) and all(torch.equal(x, y) for x, y in zip(_tensors(dist.sample(5)), _tensors(again), strict=True))
    assert pickle.loads(pickle.dumps(dist)).spec(5) == spec  # the distribution itself ships too


def test_holdout_and_meta_train_pools_are_disjoint_and_cover_all():
    cfg = _cfg(holdout_classes=3, n_way=3, split_seed=7)
    train, hold = TaskDistribution(cfg), TaskDistribution(cfg, split="holdout")
    a, b = set(train.class_pool("fashion-mnist")), set(hold.class_pool("fashion-mnist"))
    assert not a & b and a | b == set(range(10)) and len(b) == 3
    for seed in range(20):
        assert set(train.spec(seed).classes) <= a and set(hold.spec(seed).classes) <= b
    assert set(TaskDistribution(cfg, split="holdout").class_pool("fashion-mnist")) == b


def test_sources_weights_and_sizes():
    cfg = _cfg(sources=[SourceSpec(name="fashion-mnist", image_sizes=[16], weight=1.0),
                        SourceSpec(name="digits", image_sizes=[8, 12], weight=3.0)])
    dist = TaskDistribution(cfg)
    specs = [dist.spec(s) for s in range(200)]
    n_digits = sum(s.source == "digits" for s in specs)
    assert 110 < n_digits < 190  # about 3/4
    assert {s.image_size for s in specs if s.source == "digits"} == {8, 12}
    task = dist.build(next(s for s in specs if s.source == "digits" and s.image_size == 12))
    assert task.x_train.shape[1:] == (1, 12, 12)


def test_a_source_can_give_its_tasks_more_training_images_per_class():
    cfg = _cfg(sources=[SourceSpec(name="fashion-mnist", image_sizes=[16], train_per_class=40),
                        SourceSpec(name="digits", image_sizes=[8])])
    dist = TaskDistribution(cfg)
    specs = [dist.spec(s) for s in range(20)]
    assert {s.train_per_class for s in specs if s.source == "fashion-mnist"} == {40}
    assert {s.train_per_class for s in specs if s.source == "digits"} == {6}  # data.train_per_class
    task = dist.build(next(s for s in specs if s.source == "fashion-mnist"))
    assert torch.bincount(task.y_train).tolist() == [40] * 5 and task.x_val.shape[0] == 5 * 3
    assert dist.spec(0, train_per_class=2).train_per_class == 2  # an explicit size (few-shot episodes) wins


def test_episode_support_query():
    ep = TaskDistribution(_cfg()).sample_episode(9, n_way=3, k_shot=2, k_query=4)
    assert ep.x_support.shape[0] == 6 and ep.x_query.shape[0] == 12 and ep.n_way == 3
    assert torch.bincount(ep.y_query).tolist() == [4, 4, 4]


def test_normalised_pixels():
    task = TaskDistribution(_cfg(train_per_class=200, val_per_class=1, n_way=10, sources=[SourceSpec(name="fashion-mnist", image_sizes=[28])])).sample(0)
    assert abs(task.x_train.mean().item()) < 0.15 and 0.8 < task.x_train.std().item() < 1.2


@pytest.mark.parametrize(
    ("kw", "split", "needle"),
    [
        ({"n_way": 5, "holdout_classes": 3}, "holdout", "data.n_way"),
        ({"holdout_classes": 10}, "meta-train", "data.holdout_classes"),
        ({"sources": [SourceSpec(name="fashion-mnist", image_sizes=[2])]}, "meta-train", "data.sources[0].image_sizes"),
        ({"sources": [SourceSpec(name="digits"), SourceSpec(name="digits")]}, "meta-train", "data.sources[1]"),
        ({"sources": [SourceSpec(name="nope")]}, "meta-train", "unknown data source 'nope'"),
    ],
)
def test_bad_config_is_one_line_naming_the_field(kw, split, needle):
    with pytest.raises(UserError) as err:
        TaskDistribution(_cfg(**kw), split=split)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_too_many_images_per_class_names_the_field():
    dist = TaskDistribution(_cfg(sources=[SourceSpec(name="digits", image_sizes=[8])], train_per_class=200))
    with pytest.raises(UserError, match="data.train_per_class"):
        dist.sample(0)


def test_lazy_sources_build_tasks_and_mini_imagenet_uses_its_fixed_split(tmp_path, writers):
    writers.mini_imagenet(tmp_path / "mini")
    writers.image_folder(tmp_path / "folder", classes=3, per_class=4, size=12)
    cfg = _cfg(sources=[SourceSpec(name="mini-imagenet", root=tmp_path / "mini", image_sizes=[8])], n_way=3,
               train_per_class=2, val_per_class=1)
    hold = TaskDistribution(cfg, split="holdout").sample(0)
    assert set(hold.class_names) == {"n07", "n08", "n09"} and hold.x_train.shape == (6, 3, 8, 8)
    assert set(TaskDistribution(cfg).sample(0).class_names) <= {"n01", "n02", "n03", "n04"}
    folder = _cfg(sources=[SourceSpec(name="image-folder", root=tmp_path / "folder", image_sizes=[8])], n_way=2,
                  train_per_class=2, val_per_class=2)
    a, b = TaskDistribution(folder).sample(1), TaskDistribution(folder).sample(1)
    assert a.x_train.shape == (4, 3, 8, 8) and torch.equal(a.x_val, b.x_val)
