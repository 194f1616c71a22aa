"""Summary of a ``fewshot select`` confirmation: the selected cells against the few-shot reference arms.

Per seed, a confirmation keeps three files in one rows directory (run directories do not survive a
machine): ``candidates-seedK.json`` (what ``fewshot select`` wrote), ``eval-winner-seedK.json`` (the
winner's ``fewshot-eval-holdout.json`` after its run was continued) and, where the stage times were
logged, ``times-seedK.json`` (``{"search_s": .., "select_s": .., "train_s": .., "eval_s": ..}``, wall
seconds of each stage). The reference rows are an ``exp_fewshot.py`` rows file evaluated on the same
test episodes, so every comparison is paired by seed (and by episode inside a seed).

Example:
    >>> rows = [{"arm": "a", "seed": 0, "accuracies": [0.5, 0.7]}, {"arm": "conv4", "seed": 0, "accuracies": [0.5, 0.5]}]
    >>> ci_apart(rows, "a", "conv4")
    (False, '60.00 ± 19.60 vs 50.00 ± 0.00')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from base_dist.errors import UserError
from base_dist.report.fewshot import paired_against
from base_dist.report.tables import markdown_table
from base_dist.train.fewshot_eval import mean_ci95

SELECTED_ARM = "base-gumbel-selected"
STAGES = ("search_s", "select_s", "train_s", "eval_s")
# conv4-same-machine: conv4 re-run where the confirmation ran (searches and MAML runs differ across CPU types);
# selected-darts-stem: an earlier confirmation's selected cells (DARTS's stem), when a variant is confirmed against it
EARLIER_SELECTED_ARM = "selected-darts-stem"
REFERENCES = ("conv4", "conv4-same-machine", EARLIER_SELECTED_ARM, "base-gumbel", "conv4-wide")


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: missing; a confirmation keeps candidates-, eval-winner- (and times-) seedK.json "
                        f"for every seed it summarises")
    return json.loads(path.read_text())


def selected_row(rows_dir: str | Path, seed: int, arm: str = SELECTED_ARM) -> dict[str, Any]:
    """One seed's selected cell as a rows-file row (arm, k_shot, seed, accuracies, params), with its selection.

    ``arm`` names another confirmation's rows when they serve as a reference (:data:`EARLIER_SELECTED_ARM`).
    """
    rows_dir = Path(rows_dir)
    ev = _read(rows_dir / f"eval-winner-seed{seed}.json")
    cand = _read(rows_dir / f"candidates-seed{seed}.json")
    times_path = rows_dir / f"times-seed{seed}.json"
    best = next(c for c in cand["candidates"] if c["index"] == cand["best"])
    return {"arm": arm, "k_shot": ev["k_shot"], "seed": seed, "accuracies": ev["accuracies"],
            "params": ev["network"]["params"], "winner": best["index"], "winner_origin": best["origin"],
            "val_accs": [c["val_acc"] for c in cand["candidates"]],
            # under --halving a dropped candidate's score is at fewer iterations than the others'
            "val_iterations": [c.get("iterations", cand.get("iterations")) for c in cand["candidates"]],
            "candidates_s": sum(c["train_s"] for c in cand["candidates"]),
            "times": json.loads(times_path.read_text()) if times_path.is_file() else None}


def ci_apart(rows: list[dict[str, Any]], arm: str, reference: str) -> tuple[bool, str]:
    """Whether ``arm``'s all-episode 95 % CI lies above ``reference``'s, and both as text (percent)."""
    stats = []
    for name in (arm, reference):
        accs = [a for r in rows if r["arm"] == name for a in r["accuracies"]]
        if len(accs) < 2:
            raise UserError(f"no {name!r} rows for these seeds and shots; pass a --reference rows file that has them")
        stats.append(mean_ci95(accs))
    (m, c), (mr, cr) = stats
    return m - c > mr + cr, f"{100 * m:.2f} ± {100 * c:.2f} vs {100 * mr:.2f} ± {100 * cr:.2f}"


def _acc(rows: list[dict[str, Any]], arm: str, seed: int) -> str:
    found = [r for r in rows if r["arm"] == arm and r["seed"] == seed]
    return f"{100 * mean_ci95(found[0]['accuracies'])[0]:.2f}" if found else "-"


def per_seed_table(selected: list[dict[str, Any]], reference: list[dict[str, Any]]) -> str:
    """Per seed: the candidates' val scores, the winner, its test accuracy and the reference arms' (same episodes)."""
    arms = [a for a in REFERENCES if any(r["arm"] == a for r in reference)]
    header = ["seed", "val accuracy of the candidates, in order (%)", "winner", "params", "selected test %",
              *(f"{a} %" for a in arms)]
    out = []
    for r in selected:
        iters = r.get("val_iterations") or [None] * len(r["val_accs"])
        full = max((i for i in iters if i is not None), default=None)
        vals = ", ".join(f"{100 * v:.1f}" + (f" (at {i} it)" if i is not None and i != full else "")
                         for v, i in zip(r["val_accs"], iters, strict=True))
        out.append([r["seed"], vals, f"{r['winner']} ({r['winner_origin']})", f"{r['params']:,}",
                    _acc(selected, SELECTED_ARM, r["seed"]), *(_acc(reference, a, r["seed"]) for a in arms)])
    return markdown_table(header, out)


def times_table(selected: list[dict[str, Any]]) -> str:
    """Wall minutes per stage for the seeds whose stage times were logged; candidates' own MAML time for all."""
    out = []
    for r in selected:
        t = r["times"] or {}
        cells = [f"{t[s] / 60:.1f}" if s in t else "-" for s in STAGES]
        total = f"{sum(t[s] for s in STAGES) / 60:.1f}" if all(s in t for s in STAGES) else "-"
        out.append([r["seed"], *cells, total, f"{r['candidates_s'] / 60:.1f}"])
    return markdown_table(["seed", "search min", "select min", "train to 300 min", "eval min", "total min",
                           "candidates' MAML min"], out)


def summarise_selected(selected: list[dict[str, Any]], reference: list[dict[str, Any]]) -> tuple[str, str]:
    """``(verdict line, paired lines)``: the primary comparison (CIs over all episodes) and the paired ones."""
    seeds = {r["seed"] for r in selected}
    rows = selected + [r for r in reference if r["seed"] in seeds and r["k_shot"] == selected[0]["k_shot"]]
    apart, text = ci_apart(rows, SELECTED_ARM, "conv4")
    verdict = (f"selected vs conv4 over the {len(seeds)} seeds' episodes: {text} % - "
               f"{'CIs apart, selected above' if apart else 'CIs not apart (goal missed)'}")
    if any(r["arm"] == "conv4-same-machine" for r in rows):
        _, same = ci_apart(rows, SELECTED_ARM, "conv4-same-machine")
        verdict += f"; against conv4 re-run on the same machine: {same} %"
    paired = "\n".join(line for ref in REFERENCES if (line := paired_against(rows, SELECTED_ARM, ref)))
    return verdict, paired
