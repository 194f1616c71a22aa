"""`base-dist data` through a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONSOLE = Path(sys.executable).with_name("base-dist")


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(CONSOLE)] if CONSOLE.exists() else [sys.executable, "-m", "base_dist"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, check=False)


def test_describe_digits_json():
    result = _console("data", "describe", "digits", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["classes"] == 10 and info["images"] == 1797 and info["image_size"] == 8


def test_list_shows_every_source_and_where(cli):
    result = cli("data", "list")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert {"fashion-mnist", "digits", "cifar10", "imagenet32", "image-folder", "mini-imagenet"} <= set(lines)
    assert "available" in lines["digits"]


def test_unknown_source_exits_2_with_one_line(cli):
    result = cli("data", "describe", "nope")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "nope" in result.stderr


def test_missing_root_names_the_flag(cli, tmp_path):
    result = cli("data", "describe", "cifar10", "--data-root", str(tmp_path))
    assert result.returncode == 2 and "--data-root" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_sample_writes_a_png(cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("space:\n  heads: [{image_size: 16}]\n  n_ways: [3]\n"
                   "data:\n  sources: [{name: digits, image_sizes: [16]}]\n  n_way: 3\n  train_per_class: 4\n")
    result = cli("data", "sample", "--config", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "run").glob("*.png")) and "run directory:" in result.stdout
