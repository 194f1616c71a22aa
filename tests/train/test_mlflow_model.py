"""`train` logs the network as an MLflow model: pyfunc loads it back and predicts like PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from base_dist.data import load_dataset
from base_dist.train import train
from base_dist.train.checkpoints import load_trained_network
from base_dist.train.export import inference_network


@pytest.fixture
def logged(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = tiny("tracking.mlflow=true", "tracking.registered_model=tiny-digits", "train.max_train_images=64")
    res = train(cfg, tmp_path / "run", progress=False)
    return res, f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}"


def test_logged_model_loads_back_and_predicts(logged, monkeypatch):
    import mlflow

    res, uri = logged
    model_uri = res.metrics["mlflow_model_uri"]
    assert model_uri and model_uri.startswith("models:/")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    model = mlflow.pyfunc.load_model(model_uri)
    x, _, _ = load_dataset("digits", "test", 16)
    images = x[:7].contiguous().numpy()
    got = model.predict(images)
    with torch.no_grad():
        want = inference_network(load_trained_network(res.run_dir).net)(torch.from_numpy(images)).numpy()
    assert got.shape == (7, 10) and np.abs(got - want).max() <= 1e-4
    sig = model.metadata.signature
    assert list(sig.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 1, 16, 16]
    local = mlflow.artifacts.download_artifacts(model_uri)
    files = {p.name for p in Path(local).rglob("*")}
    assert {"MLmodel", "genotype.json", "config.yaml", "profile.json", "input_example.json"} <= files


def test_run_artifacts_and_registry(logged):
    from mlflow import MlflowClient

    res, uri = logged
    client = MlflowClient(tracking_uri=uri)
    run_id = (res.run_dir / "mlflow_run_id").read_text().strip()
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"metrics.json", "genotype.json", "config.yaml", "profile.json"} <= names
    versions = client.search_model_versions("name='tiny-digits'")
    assert [v.run_id for v in versions] == [run_id]
    experiment = client.get_run(run_id).info.experiment_id
    assert [m.source_run_id for m in client.search_logged_models([experiment])] == [run_id]  # beside its run
