"""MlflowTracker on a SQLite store in tmp_path, read back through MlflowClient; failure policy."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from base_dist.config import ExperimentConfig, load_config
from base_dist.errors import UserError
from base_dist.track.mlflow_logger import (
    MAX_PARAM_VALUE,
    RUN_ID_FILE,
    MlflowTracker,
    NullTracker,
    resolve_tracking_uri,
    start_tracker,
)

mlflow = pytest.importorskip("mlflow")


def _cfg(*overrides: str) -> ExperimentConfig:
    return load_config(None, list(overrides))


def test_run_reads_back_and_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = _cfg("meta.rounds=3", "tracking.experiment=track-test")
    with start_tracker(cfg, run_dir, "r1", tags={"kind": "test"}) as t:
        assert isinstance(t, MlflowTracker)
        assert t.tracking_uri == f"sqlite:///{run_dir}/mlflow.db"
        t.log_params(cfg)
        t.log_params({"long": "x" * (MAX_PARAM_VALUE + 50)})
        for step in (1, 2):
            t.log_metrics({"val_acc": 0.1 * step, "tasks_per_s": 2.0, "skip": None}, step=step)
        (run_dir / "genotype.json").write_text('{"normal": []}')
        t.log_artifact(run_dir / "genotype.json")
        t.set_tag("genotype", "g1")
        run_id = t.run_id
    assert t.failures == {}
    assert (run_dir / RUN_ID_FILE).read_text().strip() == run_id

    client = mlflow.MlflowClient(tracking_uri=t.tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "r1"
    assert run.data.params["meta.rounds"] == "3" and len(run.data.params["long"]) == MAX_PARAM_VALUE
    assert run.data.tags["kind"] == "test" and run.data.tags["genotype"] == "g1"
    hist = client.get_metric_history(run_id, "val_acc")
    assert [(m.step, round(m.value, 6)) for m in hist] == [(1, 0.1), (2, 0.2)]
    assert [a.path for a in client.list_artifacts(run_id)] == ["genotype.json"]
    assert run.info.artifact_uri.startswith((run_dir / "mlartifacts").as_uri())  # under the run dir

    # Resume: the same run id is reopened, params are not re-logged, new steps append.
    t2 = MlflowTracker.start(cfg, run_dir, "r1")
    assert t2.run_id == run_id
    assert client.get_run(run_id).info.status == "RUNNING"
    t2.log_params(cfg)
    t2.log_metrics({"val_acc": 0.3}, step=3)
    t2.end("KILLED")
    assert t2.failures == {}
    assert client.get_run(run_id).info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(run_id, "val_acc")] == [1, 2, 3]


def test_unreachable_server_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    with pytest.raises(UserError, match=f"MLflow store {uri} cannot be reached.*tracking.mlflow=false") as info:
        MlflowTracker.start(_cfg(f"tracking.tracking_uri={uri}"), tmp_path, "x")
    assert time.monotonic() - t0 < 15
    assert "\n" not in str(info.value)
    assert not (tmp_path / RUN_ID_FILE).exists()


def test_mid_run_failure_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    t = MlflowTracker.start(_cfg(), tmp_path, "x")

    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("server went away")

    t._client.log_batch = down  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="base_dist.track.mlflow_logger"):
        t.log_artifact(tmp_path / "missing.png")  # a real mlflow failure, one kind
        for step in range(5):
            t.log_metrics({"loss": 1.0}, step=step)  # another kind; must not raise
        t.end()  # the final status is still attempted, and succeeds
    warnings = [r.getMessage() for r in caplog.records if "training goes on" in r.getMessage()]
    assert len(warnings) == 2 and "log_artifact" in warnings[0] and "log_metrics" in warnings[1]
    assert "skipping logging calls" in caplog.text  # 3 failures in a row pause the calls
    assert t.failures["log_metrics"] == 5 and "end" not in t.failures
    assert mlflow.MlflowClient(tracking_uri=t.tracking_uri).get_run(t.run_id).info.status == "FINISHED"


def test_null_tracker_and_uri_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = start_tracker(_cfg("tracking.mlflow=false"), tmp_path, "x")
    assert type(t) is NullTracker and t.run_id is None
    t.log_params(_cfg())
    t.log_metrics({"a": 1}, 1)
    t.log_artifact(tmp_path)
    t.set_tag("a", 1)
    t.end()
    assert list(tmp_path.iterdir()) == []

    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri(_cfg("tracking.tracking_uri=sqlite:///rel/m.db"), "/r") == f"sqlite:///{tmp_path}/rel/m.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert resolve_tracking_uri(_cfg(), "/r") == "http://env:5000"
    assert resolve_tracking_uri(_cfg("tracking.tracking_uri=http://cfg:1"), "/r") == "http://cfg:1"
