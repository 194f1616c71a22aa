"""Summary of a select confirmation: rows read from the kept files, CIs compared, paired against references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from base_dist.errors import UserError
from base_dist.report.fewshot_selected import (
    EARLIER_SELECTED_ARM,
    SELECTED_ARM,
    ci_apart,
    per_seed_table,
    selected_row,
    summarise_selected,
    times_table,
)


def _keep(rows_dir: Path, seed: int, accs: list[float], *, times: bool) -> None:
    cands = [{"index": i, "origin": "most probable" if i == 0 else f"gumbel draw {i}", "val_acc": 0.3 + i / 10,
              "train_s": 60.0} for i in range(3)]
    (rows_dir / f"candidates-seed{seed}.json").write_text(json.dumps({"best": 2, "candidates": cands}))
    (rows_dir / f"eval-winner-seed{seed}.json").write_text(
        json.dumps({"k_shot": 5, "accuracies": accs, "network": {"params": 1234}}))
    if times:
        (rows_dir / f"times-seed{seed}.json").write_text(
            json.dumps({"search_s": 60, "select_s": 180, "train_s": 120, "eval_s": 60}))


def _reference(seed: int, conv4: list[float]) -> list[dict]:
    return [{"arm": "conv4", "k_shot": 5, "seed": seed, "accuracies": conv4},
            {"arm": "base-gumbel", "k_shot": 5, "seed": seed, "accuracies": [0.2, 0.3]},
            {"arm": "conv4", "k_shot": 1, "seed": seed, "accuracies": [0.9, 0.9]}]  # other K: ignored


def test_rows_ci_and_paired_differences(tmp_path: Path) -> None:
    _keep(tmp_path, 0, [0.6, 0.7], times=True)
    _keep(tmp_path, 1, [0.5, 0.6], times=False)
    selected = [selected_row(tmp_path, s) for s in (0, 1)]
    assert selected[0]["arm"] == SELECTED_ARM and selected[0]["winner"] == 2
    assert selected[0]["candidates_s"] == 180.0 and selected[1]["times"] is None
    reference = _reference(0, [0.4, 0.5]) + _reference(1, [0.45, 0.45])
    verdict, paired = summarise_selected(selected, reference)
    assert "60.00 ± 8.00 vs 45.00 ± 4.00 % - CIs apart, selected above" in verdict  # K=1 rows left out
    assert "base-gumbel-selected - conv4: +15.0 [-48.5, +78.5]" in paired and "(per seed: +20.0, +10.0)" in paired
    assert "conv4-wide" not in paired and "same machine" not in verdict  # no such reference rows
    same = [{**r, "arm": "conv4-same-machine"} for r in reference if r["arm"] == "conv4"]
    verdict, paired = summarise_selected(selected, reference + same)
    assert verdict.endswith("same machine: 60.00 ± 8.00 vs 45.00 ± 4.00 %")
    assert "base-gumbel-selected - conv4-same-machine: +15.0" in paired
    table = per_seed_table(selected, reference)
    assert "| 0 | 30.0, 40.0, 50.0 | 2 (gumbel draw 2) | 1,234 | 65.00 | 45.00 | 25.00 |" in table
    times = times_table(selected)
    assert "| 0 | 1.0 | 3.0 | 2.0 | 1.0 | 7.0 | 3.0 |" in times and "| 1 | - | - | - | - | - | 3.0 |" in times

    # A selection by successive halving: the dropped candidate's score is marked with its iterations.
    record = json.loads((tmp_path / "candidates-seed1.json").read_text())
    for c, its in zip(record["candidates"], (50, 100, 100), strict=True):
        c["iterations"] = its
    (tmp_path / "candidates-seed1.json").write_text(json.dumps({**record, "iterations": 100, "halving": True}))
    assert "| 1 | 30.0 (at 50 it), 40.0, 50.0 | 2 (gumbel draw 2) |" in per_seed_table([selected_row(tmp_path, 1)], reference)


def test_ci_apart_needs_the_lower_bound_above() -> None:
    high = [0.8 + 0.01 * (i % 3) for i in range(60)]
    low = [0.5 + 0.01 * (i % 3) for i in range(60)]
    rows = [{"arm": "a", "accuracies": high}, {"arm": "b", "accuracies": low}]
    assert ci_apart(rows, "a", "b")[0] and not ci_apart(rows, "b", "a")[0]
    with pytest.raises(UserError, match="no 'conv4' rows"):
        ci_apart(rows, "a", "conv4")


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="eval-winner-seed3.json: missing"):
        selected_row(tmp_path, 3)


def test_an_earlier_confirmation_is_a_paired_reference(tmp_path: Path) -> None:
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir(), old.mkdir()
    _keep(new, 0, [0.6, 0.7], times=False)
    _keep(old, 0, [0.5, 0.5], times=False)
    earlier = selected_row(old, 0, EARLIER_SELECTED_ARM)
    assert earlier["arm"] == EARLIER_SELECTED_ARM and earlier["winner"] == 2
    _, paired = summarise_selected([selected_row(new, 0)], _reference(0, [0.4, 0.5]) + [earlier])
    assert f"base-gumbel-selected - {EARLIER_SELECTED_ARM}: +15.0" in paired
    assert "| 0 | 30.0, 40.0, 50.0 | 2 (gumbel draw 2) | 1,234 | 65.00 | 45.00 | 50.00 | 25.00 |" in per_seed_table(
        [selected_row(new, 0)], _reference(0, [0.4, 0.5]) + [earlier])
