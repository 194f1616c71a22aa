"""Fixtures for the full-training tests: a tiny config, digits at 16x16 loaded once, one torch thread."""

from __future__ import annotations

import pytest

from base_dist.config import ExperimentConfig, load_config
from base_dist.train import TrainData, load_train_data

TINY = [
    "train.genotype=darts_v2", "train.dataset=digits", "train.image_size=16", "train.channels=4",
    "train.layers=3", "train.max_train_images=256", "train.batch_size=32", "train.epochs=1",
    "device=cpu", "tracking.mlflow=false",
]


def tiny_config(*overrides: str) -> ExperimentConfig:
    """The tiny training config of these tests plus ``overrides``."""
    return load_config(None, [*TINY, *overrides])


@pytest.fixture
def tiny():
    """:func:`tiny_config` as a fixture (test modules here are not a package, so they cannot import it)."""
    return tiny_config


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """Every training test runs on one torch thread (see ``one_torch_thread``)."""


@pytest.fixture(scope="session")
def digits() -> TrainData:
    """256 training images and the whole digits test split, at 16x16."""
    return load_train_data(tiny_config())
