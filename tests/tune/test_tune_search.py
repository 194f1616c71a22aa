"""A real 2-trial Ray Tune search over the tiny config, on the session's local Ray (2 CPUs).

Each trial reserves [driver 0.5 CPU] + [1 worker x 0.5 CPU]: two concurrent trials hold all 2 CPUs in
their placement groups, so the trials' worker actors can only start if Ray Tune captured them into
their trial's group — a worker placed outside would wait forever and the test would time out.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from base_dist.config import load_config
from base_dist.tune.search import run_search
from base_dist.tune.spec import load_tune_spec

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300)]

CONFIGS = Path(__file__).resolve().parents[2] / "jobs" / "configs"


def test_tune_two_trials_write_best_yaml_and_mlflow_parent_with_children(ray_session, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # nothing may depend on the cwd
    cfg = load_config(CONFIGS / "tiny.yaml", ["tracking.mlflow=true", "dist.workers=1",
                                               "dist.num_cpus_per_worker=0.5"])
    spec = load_tune_spec(CONFIGS / "tune_tiny.yaml")
    lines: list[str] = []
    t0 = time.perf_counter()
    res = run_search(cfg, spec, "search", echo=lines.append)  # a relative run dir is made absolute
    wall = time.perf_counter() - t0
    run_dir = tmp_path / "search"
    assert res.run_dir == run_dir

    # results table and best.yaml
    assert len(res.rows) == 2 and {r["status"] for r in res.rows} <= {"finished", "stopped"}
    assert (run_dir / "results.csv").read_text().count("\n") == 3
    best = load_config(run_dir / "best.yaml")
    assert best.meta.inner_steps == res.best_params["meta.inner_steps"]
    assert best.meta.inner_lr_weights == pytest.approx(res.best_params["meta.inner_lr_weights"])
    assert best.tracking.tracking_uri is None and best.dist.workers == 1  # the base config, not the trial's
    assert 0.0 <= res.best_metric <= 1.0
    assert any("holdout_acc=" in line for line in lines)

    # each trial: its own absolute run dir under the search dir, rounds reported after each round
    trial_dirs = sorted((run_dir / "trials").iterdir())
    assert len(trial_dirs) == 2
    for d in trial_dirs:
        assert list((d / "checkpoints").glob("ckpt-*")) and (d / "metrics.jsonl").is_file()
    finished = [r for r in res.rows if r["status"] == "finished"]
    assert finished and all(r["rounds"] == cfg.meta.rounds for r in finished)
    assert (run_dir / "trials" / finished[0]["trial_id"] / "genotype.json").is_file()

    # MLflow: one parent run for the search, one child per trial
    from mlflow import MlflowClient

    assert res.tracking_uri == f"sqlite:///{run_dir / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=res.tracking_uri)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == res.parent_run_id]
    assert len(parents) == 1 and parents[0].info.run_id == res.parent_run_id and len(children) == 2
    assert parents[0].info.status == "FINISHED" and "best_holdout_acc" in parents[0].data.metrics
    assert {r.data.tags["tune.trial_id"] for r in children} == {r["trial_id"] for r in res.rows}
    for child in children:
        assert "holdout_acc" in child.data.metrics and child.info.status in ("FINISHED", "KILLED")
    assert any(c.info.status == "FINISHED" for c in children)
    print(f"\ntune: 2 trials in {wall:.1f} s; trial_s " + ", ".join(f"{r['trial_id']}={r['trial_s']:.1f}"
                                                             for r in res.rows))


def test_tune_adapt_gain_scores_each_trial_once_by_adapting_its_prior(ray_session, tmp_path):
    from base_dist.meta.adapt import adaptation_gain
    from base_dist.tune.spec import parse_tune_spec

    cfg = load_config(CONFIGS / "tiny.yaml", ["adapt.max_train_images=64"])
    spec = parse_tune_spec({"metric": "adapt_gain", "num_samples": 1, "scheduler": "fifo", "driver_cpus": 0.5,
                            "params": {"meta.inner_steps": {"choice": [2]}}})
    lines: list[str] = []
    res = run_search(cfg, spec, tmp_path / "search", echo=lines.append)
    [row] = res.rows
    assert row["status"] == "finished"
    assert row["adapt_gain"] == pytest.approx(row["adapt_acc"] - row["scratch_acc"])
    assert res.best_metric == row["adapt_gain"]
    header = (tmp_path / "search" / "results.csv").read_text().splitlines()[0].split(",")
    assert "adapt_gain" in header and "holdout_acc" not in header  # these trials skip the holdout evaluation
    assert sum(" round " in line for line in lines) == 1  # one report: the metric exists only at the end
    # The score is the prior's worth as `adapt` measures it: recomputed here from the trial's run dir, the same.
    trial = load_config(tmp_path / "search" / "trials" / row["trial_id"] / "config.yaml")
    again = adaptation_gain(trial, tmp_path / "search" / "trials" / row["trial_id"])
    assert again == {k: row[k] for k in ("adapt_acc", "scratch_acc", "adapt_gain")}
