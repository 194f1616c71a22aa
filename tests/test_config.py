"""The config tree: defaults, validation, overrides, round trip."""

from __future__ import annotations

import pytest
import yaml

from base_dist.config import (
    ExperimentConfig,
    apply_overrides,
    flatten_config,
    load_config,
    save_config,
)
from base_dist.errors import UserError
from tests.conftest import CONFIGS


@pytest.mark.parametrize("name", ["demo.yaml", "tiny.yaml", "imagenet.yaml"])
def test_shipped_configs_validate(name):
    cfg = load_config(CONFIGS / name)
    assert isinstance(cfg, ExperimentConfig)


def test_defaults_are_valid_and_in_process():
    cfg = load_config(None)
    assert cfg.dist.workers == 0
    assert cfg.space.ops[0] == "none" and len(cfg.space.ops) == 8


def test_overrides_parse_yaml_values():
    cfg = load_config(CONFIGS / "tiny.yaml", ["meta.inner_steps=7", "space.arch.mode=hard", "tracking.mlflow=true"])
    assert cfg.meta.inner_steps == 7
    assert cfg.space.arch.mode == "hard"
    assert cfg.tracking.mlflow is True


def test_override_later_wins():
    assert apply_overrides({}, ["a.b=1", "a.b=2"]) == {"a": {"b": 2}}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["meta.inner_stepz=3"], "meta.inner_stepz: unknown key"),
        (["meta.inner_lr_weights=0"], "meta.inner_lr_weights"),
        (["space.arch.tau_start=-1"], "space.arch.tau_start"),
        (["dist.workers=-1"], "dist.workers"),
        (["meta.rounds=abc"], "meta.rounds"),
        (["space.arch.mode=random"], "space.arch.mode"),
        (["data.n_way=7"], "space.n_ways"),
        (["meta.checkpoint_every=2", "meta.keep_every=3"], "meta.keep_every=3 is not a multiple"),
    ],
)
def test_bad_values_name_the_field(overrides, needle):
    with pytest.raises(UserError) as info:
        load_config(CONFIGS / "tiny.yaml", overrides)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_malformed_override():
    with pytest.raises(UserError, match="KEY=VALUE"):
        load_config(None, ["meta.rounds"])


def test_unknown_top_level_key_in_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("metaa: {rounds: 2}\n")
    with pytest.raises(UserError, match="metaa: unknown key"):
        load_config(path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("meta: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(listy)


def test_round_trip_through_saved_yaml(tmp_path):
    cfg = load_config(CONFIGS / "demo.yaml", ["meta.rounds=3", "data.root=/tmp/data"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    again = load_config(path)
    assert again == cfg
    assert yaml.safe_load(path.read_text())["meta"]["rounds"] == 3


def test_flatten_covers_nested_fields():
    flat = flatten_config(load_config(CONFIGS / "tiny.yaml"))
    assert flat["space.arch.mode"] == "gumbel"
    assert flat["meta.inner_steps"] == "2"
    assert all(isinstance(v, str) for v in flat.values())
