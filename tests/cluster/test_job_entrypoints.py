"""The ``ray job submit`` entrypoints in jobs/: same CLI code path, absolute default run dirs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "jobs"
ENTRYPOINTS = {"meta_train.py": "meta-train", "adapt.py": "adapt", "train.py": "train", "tune.py": "tune"}


def load_entry():
    spec = importlib.util.spec_from_file_location("jobs_entry", JOBS / "_entry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_job_script(script: str, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
                   timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "BASE_DIST_RUNS")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(JOBS / script), *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=timeout, check=False)


def test_every_entrypoint_is_listed():
    assert {p.name for p in JOBS.glob("*.py") if not p.name.startswith("_")} == set(ENTRYPOINTS)


@pytest.mark.parametrize(("script", "command"), sorted(ENTRYPOINTS.items()))
def test_help(script, command, tmp_path):
    # From another directory: the entrypoint must not depend on the caller's cwd.
    result = run_job_script(script, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"Usage: base-dist {command}" in result.stdout
    assert "--config" in result.stdout and "--run-dir" in result.stdout


def test_meta_train_tiny_runs(tmp_path):
    run_dir = tmp_path / "run"
    result = run_job_script("meta_train.py", "--config", "jobs/configs/tiny.yaml", "--set", "dist.workers=0",
                            "--set", "meta.rounds=1", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"run directory: {run_dir}" in result.stdout
    assert list((run_dir / "checkpoints").glob("ckpt-*")), "a checkpoint"
    assert (run_dir / "config.yaml").is_file()


def test_bad_input_is_one_line_exit_2(tmp_path):
    result = run_job_script("meta_train.py", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "config file not found" in result.stderr


def test_default_run_dir_goes_under_base_dist_runs(tmp_path, monkeypatch):
    entry = load_entry()
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    monkeypatch.delenv("BASE_DIST_RUNS", raising=False)
    assert entry.build_argv("meta-train", ["--config", "c.yaml"]) == ["meta-train", "--config", "c.yaml"]
    monkeypatch.setenv("BASE_DIST_RUNS", str(tmp_path / "runs"))
    argv = entry.build_argv("meta-train", ["--config", "c.yaml"])
    assert argv[:3] == ["meta-train", "--config", "c.yaml"] and argv[3] == "--run-dir"
    run_dir = Path(argv[4])
    assert run_dir.is_absolute() and run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("meta-train-")
    # An explicit --run-dir, --resume or --help is left alone.
    for extra in (["--run-dir", "x"], ["--run-dir=x"], ["--resume", "r"], ["--help"]):
        assert entry.build_argv("meta-train", extra) == ["meta-train", *extra]


def test_inside_a_ray_job_the_default_is_outside_the_working_dir_copy(tmp_path, monkeypatch):
    entry = load_entry()
    monkeypatch.delenv("BASE_DIST_RUNS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}")
    argv = entry.build_argv("adapt", ["--checkpoint", "/x"])
    assert Path(argv[-1]).parent == tmp_path / "base-dist-runs"
