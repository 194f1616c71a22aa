"""Fixtures of the reliability tests: a finished tiny run, the CLI in process, directory snapshots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from reliability_helpers import TINY

from base_dist.cli import main


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-round tiny meta-train run directory (checkpoints of rounds 1 and 2); copy it before changing it."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["meta-train", "--config", str(TINY), "--set", "dist.workers=0", "--run-dir", str(run)]) == 0
    return run


@pytest.fixture
def run_copy(finished_run: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`finished_run`."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


@pytest.fixture
def base_dist(capsys: pytest.CaptureFixture[str]):
    """``base_dist(*args) -> (exit code, stderr lines)``: the CLI in this process."""

    def run(*args: str) -> tuple[int, list[str]]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]

    return run
