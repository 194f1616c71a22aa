"""Data roots: explicit root, then $BASE_DIST_DATA, then /usr/share/datasets/<name>."""

from __future__ import annotations

import pytest

from base_dist.data import create_source, discovery, locate_source
from base_dist.errors import UserError


def test_env_var_beats_the_debian_path(tmp_path, writers, monkeypatch):
    writers.fashion(tmp_path / "fashion-mnist")  # $BASE_DIST_DATA/<name> layout
    monkeypatch.setenv("BASE_DIST_DATA", str(tmp_path))
    assert locate_source("fashion-mnist") == tmp_path / "fashion-mnist"
    assert len(create_source("fashion-mnist")) == 40


def test_explicit_root_beats_the_env_var(tmp_path, writers, monkeypatch):
    writers.fashion(tmp_path / "env" / "fashion-mnist")
    writers.fashion(tmp_path / "mine", n_train=20)
    monkeypatch.setenv("BASE_DIST_DATA", str(tmp_path / "env"))
    assert locate_source("fashion-mnist", tmp_path / "mine") == tmp_path / "mine"
    assert len(create_source("fashion-mnist", tmp_path / "mine")) == 30


def test_debian_path_is_the_fallback(monkeypatch):
    monkeypatch.delenv("BASE_DIST_DATA", raising=False)
    assert locate_source("fashion-mnist") == discovery.DEBIAN_DATASETS / "fashion-mnist"


def test_explicit_root_is_authoritative_and_missing_names_the_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("BASE_DIST_DATA", raising=False)
    with pytest.raises(UserError) as err:
        create_source("fashion-mnist", tmp_path)  # the Debian copy exists, but the user named a root
    assert str(tmp_path) in str(err.value)
    with pytest.raises(UserError, match="--data-root"):
        create_source("cifar10", tmp_path)


def test_missing_dataset_under_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BASE_DIST_DATA", str(tmp_path))
    with pytest.raises(UserError) as err:
        locate_source("imagenet32")
    assert str(tmp_path) in str(err.value) and "--data-root" in str(err.value) and "\n" not in str(err.value)
