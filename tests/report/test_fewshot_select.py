"""`base-dist fewshot select`: candidates from a search, scored by short MAML runs; resume; refusals."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from base_dist.cli import main
from base_dist.space.genotypes import genotype_from_dict, load_genotype_file, shared_edges
from tests.meta.conftest import TINY

SMALL = ["fewshot.image_size=16", "fewshot.k_query=2", "fewshot.meta_batch=2", "fewshot.inner_steps=1",
         "fewshot.test_inner_steps=1", "device=cpu", "tracking.mlflow=false", "meta.rounds=1",
         "fewshot.layers=2", "fewshot.select_val_episodes=3", "fewshot.checkpoint_every=1"]
SETS = [x for s in SMALL for x in ("--set", s)]


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory):
    run = tmp_path_factory.mktemp("select") / "search"
    assert main(["fewshot", "search", "--config", str(TINY), *SETS, "--arch-mode", "gumbel", "--run-dir", str(run)]) == 0
    return run


def _record(run) -> dict:
    return json.loads((run / "candidates.json").read_text())


def test_select_scores_distinct_candidates_and_keeps_the_best(search, tmp_path, capsys):
    run = tmp_path / "sel"
    assert main(["fewshot", "select", str(search), "--candidates", "3", "--iterations", "2", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "fewshot select: 3 candidates" in out and f"--network {run / 'genotype.json'}" in out
    record = _record(run)
    winner = run / f"candidate-{record['best']}"
    assert f"--resume {winner} --set fewshot.iterations=1000" in out  # the hint continues the winner's run
    cands = [genotype_from_dict(c["genotype"]) for c in record["candidates"]]
    assert record["candidates"][0]["origin"] == "most probable"
    assert cands[0] == load_genotype_file(search / "genotype.json")  # the search's own genotype comes first
    assert all(shared_edges(a, b) < 1.0 for i, a in enumerate(cands) for b in cands[i + 1:])
    accs = [c["val_acc"] for c in record["candidates"]]
    assert record["best"] == accs.index(max(accs)) and load_genotype_file(run / "genotype.json") == cands[record["best"]]
    for k in range(3):  # each candidate is a real MAML run of the asked length, scored on the val classes
        rows = [json.loads(x) for x in (run / f"candidate-{k}" / "metrics.jsonl").read_text().splitlines()]
        assert [r["iteration"] for r in rows] == [1, 2] and "val_acc" in rows[-1] and 0 <= rows[-1]["val_acc"] <= 1

    # Two candidates at a time, each in its own process: the same scores.
    par = tmp_path / "par"
    assert main(["fewshot", "select", str(search), "--candidates", "3", "--iterations", "2", "--workers", "2",
                 "--run-dir", str(par)]) == 0
    capsys.readouterr()
    assert [c["val_acc"] for c in _record(par)["candidates"]] == accs and _record(par)["best"] == record["best"]

    # Interrupted inside candidate 1 (its last checkpoint and everything after it lost): --resume ends the same.
    again = tmp_path / "again"
    shutil.copytree(run, again)
    for name in ("candidates.json", "genotype.json"):
        (again / name).unlink()
    shutil.rmtree(again / "candidate-2")
    (again / "candidate-1" / "fewshot.json").unlink()
    (again / "candidate-1" / "checkpoints" / "ckpt-000002.safetensors").unlink()
    assert main(["fewshot", "select", str(search), "--resume", str(again)]) == 0
    capsys.readouterr()
    resumed = _record(again)
    assert [c["val_acc"] for c in resumed["candidates"]] == accs and resumed["best"] == record["best"]
    assert [c["genotype"] for c in resumed["candidates"]] == [c["genotype"] for c in record["candidates"]]
    # Resuming with another seed would score other candidates: refused, nothing changed.
    before = sorted(p.name for p in again.rglob("*"))
    assert main(["fewshot", "select", str(search), "--resume", str(again), "--set", "seed=7"]) == 2
    assert "came from another search or seed" in capsys.readouterr().err
    assert sorted(p.name for p in again.rglob("*")) == before


def test_halving_continues_the_better_half_and_ends_as_the_full_selection(search, tmp_path, capsys):
    full, halved = tmp_path / "full", tmp_path / "halved"
    common = [str(search), "--candidates", "3", "--iterations", "4"]
    assert main(["fewshot", "select", *common, "--run-dir", str(full)]) == 0
    assert main(["fewshot", "select", *common, "--halving", "--run-dir", str(halved)]) == 0
    out = capsys.readouterr().out
    by_full, record = _record(full), _record(halved)
    assert record["halving"] and not by_full["halving"]
    at_half = [c["half_val_acc"] for c in record["candidates"]]
    kept = sorted(range(3), key=lambda k: (-at_half[k], k))[:2]  # the better half, rounded up
    for cand, ref in zip(record["candidates"], by_full["candidates"], strict=True):
        assert cand["genotype"] == ref["genotype"]
        rows = [json.loads(x) for x in (halved / f"candidate-{cand['index']}" / "metrics.jsonl").read_text().splitlines()]
        if cand["index"] in kept:  # continued from its half-time checkpoint: the full selection's score, bit for bit
            assert cand["iterations"] == 4 and cand["val_acc"] == ref["val_acc"]
            assert [r["iteration"] for r in rows if "val_acc" in r] == [2, 4]
        else:  # dropped at half time, scored there
            assert cand["iterations"] == 2 and cand["val_acc"] == at_half[cand["index"]]
            assert [r["iteration"] for r in rows] == [1, 2] and " at 2 it" in out
    assert record["best"] == max(kept, key=lambda k: (by_full["candidates"][k]["val_acc"], -k))

    # Interrupted in the second half (a continued candidate's last checkpoint and summary lost): the same record.
    again = tmp_path / "again"
    shutil.copytree(halved, again)
    for name in ("candidates.json", "genotype.json"):
        (again / name).unlink()
    (again / f"candidate-{kept[1]}" / "fewshot.json").unlink()
    (again / f"candidate-{kept[1]}" / "checkpoints" / "ckpt-000004.safetensors").unlink()
    assert main(["fewshot", "select", str(search), "--resume", str(again)]) == 0
    untimed = [{k: v for k, v in c.items() if k != "train_s"} for c in record["candidates"]]
    assert [{k: v for k, v in c.items() if k != "train_s"} for c in _record(again)["candidates"]] == untimed
    assert _record(again)["best"] == record["best"]
    # Resuming under another rule would mix scores made under two: refused, nothing changed.
    capsys.readouterr()
    before = sorted(p.name for p in again.rglob("*"))
    assert main(["fewshot", "select", str(search), "--resume", str(again), "--set", "fewshot.select_halving=false"]) == 2
    assert "fewshot.select_halving=True, not False" in capsys.readouterr().err
    assert sorted(p.name for p in again.rglob("*")) == before


def test_select_refusals_are_one_line_and_write_nothing(search, tmp_path, capsys):
    def refused(*args: str) -> str:
        assert main(["fewshot", "select", *args]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("base-dist: error:"), lines
        return lines[0]

    new = tmp_path / "new"
    missing = refused(str(tmp_path / "missing"), "--run-dir", str(new))
    assert "no such file or directory" in missing and "`base-dist fewshot search` wrote" in missing
    train = tmp_path / "train"
    assert main(["fewshot", "train", "--config", str(TINY), *SETS, "--iterations", "1", "--run-dir", str(train)]) == 0
    capsys.readouterr()
    assert "`base-dist fewshot search` wrote" in refused(str(train), "--run-dir", str(new))
    assert "fewshot.conv_stem=3" in refused(str(search), "--set", "fewshot.conv_stem=3", "--run-dir", str(new))
    assert "holds no selection" in refused(str(search), "--resume", str(train))
    assert "select_iterations >= 2" in refused(str(search), "--halving", "--iterations", "1", "--run-dir", str(new))
    assert not new.exists()


def test_a_plain_meta_train_or_adapt_run_is_not_a_search(search):
    from base_dist.config import load_config
    from base_dist.errors import UserError
    from base_dist.meta.prior import load_posterior
    from base_dist.report.fewshot_select import check_select

    post = load_posterior(search)
    cfg = load_config(TINY, SMALL)
    check_select(cfg, post)  # the search itself passes
    for changed in (replace(post, kind="adapt"), replace(post, config={**post.config, "meta": {"second_order": False}})):
        with pytest.raises(UserError, match="not a `fewshot search` run"):
            check_select(cfg, changed)
