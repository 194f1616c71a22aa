"""A recipe's effect over meta-training runs: exact figures on constructed rows, refusals, the script."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from base_dist.errors import UserError
from base_dist.report.fast_adaptation import FastAdaptationRecord
from base_dist.report.recipe_runs import (
    arms_table,
    average_runs,
    compare_arms,
    final_accuracies,
    recipe_runs,
    recipe_table,
)
from base_dist.report.tables import welch_ci

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


def test_welch_interval_matches_scipys_unequal_variance_t_test():
    from scipy.stats import ttest_ind

    a, b = [0.61, 0.70, 0.66, 0.74, 0.69], [0.60, 0.52, 0.66]
    (m, lo, hi), df = welch_ci(a, b)
    ref = ttest_ind(a, b, equal_var=False)
    assert m == pytest.approx(sum(a) / 5 - sum(b) / 3)
    assert df == pytest.approx(ref.df)
    assert (lo, hi) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert welch_ci([0.5, 0.5], [0.25, 0.25]) == ((0.25, 0.25, 0.25), float("inf"))
    (m1, lo1, _), df1 = welch_ci([0.5], [0.25, 0.5])
    assert m1 == pytest.approx(0.125) and math.isnan(lo1) and math.isnan(df1)  # one run: a mean, no interval


def test_arms_compare_run_scores_on_the_seeds_every_run_holds():
    # seed 7 is held by one run only: left out of every score
    runs = {"a": {"d": {0: 0.6, 1: 0.8, 7: 0.0}}, "b": {"d": {0: 0.7, 1: 0.9}}, "c": {"d": {0: 0.8, 1: 1.0}}}
    refs = {"p": {"d": {0: 0.5, 1: 0.5}}, "q": {"d": {0: 0.6, 1: 0.8}}}
    (est,) = compare_arms(runs, refs)
    assert est.seeds == [0, 1]
    assert est.recipe == pytest.approx({"a": 0.7, "b": 0.8, "c": 0.9})
    assert est.reference == pytest.approx({"p": 0.5, "q": 0.7})
    (m, lo, hi), df = welch_ci([0.7, 0.8, 0.9], [0.5, 0.7])
    assert est.difference == pytest.approx((m, lo, hi)) and est.df == pytest.approx(df)
    assert m == pytest.approx(0.2)
    assert "| d | 2 | 70.0, 80.0, 90.0 | 50.0, 70.0 | 80.0 ± 10.0 | 60.0 ± 14.1 | +20.0 [" in arms_table([est])
    assert average_runs(refs)["d"] == pytest.approx({0: 0.55, 1: 0.65})
    with pytest.raises(UserError, match="1 reference run"):
        compare_arms(runs, {"p": refs["p"]})


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


def test_script_compares_two_arms_of_several_runs(tmp_path):
    script = [sys.executable, str(ROOT / "benchmarks" / "exp_recipe_runs.py")]
    arms = [*(("--run", n, str(_rows(tmp_path / f"{n}.json", "co-adapted", v)))
              for n, v in (("a", [0.6, 0.7]), ("b", [0.7, 0.8]))),
            *(("--reference-run", n, str(_rows(tmp_path / f"{n}.json", "pretrained", v)))
              for n, v in (("p", [0.5, 0.6]), ("q", [0.6, 0.5])))]
    ok = subprocess.run([*script, *(x for arm in arms for x in arm)], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    # run scores 65, 75 against 55, 55: +15; the second table pairs with the reference average (55, 55)
    assert "| d | 2 | 65.0, 75.0 | 55.0, 55.0 | 70.0 ± 7.1 | 55.0 ± 0.0 | +15.0 [" in ok.stdout
    assert "| d | 2 | +10.0 | +20.0 | +15.0 [-48.5, +78.5] |" in ok.stdout
    both = subprocess.run([*script, "--reference", arms[2][2], *arms[3], *arms[0], *arms[1]],
                          capture_output=True, text=True, cwd=tmp_path)
    assert both.returncode == 2 and "not allowed with" in both.stderr
    one = subprocess.run([*script, *arms[2], *arms[0], *arms[1]], capture_output=True, text=True, cwd=tmp_path)
    assert one.returncode == 2 and "1 reference run(s) given" in one.stderr and "Traceback" not in one.stderr
