"""Fixtures of the cluster-surface tests: repository paths, and a private local Ray head."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from ray_head import RayHead  # noqa: E402

ROOT = HERE.parents[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A private Ray head (2 CPUs, free ports, token auth with a private token, dashboard on
    127.0.0.1), stopped by its own process ids at the end of the module — never ``ray stop``."""
    head = RayHead.start(tmp_path_factory.mktemp("ray-head"), num_cpus=2, auth_mode="token")
    try:
        yield head
    finally:
        head.stop()
