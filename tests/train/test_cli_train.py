"""`base-dist train` end to end in a subprocess: success, resume, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXE = Path(sys.executable).parent / "base-dist"
TINY = ["--set", "train.channels=4", "--set", "train.layers=3", "--set", "train.image_size=16",
        "--set", "train.max_train_images=128", "--set", "train.batch_size=32", "--set", "device=cpu",
        "--set", "tracking.mlflow=false"]
# One thread: on a shared 2-core machine more threads oversubscribe and crawl.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "train", *args], capture_output=True, text=True, cwd=cwd, env=ENV,
                          timeout=300, check=False)


def test_cli_trains_writes_metrics_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    out = run("--genotype", "darts_v2", "--dataset", "digits", "--epochs", "1", *TINY, "--run-dir", str(run_dir),
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"run directory: {run_dir}" in out.stdout
    assert "train darts_v2 on digits: test acc" in out.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_done"] == 1 and metrics["params"] > 0 and metrics["macs"] > 0
    out = run("--resume", str(run_dir), "--set", "train.epochs=2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_done"] == 2 and metrics["resumed_from"] == 1
    assert [h["epoch"] for h in metrics["history"]] == [1.0, 2.0]


def test_cli_bad_genotype_and_dataset_are_one_line_errors(tmp_path):
    for args, word in ((["--genotype", "no_such_genotype", "--dataset", "digits"], "no_such_genotype"),
                       (["--genotype", "darts_v2", "--dataset", "no-such-data"], "no-such-data")):
        out = run(*args, *TINY, "--run-dir", str(tmp_path / "r"), cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("base-dist: error:") and word in lines[0]
        assert not (tmp_path / "r").exists()  # nothing written for bad input
