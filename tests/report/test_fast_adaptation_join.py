"""Joining fast-adaptation runs: seed by seed, variant selection, refusals."""

from __future__ import annotations

import json

import pytest

from base_dist.errors import UserError
from base_dist.report.fast_adaptation import join_fast_adaptation, paired_table


def _run(path, curves, seeds=None):
    seconds = {ds: {v: [1.0] * len(runs) for v, runs in bv.items()} for ds, bv in curves.items()}
    path.write_text(json.dumps({"curves": curves, "seconds": seconds, **({"seeds": seeds} if seeds else {})}))
    return path


def test_join_pairs_arms_of_different_runs_seed_by_seed(tmp_path):
    old = _run(tmp_path / "old.json", {"d": {"co-adapted": [[0, .1], [0, .2]], "scratch": [[0, .5], [0, .6]]}})
    # the new prior's seeds arrive in another order and in two files
    new1 = _run(tmp_path / "n1.json", {"d": {"co-adapted": [[0, .9]]}}, seeds=[1])
    new0 = _run(tmp_path / "n0.json", {"d": {"co-adapted": [[0, .7]]}}, seeds=[0])
    curves, seconds = join_fast_adaptation([f"{old}:scratch", new1, new0])
    assert curves == {"d": {"scratch": [[0, .5], [0, .6]], "co-adapted": [[0, .7], [0, .9]]}}
    assert seconds["d"]["co-adapted"] == [1.0, 1.0]
    assert "| d | prior - scratch | 2 | +25.0" in paired_table(curves)


def test_join_refuses_duplicates_and_unpaired_seeds(tmp_path):
    a = _run(tmp_path / "a.json", {"d": {"co-adapted": [[0, .1]], "scratch": [[0, .5]]}})
    with pytest.raises(UserError, match="d / co-adapted / seed 0 is in another file too"):
        join_fast_adaptation([a, a])
    b = _run(tmp_path / "b.json", {"d": {"scratch": [[0, .5]]}}, seeds=[3])
    with pytest.raises(UserError, match="different seeds"):
        join_fast_adaptation([f"{a}:co-adapted", b])
