"""Shared test fixtures. Nothing here downloads; everything runs on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "jobs" / "configs"
CLI = [sys.executable, "-m", "base_dist"]

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# One torch thread in every test process and the processes it starts: the suite runs two pytest workers on
# two cores (pytest-xdist), and two threads per process under load run 10-50x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``base-dist ARGS`` in a subprocess and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=timeout, check=False)


@pytest.fixture
def cli():
    """The :func:`run_cli` helper as a fixture."""
    return run_cli


@pytest.fixture
def tiny_config_path() -> Path:
    return CONFIGS / "tiny.yaml"


@pytest.fixture
def one_torch_thread():
    """One torch thread: on a shared 2-core machine more threads oversubscribe and crawl."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray cluster for the whole test session (2 CPUs; tests use fractional CPUs)."""
    ray = pytest.importorskip("ray")
    os.environ["RAY_AUTH_MODE"] = os.environ.get("RAY_AUTH_MODE", "disabled")
    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        started = True
    yield ray
    if started:
        ray.shutdown()
