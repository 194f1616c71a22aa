"""Distributed meta-training on a real local Ray cluster: parity, faults, resume, MLflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from base_dist import meta_train
from base_dist.config import load_config
from base_dist.distributed import create_trainer
from base_dist.track.checkpoint import load_checkpoint
from tests.conftest import CONFIGS, ROOT
from tests.distributed.faulty_workers import KillOnceWorker, NanOnceWorker

pytestmark = pytest.mark.ray


def _cfg(name: str, *extra: str):
    return load_config(CONFIGS / "tiny.yaml", [f"name={name}", "dist.workers=2", "dist.num_cpus_per_worker=0.5",
                                               "meta.rounds=3", "meta.tasks_per_round=3", *extra])


def run_distributed(cfg, run_dir, resume=False, worker_cls=None, **kwargs):
    """Meta-train through the engine the CLI uses (Ray workers, since the configs ask for them)."""
    return create_trainer(cfg, run_dir, resume=resume, worker_cls=worker_cls, **kwargs).run()


def _assert_same_W(a, b):
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The in-process result every distributed variant must match bitwise."""
    cfg = _cfg("ref").model_copy(update={"dist": _cfg("ref").dist.model_copy(update={"workers": 0})})
    return meta_train(cfg, tmp_path_factory.mktemp("ref"), progress=False)


def test_two_workers_match_in_process_bitwise(ray_session, reference, tmp_path):
    result = run_distributed(_cfg("parity"), tmp_path, progress=False)
    assert result.rounds_done == 3
    _assert_same_W(result.W, reference.W)
    assert any(not torch.equal(v, 0 * v) for v in result.W.values())


def test_a_run_from_meta_init_on_two_workers_matches_in_process_bitwise(ray_session, reference, tmp_path):
    start = f"meta.init={reference.checkpoint}"
    cfg = _cfg("init", start, "meta.rounds=1")
    in_process = meta_train(_cfg("init", start, "meta.rounds=1", "dist.workers=0"), tmp_path / "one", progress=False)
    _assert_same_W(run_distributed(cfg, tmp_path / "two", progress=False).W, in_process.W)
    assert not all(torch.equal(in_process.W[k], reference.W[k]) for k in reference.W)  # it trained on from there


def test_sigkill_of_a_worker_mid_round_still_gives_identical_W(ray_session, reference, tmp_path):
    name = f"kill-{os.getpid()}-{time.time_ns()}"
    marker = Path(tempfile.gettempdir()) / f"base-dist-kill-{name}"
    try:
        result = run_distributed(_cfg(name), tmp_path, worker_cls=KillOnceWorker, progress=False)
        assert marker.exists(), "the fault was never injected"
        _assert_same_W(result.W, reference.W)
        assert any(row.get("worker_restarts", 0) >= 1 for row in result.history)
    finally:
        marker.unlink(missing_ok=True)


def test_nan_delta_is_rejected_and_W_stays_finite(ray_session, tmp_path):
    result = run_distributed(_cfg("nan"), tmp_path, worker_cls=NanOnceWorker, progress=False)
    assert all(torch.isfinite(v).all() for v in result.W.values())
    assert result.history[0]["rejected_deltas"] == 1
    assert sum(row["rejected_deltas"] for row in result.history) == 1


def test_driver_killed_then_resumed_gives_identical_W(ray_session, reference, tmp_path):
    address = ray_session.get_runtime_context().gcs_address
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "base_dist", "meta-train", "--config", str(CONFIGS / "tiny.yaml"),
           "--set", "name=resume", "--set", "dist.workers=2", "--set", "dist.num_cpus_per_worker=0.5",
           "--set", "meta.rounds=3", "--set", "meta.tasks_per_round=3", "--set", f"dist.address={address}",
           "--run-dir", str(run_dir)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    first = run_dir / "checkpoints" / "ckpt-000001.safetensors"
    deadline = time.time() + 240
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert first.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no checkpoint in time"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    ckpt = load_checkpoint(run_dir)
    assert ckpt.round < 3, "the driver finished before it was killed; the test proved nothing"
    resumed = run_distributed(_cfg("resume"), run_dir, resume=True, progress=False)
    assert resumed.rounds_done == 3
    _assert_same_W(resumed.W, reference.W)


def test_mlflow_run_reads_back(ray_session, tmp_path):
    from mlflow.tracking import MlflowClient

    cfg = _cfg("mlflow", "tracking.mlflow=true", "meta.rounds=2")
    run_distributed(cfg, tmp_path, progress=False)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    run_id = (tmp_path / "mlflow_run_id").read_text().strip()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["meta.inner_steps"] == "2"
    assert run.data.params["dist.workers"] == "2"
    for key in ["train_loss", "val_acc", "arch_entropy", "tau", "outer_lr", "round_s", "tasks_per_s", "retries",
                "rejected_deltas", "driver_s"]:
        history = client.get_metric_history(run_id, key)
        assert [m.step for m in history] == [1, 2], key
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "genotype.json", "cells.png"} <= artifacts, artifacts


def test_bf16_deltas_are_rounded_only_once(ray_session, tmp_path):
    """One round with bf16 on the wire: W moves by the fp32 mean of bf16-rounded deltas."""
    fp32 = _cfg("bf16", "meta.rounds=1")
    ref = meta_train(fp32.model_copy(update={"dist": fp32.dist.model_copy(update={"workers": 0})}),
                     tmp_path / "ref", progress=False)
    init = meta_train(fp32.model_copy(update={"dist": fp32.dist.model_copy(update={"workers": 0}),
                                              "meta": fp32.meta.model_copy(update={"rounds": 1, "inner_steps": 0})}),
                      tmp_path / "init", progress=False).W
    result = run_distributed(_cfg("bf16", "meta.rounds=1", "dist.delta_dtype=bfloat16"), tmp_path / "bf16",
                             progress=False)
    for k, v in result.W.items():
        assert v.dtype == torch.float32
        step = (ref.W[k] - init[k]).abs().max().item()
        assert (v - ref.W[k]).abs().max().item() <= step * 2**-7 + 1e-7, k
    assert any(not torch.equal(result.W[k], ref.W[k]) for k in result.W), "bf16 was not used on the wire"
