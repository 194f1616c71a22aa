"""Joining fast-adaptation runs: seed by seed, variant selection, refusals."""

from __future__ import annotations

import json

import pytest

from base_dist.errors import UserError
from base_dist.report.fast_adaptation import join_fast_adaptation, paired_table
from base_dist.space.genotypes import genotype_to_dict, get_genotype


def _run(path, curves, seeds=None, genotypes=None):
    seconds = {ds: {v: [1.0] * len(runs) for v, runs in bv.items()} for ds, bv in curves.items()}
    path.write_text(json.dumps({"curves": curves, "seconds": seconds, **({"seeds": seeds} if seeds else {}),
                                **({"genotypes": genotypes} if genotypes else {})}))
    return path


def test_join_pairs_arms_of_different_runs_seed_by_seed(tmp_path):
    old = _run(tmp_path / "old.json", {"d": {"co-adapted": [[0, .1], [0, .2]], "scratch": [[0, .5], [0, .6]]}})
    # the new prior's seeds arrive in another order and in two files
    new1 = _run(tmp_path / "n1.json", {"d": {"co-adapted": [[0, .9]]}}, seeds=[1])
    new0 = _run(tmp_path / "n0.json", {"d": {"co-adapted": [[0, .7]]}}, seeds=[0])
    joined = join_fast_adaptation([f"{old}:scratch", new1, new0])
    assert joined.curves == {"d": {"scratch": [[0, .5], [0, .6]], "co-adapted": [[0, .7], [0, .9]]}}
    assert joined.seconds["d"]["co-adapted"] == [1.0, 1.0]
    assert joined.seeds == {"d": [0, 1]}
    assert "| d | prior - scratch | 2 | +25.0" in paired_table(joined.curves)


def test_join_carries_genotypes_and_its_record_joins_again(tmp_path):
    a = genotype_to_dict(get_genotype("darts_v2"))
    b = genotype_to_dict(get_genotype("darts_v1"))
    old = _run(tmp_path / "old.json", {"d": {"scratch": [[0, .5], [0, .6]]}}, seeds=[4, 7])  # no genotypes: older run
    new = _run(tmp_path / "new.json", {"d": {"co-adapted": [[0, .7], [0, .9]]}}, seeds=[4, 7],
               genotypes={"d": {"co-adapted": [a, b]}})
    joined = join_fast_adaptation([old, new])
    assert joined.genotypes == {"d": {"co-adapted": [a, b]}}
    res = joined.write(tmp_path / "all")
    assert "| d | co-adapted | 2 | 2 |" in res.table  # two seeds, two distinct genotypes
    again = join_fast_adaptation([tmp_path / "all" / "fast_adaptation.json"])
    assert (again.curves, again.genotypes, again.seeds) == (joined.curves, joined.genotypes, {"d": [4, 7]})


def test_join_refuses_duplicates_and_unpaired_seeds(tmp_path):
    a = _run(tmp_path / "a.json", {"d": {"co-adapted": [[0, .1]], "scratch": [[0, .5]]}})
    with pytest.raises(UserError, match="d / co-adapted / seed 0 is in another file too"):
        join_fast_adaptation([a, a])
    b = _run(tmp_path / "b.json", {"d": {"scratch": [[0, .5]]}}, seeds=[3])
    with pytest.raises(UserError, match="different seeds"):
        join_fast_adaptation([f"{a}:co-adapted", b])


@pytest.mark.parametrize("given, says", [
    (["--join", "{tmp}/nope.json:scratch"], "nope.json: no such file"),
    (["--pretrained", "{tmp}/ckpt.safetensors", "--pretrain-seconds", "60"], "needs --pretrained auto"),
    (["--pretrained", "auto", "--pretrain-seconds", "-1"], "a budget >= 0"),
])
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(tmp_path, given, says):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "exp_fast_adaptation.py"
    out = tmp_path / "out"
    argv = [a.format(tmp=tmp_path) for a in given]
    proc = subprocess.run([sys.executable, str(script), *argv, "--run-dir", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert says in proc.stderr
    assert not out.exists()
