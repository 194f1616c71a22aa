"""A real ``ray job submit`` of jobs/meta_train.py against a private local head (see ray_head.py)."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TINY = ["--config", "jobs/configs/tiny.yaml", "--set", "dist.workers=0", "--set", "meta.rounds=1"]
# Distributed inside the job: the driver joins the job's cluster via $RAY_ADDRESS and starts 1 worker.
TINY_DIST = ["--config", "jobs/configs/tiny.yaml", "--set", "dist.workers=1", "--set", "dist.num_cpus_per_worker=0.5",
             "--set", "meta.rounds=2", "--set", "tracking.mlflow=true"]


def submit(head, submission_id: str, *entry: str, runtime_env: dict | None = None):
    args = ["submit", "--submission-id", submission_id, "--working-dir", "."]
    if runtime_env:
        args += ["--runtime-env-json", json.dumps(runtime_env)]
    result = head.job(*args, "--log-color", "false", "--", "python", "jobs/meta_train.py", *entry, timeout=420)
    status = head.job("status", "--log-style", "record", "--log-color", "false", submission_id, timeout=60)
    return result, ANSI.sub("", status.stdout + status.stderr)


def succeeded(status: str) -> bool:
    """``ray job status`` ends with "Job '<id>' succeeded" (its status word is SUCCEEDED)."""
    return re.search(r"\bsucceeded\b", status, re.I) is not None and not re.search(r"\bfailed\b", status, re.I)


def test_submit_meta_train_succeeds_with_an_absolute_run_dir(ray_head, tmp_path):
    """Distributed (1 Ray worker) inside the job, MLflow on: SUCCEEDED, checkpoints, a run with metrics."""
    run_dir = tmp_path / "run"
    result, status = submit(ray_head, "bd-meta-train-1", *TINY_DIST, "--run-dir", str(run_dir),
                            runtime_env={"env_vars": {"MLFLOW_TRACKING_URI": ""}})
    log = result.stdout + result.stderr
    assert succeeded(status), status + log[-3000:] + ray_head.log_tail()
    assert [p.name for p in sorted((run_dir / "checkpoints").glob("ckpt-*"))][-1] == "ckpt-000002.safetensors"
    assert f"run directory: {run_dir}" in log
    assert "meta-train: 2/2 rounds" in log
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and "retries" in rows[-1]  # the Ray executor's counters: it ran distributed

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1, runs
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags.get("workers") == "1"
    assert {"val_acc", "train_loss", "tasks_per_s"} <= set(run.data.metrics)
    assert run.info.run_id == (run_dir / "mlflow_run_id").read_text().strip()


def test_default_run_dir_is_outside_the_working_dir_copy(ray_head, tmp_path):
    runs = tmp_path / "runs"
    result, status = submit(ray_head, "bd-meta-train-2", *TINY, runtime_env={"env_vars": {"BASE_DIST_RUNS": str(runs)}})
    log = result.stdout + result.stderr
    assert succeeded(status), status + log[-3000:]
    made = [p for p in runs.iterdir() if p.name.startswith("meta-train-")]
    assert len(made) == 1 and list((made[0] / "checkpoints").glob("ckpt-*"))
    assert re.search(rf"run directory: {re.escape(str(made[0]))}", log)
