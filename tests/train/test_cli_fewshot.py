"""`base-dist fewshot train` -> `fewshot eval` end to end (in process), resume, and one-line errors."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from base_dist.cli import main

TINY = ["--set", "fewshot.image_size=16", "--set", "fewshot.k_query=2", "--set", "fewshot.meta_batch=2",
        "--set", "fewshot.inner_steps=1", "--set", "fewshot.test_inner_steps=1", "--set", "fewshot.checkpoint_every=2",
        "--set", "device=cpu", "--set", "tracking.mlflow=false"]


def _one_error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("base-dist: error:"), lines
    return lines[0]


def test_train_then_eval_then_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["fewshot", "train", "--iterations", "3", *TINY, "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "fewshot conv4 5-way 1-shot on glyphs: 3/3 iterations" in out and f"run directory: {run}" in out
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "checkpoints", "metrics.jsonl", "fewshot.json", ".lock"}
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    assert main(["fewshot", "eval", str(run), "--episodes", "4", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "5-way 1-shot holdout accuracy:" in out and "(95% CI, 4 episodes, 2 inner steps)" in out
    record = json.loads((run / "fewshot-eval-holdout.json").read_text())
    assert record["episodes"] == 4 and len(record["accuracies"]) == 4 and record["iterations"] == 3
    assert record["network"]["params"] == 28485 and 0 <= record["mean"] <= 1
    # The episodes split over 3 processes (uneven chunks of 2, 2 and 3): the same accuracies, in order.
    assert main(["fewshot", "eval", str(run), "--episodes", "7", "--steps", "2", "--set", "fewshot.eval_seed=3"]) == 0
    one = json.loads((run / "fewshot-eval-holdout.json").read_text())
    assert main(["fewshot", "eval", str(run), "--episodes", "7", "--steps", "2", "--set", "fewshot.eval_seed=3",
                 "--workers", "3"]) == 0
    capsys.readouterr()
    three = json.loads((run / "fewshot-eval-holdout.json").read_text())
    assert three["accuracies"] == one["accuracies"] and three["mean"] == one["mean"] and three["ci95"] == one["ci95"]
    assert len(set(one["accuracies"])) > 1  # distinct episodes, so the order is checked
    # Resume continues from the last checkpoint (3, the end) up to the new budget.
    assert main(["fewshot", "train", "--resume", str(run), "--iterations", "4"]) == 0
    assert "4/4 iterations" in capsys.readouterr().out
    assert sorted(load_file(str(run / "checkpoints" / "ckpt-000004.safetensors"))) != []


@pytest.mark.parametrize(("args", "needle"), [
    (["--network", "resnet99"], "resnet99"),
    (["--set", "fewshot.k_query=20"], "fewshot.k_shot + fewshot.k_query = 21"),
    (["--set", "fewshot.image_size=8"], "at least 16 px"),
    (["--set", "fewshot.source=digits"], "set data.holdout_classes"),
    (["--set", "fewshot.source=digits", "--set", "data.holdout_classes=5", "--set", "fewshot.val_every=1"],
     "'digits' has no fixed class split, so no val classes"),
    (["--set", "fewshot.inner_lr=-1"], "fewshot.inner_lr"),
    (["--network", "darts_v2", "--set", "fewshot.layers=3", "--set", "fewshot.conv_stem=3"],
     "fewshot.conv_stem=3 pools 16 px images to 2 px"),
])
def test_bad_train_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, needle):
    line = _one_error_line(capsys, "fewshot", "train", *TINY, *args, "--run-dir", str(tmp_path / "r"))
    assert needle in line
    assert not (tmp_path / "r").exists()


def test_bad_eval_input_is_one_line(tmp_path, capsys):
    assert "not a directory" in _one_error_line(capsys, "fewshot", "eval", str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    assert "no checkpoints/" in _one_error_line(capsys, "fewshot", "eval", str(tmp_path / "empty"))
    run = tmp_path / "run"
    assert main(["fewshot", "train", "--iterations", "1", *TINY, "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert "another network" in _one_error_line(capsys, "fewshot", "eval", str(run), "--set", "fewshot.n_way=3")
    assert "fewshot.eval_split" in _one_error_line(capsys, "fewshot", "eval", str(run), "--set", "fewshot.eval_split=x")
