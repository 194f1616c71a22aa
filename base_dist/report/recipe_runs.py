"""A recipe's effect over several meta-training runs, the meta-training seed included.

One meta-training run is one draw of its recipe: the seed alone moved a prior by about 3 points
(docs/results.md, "8-way meta-training tasks"). A paired CI over the adaptation seeds of one run
covers adaptation noise only, so it cannot say what a user who meta-trains the recipe gets. Here,
per dataset, each run's mean paired difference against a reference arm on the same adaptation seeds
(``m_r``) is one observation, and the recipe's estimate is their mean with a t-interval over runs.

The reference arm is a recipe too (plain pretraining moved 3-7 points with its seed): when it was
run several times, ``compare_arms`` scores every run of both arms by its mean accuracy on the same
adaptation seeds and gives the difference of the arms' means with a Welch t-interval over runs.

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
from base_dist.report.tables import fmt_ci, fmt_mean_std, markdown_table, paired_ci, welch_ci

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


def _common_seeds(finals: list[Finals]) -> dict[str, list[int]]:
    """The datasets every arm holds (in the first's order), each with the adaptation seeds all hold."""
    datasets = [ds for ds in finals[0] if all(ds in f for f in finals[1:])]
    if not datasets:
        raise UserError("no dataset is held by every run and the reference")
    out = {}
    for ds in datasets:
        seeds = sorted(set(finals[0][ds]).intersection(*(set(f[ds]) for f in finals[1:])))
        if len(seeds) < 2:
            raise UserError(f"{ds}: the runs and the reference share {len(seeds)} adaptation seed(s); need >= 2")
        out[ds] = seeds
    return out


def _at_least_two(runs: Mapping[str, Finals], what: str) -> None:
    if len(runs) < 2:
        raise UserError(f"{len(runs)} {what} given; a between-run estimate needs at least 2")


def recipe_runs(runs: Mapping[str, Finals], reference: Finals) -> list[RecipeEstimate]:
    """Per dataset that every run and the reference hold, on their common adaptation seeds."""
    _at_least_two(runs, "run(s)")
    out = []
    for ds, seeds in _common_seeds([reference, *runs.values()]).items():
        ref = [reference[ds][s] for s in seeds]
        per_run = {name: paired_ci([r[ds][s] for s in seeds], ref)[0] for name, r in runs.items()}
        averaged = [sum(r[ds][s] for r in runs.values()) / len(runs) for s in seeds]
        out.append(RecipeEstimate(ds, seeds, per_run, paired_ci(list(per_run.values()), [0.0] * len(per_run)),
                                  paired_ci(averaged, ref)))
    return out


def average_runs(runs: Mapping[str, Finals]) -> Finals:
    """The runs' mean accuracy per dataset and adaptation seed, on what they all hold.

    Example:
        >>> average_runs({"a": {"d": {0: 0.5, 1: 0.25}}, "b": {"d": {0: 0.75, 1: 0.75, 2: 1.0}}})
        {'d': {0: 0.625, 1: 0.5}}
    """
    return {ds: {s: sum(r[ds][s] for r in runs.values()) / len(runs) for s in seeds}
            for ds, seeds in _common_seeds(list(runs.values())).items()}


@dataclass(frozen=True)
class ArmsEstimate:
    """One dataset: each run's mean accuracy in both arms, and the arms' difference over runs (Welch)."""

    dataset: str
    seeds: list[int]
    recipe: dict[str, float]  # run -> mean accuracy over ``seeds``
    reference: dict[str, float]
    difference: tuple[float, float, float]  # (mean, low, high): recipe arm - reference arm
    df: float  # Welch-Satterthwaite


def _run_score(finals: dict[int, float], seeds: list[int]) -> float:
    return sum(finals[s] for s in seeds) / len(seeds)


def compare_arms(runs: Mapping[str, Finals], reference_runs: Mapping[str, Finals]) -> list[ArmsEstimate]:
    """Two recipes, each run several times: the difference of their mean run scores, a Welch t-interval.

    Every run scores its mean accuracy over the adaptation seeds that all runs of both arms hold, so
    the seeds' own difficulty is common to both arms; what is left is each arm's between-run spread.
    """
    _at_least_two(runs, "run(s)")
    _at_least_two(reference_runs, "reference run(s)")
    out = []
    for ds, seeds in _common_seeds([*reference_runs.values(), *runs.values()]).items():
        recipe = {name: _run_score(r[ds], seeds) for name, r in runs.items()}
        reference = {name: _run_score(r[ds], seeds) for name, r in reference_runs.items()}
        difference, df = welch_ci(list(recipe.values()), list(reference.values()))
        out.append(ArmsEstimate(ds, seeds, recipe, reference, difference, df))
    return out


def recipe_table(estimates: list[RecipeEstimate], scale: float = 100.0) -> str:
    """Markdown: per dataset the seeds, each run's ``m_r``, the between-run and the run-average CIs."""
    names = list(estimates[0].per_run)
    header = ["dataset", "adaptation seeds", *names, f"recipe ({len(names)} runs), t over runs",
              "run average, t over adaptation seeds"]
    rows = [[e.dataset, f"{len(e.seeds)}", *(f"{scale * e.per_run[n]:+.1f}" for n in names),
             fmt_ci(e.between, scale), fmt_ci(e.averaged, scale)] for e in estimates]
    return markdown_table(header, rows)


def arms_table(estimates: list[ArmsEstimate], scale: float = 100.0) -> str:
    """Markdown: per dataset each run's score in both arms, their mean ± sd, and the Welch difference."""
    def runs(scores: dict[str, float]) -> str:
        return ", ".join(f"{scale * v:.1f}" for v in scores.values())
    first = estimates[0]
    header = ["dataset", "adaptation seeds", f"recipe runs ({', '.join(first.recipe)})",
              f"reference runs ({', '.join(first.reference)})", "recipe, mean ± sd over runs",
              "reference, mean ± sd over runs", "recipe - reference, Welch t", "df"]
    rows = [[e.dataset, f"{len(e.seeds)}", runs(e.recipe), runs(e.reference),
             fmt_mean_std(list(e.recipe.values()), scale), fmt_mean_std(list(e.reference.values()), scale),
             fmt_ci(e.difference, scale), f"{e.df:.1f}"] for e in estimates]
    return markdown_table(header, rows)
