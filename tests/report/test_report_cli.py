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
    proc = cli("derive", "--checkpoint", str(tmp_path / "missing"), cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    proc = cli("derive", "--checkpoint", str(tiny_meta_run), cwd=tmp_path)
    assert proc.returncode == 2 and "--dataset" in proc.stderr
    proc = cli("derive", "--checkpoint", str(tiny_meta_run), "--dataset", "nope", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown dataset" in proc.stderr
    assert not (tmp_path / "runs").exists()  # a refused command creates no run directory


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
    _check_run_tree(out)
    _after_the_search(cli, out / "4-train")


def _after_the_search(cli, train_dir):
    """README "after the search": export to ONNX, run it with onnxruntime, load the MLflow model and predict."""
    import subprocess
    import sys
    from pathlib import Path

    proc = cli("export", str(train_dir), "--format", "onnx", env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "predictions agree on 100.0%" in proc.stdout
    examples = Path(__file__).resolve().parents[2] / "examples"
    for script, arg in (("onnx_predict.py", train_dir / "export" / "model.onnx"), ("mlflow_predict.py", train_dir)):
        done = subprocess.run([sys.executable, str(examples / script), str(arg)], capture_output=True, text=True,
                              timeout=180, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "same predictions on 100%" in done.stdout


def _check_run_tree(out):
    """One parent run; every stage a child logging its inputs and outputs; the adapt run complete."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_name for r in parents] == ["tiny-demo"]
    parent = parents[0]
    children = {r.data.tags["stage"]: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {"meta-train", "adapt", "derive", "train"} and len(runs) == 5
    assert all(r.info.status == "FINISHED" for r in runs)
    files = {name: {a.path for a in client.list_artifacts(r.info.run_id)} for name, r in children.items()}
    assert {"summary.md", "cells.png"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
    adapt = children["adapt"]
    assert {"genotype.json", "cells.png", "cells_normal.png", "cells_reduce.png", "metrics.json"} <= files["adapt"]
    assert adapt.data.params["adapt.epochs"] == "1" and "adapt.lr_arch" in adapt.data.params
    assert adapt.data.tags["input.prior.run_id"] == children["meta-train"].info.run_id
    assert [m.step for m in client.get_metric_history(adapt.info.run_id, "val_acc")] == [1]
    assert {"genotype.json", "cells.png"} <= files["derive"]
    assert children["derive"].data.tags["input.adapted.run_id"] == adapt.info.run_id
    train = children["train"]
    assert train.data.tags["input.genotype.run_id"] == children["derive"].info.run_id
    assert {"genotype.json", "config.yaml", "profile.json", "metrics.json"} <= files["train"]
    assert [m.source_run_id for m in client.search_logged_models([train.info.experiment_id])] == [train.info.run_id]


def test_adapt_cli_run_logs_config_metrics_genotype_and_cells(cli, tiny_meta_run, tmp_path):
    from mlflow import MlflowClient

    out = tmp_path / "adapt"
    proc = cli("adapt", "--checkpoint", str(tiny_meta_run), "--run-dir", str(out), "--set", "tracking.mlflow=true",
               "--set", "adapt.epochs=2", env={"OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{out}/mlflow.db")
    run = client.get_run((out / "mlflow_run_id").read_text().strip())
    assert run.data.params["adapt.epochs"] == "2" and "adapt.lr_weights" in run.data.params
    assert run.data.params["input.prior"] == str(tiny_meta_run)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")] == [1, 2]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "genotype.json", "metrics.json", "cells.png", "cells_normal.png",
            "cells_reduce.png"} <= names
