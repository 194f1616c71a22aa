"""A recipe's effect over several meta-training runs: each run's mean paired difference against a
reference arm, and their mean with a t 95 % interval over runs (the meta-training seed included).

Each ``--run NAME PATH...`` is one meta-training run's adaptation rows (``fast_adaptation.json``
files, joined seed by seed as ``exp_fast_adaptation.py --join`` does; ``PATH:variant`` picks the
arm). ``--reference PATH...`` is the arm every run is paired with on the same adaptation seeds.
Prints a markdown table; reads only, writes nothing.

Example:
    .venv/bin/python benchmarks/exp_recipe_runs.py \
        --reference docs/rows/pretrain-wall/fast_adaptation.json:pretrained \
                    docs/rows/pretrain-wall/fmnist-share-ext-pretrained.json:pretrained \
        --run w8 docs/rows/pretrain-wall/eightway-w8.json docs/rows/pretrain-wall/eightway-ext-w8.json \
        --run w8s1 docs/rows/pretrain-wall/eightway-w8s1.json docs/rows/pretrain-wall/eightway-ext-w8s1.json
"""

from __future__ import annotations

import argparse


def main() -> None:
    from base_dist.report.fast_adaptation import join_fast_adaptation
    from base_dist.report.recipe_runs import final_accuracies, recipe_runs, recipe_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", nargs="+", required=True, metavar="PATH[:VARIANT]",
                        help="the reference arm's fast_adaptation.json files")
    parser.add_argument("--run", nargs="+", action="append", required=True, metavar=("NAME", "PATH[:VARIANT]"),
                        help="one meta-training run: a name, then its fast_adaptation.json files (repeat per run)")
    args = parser.parse_args()
    for spec in args.run:
        if len(spec) < 2:
            parser.error(f"--run {spec[0]}: give a name and at least one fast_adaptation.json")
    names = [name for name, *_ in args.run]
    if len(set(names)) < len(names):
        parser.error(f"--run names must differ, got {' '.join(names)}")
    reference = final_accuracies(join_fast_adaptation(args.reference), "--reference")
    runs = {name: final_accuracies(join_fast_adaptation(paths), f"--run {name}") for name, *paths in args.run}
    print(recipe_table(recipe_runs(runs, reference)))


if __name__ == "__main__":
    from base_dist.report.common import script_main

    script_main(main)
