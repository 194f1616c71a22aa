"""A recipe's effect over several meta-training runs: each run's mean paired difference against a
reference arm, and their mean with a t 95 % interval over runs (the meta-training seed included).
With a reference arm of several runs, the two arms' difference over runs (Welch) comes first.

Each ``--run NAME PATH...`` is one meta-training run's adaptation rows (``fast_adaptation.json``
files, joined seed by seed as ``exp_fast_adaptation.py --join`` does; ``PATH:variant`` picks the
arm). ``--reference PATH...`` is the arm every run is paired with on the same adaptation seeds.
Or ``--reference-run NAME PATH...``, repeated, for a reference arm run several times (its own seed
sampled): then the first table is each run's mean accuracy in both arms and the difference of the
arms' means with a Welch t-interval over runs, and the second pairs each recipe run with the
reference runs' per-seed average. Prints markdown tables; reads only, writes nothing.

Example:
    .venv/bin/python benchmarks/exp_recipe_runs.py \
        --reference docs/rows/pretrain-wall/fast_adaptation.json:pretrained \
                    docs/rows/pretrain-wall/fmnist-share-ext-pretrained.json:pretrained \
        --run w8 docs/rows/pretrain-wall/eightway-w8.json docs/rows/pretrain-wall/eightway-ext-w8.json \
        --run w8s1 docs/rows/pretrain-wall/eightway-w8s1.json docs/rows/pretrain-wall/eightway-ext-w8s1.json
"""

from __future__ import annotations

import argparse


def _load_runs(parser: argparse.ArgumentParser, specs: list[list[str]], flag: str) -> dict[str, dict]:
    """``NAME PATH...`` groups, each joined and read as one run's final accuracies; a group without a
    path or a repeated name is refused."""
    from base_dist.report.fast_adaptation import join_fast_adaptation
    from base_dist.report.recipe_runs import final_accuracies

    for spec in specs:
        if len(spec) < 2:
            parser.error(f"{flag} {spec[0]}: give a name and at least one fast_adaptation.json")
    names = [name for name, *_ in specs]
    if len(set(names)) < len(names):
        parser.error(f"{flag} names must differ, got {' '.join(names)}")
    return {name: final_accuracies(join_fast_adaptation(paths), f"{flag} {name}") for name, *paths in specs}


def main() -> None:
    from base_dist.report.fast_adaptation import join_fast_adaptation
    from base_dist.report.recipe_runs import (
        arms_table,
        average_runs,
        compare_arms,
        final_accuracies,
        recipe_runs,
        recipe_table,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    reference = parser.add_mutually_exclusive_group(required=True)
    reference.add_argument("--reference", nargs="+", metavar="PATH[:VARIANT]",
                           help="the reference arm's fast_adaptation.json files")
    reference.add_argument("--reference-run", nargs="+", action="append", metavar=("NAME", "PATH[:VARIANT]"),
                           help="one run of the reference arm: a name, then its files (repeat per run)")
    parser.add_argument("--run", nargs="+", action="append", required=True, metavar=("NAME", "PATH[:VARIANT]"),
                        help="one meta-training run: a name, then its fast_adaptation.json files (repeat per run)")
    args = parser.parse_args()
    runs = _load_runs(parser, args.run, "--run")
    if args.reference:
        print(recipe_table(recipe_runs(runs, final_accuracies(join_fast_adaptation(args.reference), "--reference"))))
        return
    reference_runs = _load_runs(parser, args.reference_run, "--reference-run")
    print(arms_table(compare_arms(runs, reference_runs)))
    print(recipe_table(recipe_runs(runs, average_runs(reference_runs))))


if __name__ == "__main__":
    from base_dist.report.common import script_main

    script_main(main)
