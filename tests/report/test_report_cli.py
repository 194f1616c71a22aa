"""`base-dist derive` and `base-dist demo --quick` through a subprocess."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def tiny_meta_run(tmp_path_factory):
    from tests.conftest import CONFIGS, run_cli

    run = tmp_path_factory.mktemp("meta") / "mt"
    proc = run_cli("meta-train", "--config", str(CONFIGS / "tiny.yaml"), "--run-dir", str(run),
                   env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    return run


def test_derive_cli_from_meta_train(cli, tiny_meta_run, tmp_path):
    out = tmp_path / "derive"
    proc = cli("derive", "--checkpoint", str(tiny_meta_run), "--dataset", "digits", "--tasks", "2",
               "--run-dir", str(out), env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    g = json.loads((out / "genotype.json").read_text())
    assert set(g) == {"normal", "normal_concat", "reduce", "reduce_concat"} and len(g["normal"]) == 4
    assert (out / "cells.png").is_file()
    assert "genotype: Genotype(" in proc.stdout and f"run directory: {out}" in proc.stdout


def test_derive_cli_bad_inputs(cli, tiny_meta_run, tmp_path):
    proc = cli("derive", "--checkpoint", str(tmp_path / "missing"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    proc = cli("derive", "--checkpoint", str(tiny_meta_run))
    assert proc.returncode == 2 and "--dataset" in proc.stderr
    proc = cli("derive", "--checkpoint", str(tiny_meta_run), "--dataset", "nope")
    assert proc.returncode == 2 and "unknown dataset" in proc.stderr


@pytest.mark.slow
def test_demo_quick_end_to_end(cli, tmp_path):
    out = tmp_path / "demo"
    proc = cli("demo", "--quick", "--run-dir", str(out), "--set", "tracking.mlflow=true",
               env={"OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": ""}, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for stage in ("1-meta-train", "2-adapt", "3-derive", "4-train", "5-report"):
        assert (out / stage).is_dir(), stage
    assert (out / "3-derive" / "genotype.json").is_file() and (out / "3-derive" / "cells.png").is_file()
    assert (out / "5-report" / "adaptation.png").is_file()
    summary = (out / "summary.md").read_text()
    assert "retrained test acc" in summary
    assert f"mlflow ui --backend-store-uri sqlite:///{out}/mlflow.db" in proc.stdout
    assert (out / "mlflow.db").is_file()
