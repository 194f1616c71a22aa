"""A recipe's effect over several meta-training runs, the meta-training seed included.

One meta-training run is one draw of its recipe: the seed alone moved a prior by about 3 points
(docs/results.md, "8-way meta-training tasks"). A paired CI over the adaptation seeds of one run
covers adaptation noise only, so it cannot say what a user who meta-trains the recipe gets. Here,
per dataset, each run's mean paired difference against a reference arm on the same adaptation seeds
(``m_r``) is one observation, and the recipe's estimate is their mean with a t-interval over runs.

Example:
    >>> ref = {"digits": {0: 0.5, 1: 0.6}}
    >>> runs = {"a": {"digits": {0: 0.6, 1: 0.7}}, "b": {"digits": {0: 0.7, 1: 0.8}}}
    >>> est = recipe_runs(runs, ref)[0]
    >>> {k: round(v, 3) for k, v in est.per_run.items()}, [round(v, 3) for v in est.between]
    ({'a': 0.1, 'b': 0.2}, [0.15, -0.485, 0.785])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from base_dist.errors import UserError
from base_dist.report.fast_adaptation import FastAdaptationRecord
from base_dist.report.tables import fmt_ci, markdown_table, paired_ci

Finals = dict[str, dict[int, float]]  # [dataset][adaptation seed] -> accuracy after the last epoch


@dataclass(frozen=True)
class RecipeEstimate:
    """One dataset: each run's mean difference, their between-run mean and CI, and the run average's."""

    dataset: str
    seeds: list[int]
    per_run: dict[str, float]
    between: tuple[float, float, float]  # (mean, low, high) of per_run, t over runs
    averaged: tuple[float, float, float]  # mean over runs per seed - reference, t over adaptation seeds


def final_accuracies(record: FastAdaptationRecord, what: str) -> Finals:
    """Accuracy after the last adaptation epoch, per dataset and seed, of the record's one variant.

    ``what`` names the record in the error raised when it holds several variants of a dataset (pick
    one with ``PATH:variant`` when joining).
    """
    out: Finals = {}
    for ds, by_variant in record.curves.items():
        if len(by_variant) != 1:
            raise UserError(f"{what}: {ds} holds the variants {sorted(by_variant)}; take one with PATH:variant")
        (curves,) = by_variant.values()
        out[ds] = {seed: curve[-1] for seed, curve in zip(record.seeds[ds], curves, strict=True)}
    return out


def recipe_runs(runs: Mapping[str, Finals], reference: Finals) -> list[RecipeEstimate]:
    """Per dataset that every run and the reference hold, on their common adaptation seeds."""
    if len(runs) < 2:
        raise UserError(f"{len(runs)} run(s) given; a between-run estimate needs at least 2")
    datasets = [ds for ds in reference if all(ds in r for r in runs.values())]
    if not datasets:
        raise UserError("no dataset is held by every run and the reference")
    out = []
    for ds in datasets:
        seeds = sorted(set(reference[ds]).intersection(*(set(r[ds]) for r in runs.values())))
        if len(seeds) < 2:
            raise UserError(f"{ds}: the runs and the reference share {len(seeds)} adaptation seed(s); need >= 2")
        ref = [reference[ds][s] for s in seeds]
        per_run = {name: paired_ci([r[ds][s] for s in seeds], ref)[0] for name, r in runs.items()}
        averaged = [sum(r[ds][s] for r in runs.values()) / len(runs) for s in seeds]
        out.append(RecipeEstimate(ds, seeds, per_run, paired_ci(list(per_run.values()), [0.0] * len(per_run)),
                                  paired_ci(averaged, ref)))
    return out


def recipe_table(estimates: list[RecipeEstimate], scale: float = 100.0) -> str:
    """Markdown: per dataset the seeds, each run's ``m_r``, the between-run and the run-average CIs."""
    names = list(estimates[0].per_run)
    header = ["dataset", "adaptation seeds", *names, f"recipe ({len(names)} runs), t over runs",
              "run average, t over adaptation seeds"]
    rows = [[e.dataset, f"{len(e.seeds)}", *(f"{scale * e.per_run[n]:+.1f}" for n in names),
             fmt_ci(e.between, scale), fmt_ci(e.averaged, scale)] for e in estimates]
    return markdown_table(header, rows)
