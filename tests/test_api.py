"""The public Python API: its docstring examples run as doctests, and the README's Python example runs as is."""

from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys

import pytest

import base_dist
from tests.conftest import ROOT

# Modules whose examples are real runs (everything else marks slow examples +SKIP).
DOCTESTED = ["base_dist", "base_dist.api", "base_dist.errors", "base_dist.config", "base_dist.meta.trainer",
             "base_dist.meta.callbacks", "base_dist.meta.prior", "base_dist.meta.checkpoints", "base_dist.meta.task",
             "base_dist.meta.strategy", "base_dist.meta.rounds", "base_dist.meta.outer", "base_dist.meta.fewshot",
             "base_dist.distributed.trainer", "base_dist.distributed.wire", "base_dist.space.meta_state",
             "base_dist.space.metanet", "base_dist.space.network", "base_dist.space.profiler",
             "base_dist.data.episodes", "base_dist.report.fewshot", "base_dist.utils", "base_dist.train.fewshot_eval"]


@pytest.mark.parametrize("name", DOCTESTED)
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples name jobs/configs/tiny.yaml; their outputs go to temporary directories
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0


def test_every_public_name_resolves_and_is_documented():
    for name in base_dist.__all__:
        obj = getattr(base_dist, name)
        assert (obj.__doc__ or "").strip(), f"base_dist.{name} has no docstring"
    assert set(base_dist.__all__) <= set(dir(base_dist))
    with pytest.raises(AttributeError):
        base_dist.no_such_name  # noqa: B018


def _readme_python() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_python_example_runs(tmp_path):
    script = tmp_path / "readme_example.py"
    script.write_text(_readme_python())
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("2 rounds") and "held-out accuracy after adaptation" in lines[1]
    assert "Genotype(normal=" in lines[2] and "Profile(params=" in lines[2]
    assert lines[3].startswith("train ") and "test acc" in lines[3]
