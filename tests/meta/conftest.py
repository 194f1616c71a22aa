"""Fixtures of the meta tests: the tiny config and one shared meta-trained run (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from base_dist.config import ExperimentConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "jobs" / "configs" / "tiny.yaml"


def tiny(*overrides: str) -> ExperimentConfig:
    """The tiny test config (CPU, no MLflow) with ``--set``-style overrides."""
    return load_config(TINY, ["device=cpu", "tracking.mlflow=false", *overrides])


@pytest.fixture(scope="session")
def tiny_cfg() -> ExperimentConfig:
    return tiny()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A 3-round tiny meta-training run: ``(cfg, result)``; its run dir holds the checkpoints."""
    from base_dist import meta_train

    cfg = tiny("meta.rounds=3")
    run_dir = tmp_path_factory.mktemp("meta-run")
    return cfg, meta_train(cfg, run_dir, progress=False)
