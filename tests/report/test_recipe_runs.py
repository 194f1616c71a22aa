"""A recipe's effect over meta-training runs: exact figures on constructed rows, refusals, the script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from base_dist.errors import UserError
from base_dist.report.fast_adaptation import FastAdaptationRecord
from base_dist.report.recipe_runs import final_accuracies, recipe_runs, recipe_table

ROOT = Path(__file__).resolve().parents[2]


def test_between_run_estimate_is_the_t_interval_of_the_per_run_means():
    ref = {"d": {0: 0.5, 1: 0.6, 2: 0.7}}
    # run a is +10 on every seed, run b +20 and +30 in turn: per-run means 0.10 and 0.20
    runs = {"a": {"d": {0: 0.6, 1: 0.7, 2: 0.8}}, "b": {"d": {0: 0.7, 1: 0.9, 2: 0.9}}}
    (est,) = recipe_runs(runs, ref)
    assert est.seeds == [0, 1, 2]
    assert est.per_run == pytest.approx({"a": 0.1, "b": 0.2 + 0.1 / 3})
    m, lo, hi = est.between
    assert m == pytest.approx((0.1 + 0.2 + 0.1 / 3) / 2)
    # two runs: t(1) = 12.706, half-width = 12.706 * |a - b| / 2
    assert hi - m == pytest.approx(12.7062 * (0.1 + 0.1 / 3) / 2, rel=1e-4)
    assert m - lo == pytest.approx(hi - m)
    # the run average per seed (0.65, 0.8, 0.85) against the reference: a paired CI over 3 seeds
    assert est.averaged[0] == pytest.approx(m)
    assert "| d | 3 | +10.0 | +23.3 | +16.7 [" in recipe_table([est])


def test_identical_runs_have_a_zero_width_interval_and_seeds_are_the_common_ones():
    ref = {"d": {0: 0.5, 1: 0.5, 9: 0.1}, "only-ref": {0: 0.3, 1: 0.3}}
    run = {"d": {0: 0.6, 1: 0.6, 5: 0.9}}
    (est,) = recipe_runs({"a": run, "b": run}, ref)  # "only-ref" is not held by the runs: left out
    assert est.seeds == [0, 1]
    assert est.between == pytest.approx((0.1, 0.1, 0.1))


def test_refusals():
    ref = {"d": {0: 0.5, 1: 0.6}}
    with pytest.raises(UserError, match="at least 2"):
        recipe_runs({"a": ref}, ref)
    with pytest.raises(UserError, match="share 1 adaptation seed"):
        recipe_runs({"a": {"d": {0: 0.1}}, "b": {"d": {0: 0.2}}}, ref)
    with pytest.raises(UserError, match="no dataset"):
        recipe_runs({"a": {"e": {0: 0.1}}, "b": {"e": {0: 0.2}}}, ref)
    two_arms = FastAdaptationRecord({"d": {"co-adapted": [[0, .7]], "scratch": [[0, .5]]}}, {}, {}, {"d": [3]})
    with pytest.raises(UserError, match="PATH:variant"):
        final_accuracies(two_arms, "--run x")
    one_arm = FastAdaptationRecord({"d": {"co-adapted": [[0, .7], [.1, .8]]}}, {}, {}, {"d": [3, 5]})
    assert final_accuracies(one_arm, "--run x") == {"d": {3: .7, 5: .8}}


def _rows(path: Path, variant: str, finals: list[float]) -> Path:
    curves = {"d": {variant: [[0.0, f] for f in finals]}}
    seconds = {"d": {variant: [1.0] * len(finals)}}
    path.write_text(json.dumps({"curves": curves, "seconds": seconds, "seeds": {"d": list(range(len(finals)))}}))
    return path


def test_script_prints_the_table_and_refuses_bad_input_in_one_line(tmp_path):
    ref = _rows(tmp_path / "ref.json", "pretrained", [0.5, 0.6])
    a = _rows(tmp_path / "a.json", "co-adapted", [0.6, 0.7])
    b = _rows(tmp_path / "b.json", "co-adapted", [0.7, 0.8])
    script = [sys.executable, str(ROOT / "benchmarks" / "exp_recipe_runs.py")]
    ok = subprocess.run([*script, "--reference", str(ref), "--run", "a", str(a), "--run", "b", str(b)],
                        capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "| d | 2 | +10.0 | +20.0 | +15.0 [-48.5, +78.5] | +15.0 [+15.0, +15.0] |" in ok.stdout
    bad = subprocess.run([*script, "--reference", str(ref), "--run", "a", str(a)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2
    assert "needs at least 2" in bad.stderr and "Traceback" not in bad.stderr
