"""Experiment (e), few-shot select confirmations: per seed, `fewshot search` -> `fewshot select --set
fewshot.param_ratio=4` -> the winner continued to 300 MAML iterations -> `fewshot eval`, against the conv4,
conv4-wide and unselected BASE rows evaluated on the same test episodes. Two confirmations, each
pre-registered: `select` (b1effb0, DARTS's stem) and `stem1` (5d903b1, the same with `fewshot.conv_stem=1`,
also compared with the `select` confirmation's rows through --earlier-selected).

Runs nothing: it summarises the per-seed files a confirmation kept in --rows-dir (see
base_dist/report/fewshot_selected.py) and rewrites that confirmation's section of docs/results.md.

Example:
    .venv/bin/python benchmarks/exp_fewshot_select.py --rows-dir docs/rows/fewshot-select-confirm \
        --reference docs/rows/fewshot-glyphs-hard-4x.json docs/rows/fewshot-select-confirm/conv4-same-machine.json \
        --seed-list 0 1 2 3 4
    .venv/bin/python benchmarks/exp_fewshot_select.py --confirmation stem1 --rows-dir docs/rows/fewshot-stem-confirm \
        --reference docs/rows/fewshot-glyphs-hard-4x.json docs/rows/fewshot-select-confirm/conv4-same-machine.json \
        --earlier-selected docs/rows/fewshot-select-confirm --seed-list 0 1 2 3 4
"""

from __future__ import annotations

import json
from pathlib import Path

_RECIPE = ("`jobs/configs/fewshot.yaml` with `fewshot.iterations=300 fewshot.layers=3 fewshot.source=glyphs-hard "
           "fewshot.k_shot=5 seed=K`; search in gumbel mode; `fewshot select` at `fewshot.param_ratio=4`{stem} with its "
           "defaults (4 candidates, 100 MAML iterations each, 100 val episodes); the winner continued to 300 "
           "iterations; 600 test episodes of the held-out classes (`eval_seed` 0), the same as the reference rows'")
# confirmation -> (section marker, title, budget line)
CONFIRMATIONS = {
    "select": ("fewshot-select-confirm",
               "(e) Few-shot on `glyphs-hard`: select confirmation, seeds 0-4 at 4x (pre-registered)",
               "Budget (fixed in b1effb0): " + _RECIPE.format(stem="")),
    "stem1": ("fewshot-stem-confirm",
              "(e) Few-shot on `glyphs-hard`: select with a conv stem, seeds 0-4 at 4x (pre-registered)",
              "Budget (fixed in 5d903b1): " + _RECIPE.format(stem=" and `fewshot.conv_stem=1`")),
}


def main() -> None:
    from base_dist.report.common import experiment_parser, experiment_seeds, publish_section
    from base_dist.report.fewshot_selected import (
        EARLIER_SELECTED_ARM,
        per_seed_table,
        selected_row,
        summarise_selected,
        times_table,
    )

    ap = experiment_parser(__doc__, "fewshot-select", seeds=5)
    ap.add_argument("--rows-dir", type=Path, required=True, help="candidates-/eval-winner-/times-seedK.json")
    ap.add_argument("--reference", type=Path, nargs="+", required=True, help="exp_fewshot.py rows files with conv4, "
                    "conv4-wide, base-gumbel (and conv4-same-machine) on the same test episodes")
    ap.add_argument("--confirmation", choices=sorted(CONFIRMATIONS), default="select",
                    help="which pre-registered confirmation (its section and budget line)")
    ap.add_argument("--earlier-selected", type=Path, default=None, help="another confirmation's rows directory, "
                    f"compared as the arm {EARLIER_SELECTED_ARM!r}")
    ap.add_argument("--machine", default="", help="where and under what load the runs ran (text for the section)")
    ap.add_argument("--no-publish", action="store_true", help="print, do not touch docs/results.md")
    args = ap.parse_args()
    section, title, budget = CONFIRMATIONS[args.confirmation]
    seeds = experiment_seeds(args)
    selected = [selected_row(args.rows_dir, seed) for seed in seeds]
    reference = [r for path in args.reference for r in json.loads(path.read_text())]
    if args.earlier_selected:
        reference += [selected_row(args.earlier_selected, seed, EARLIER_SELECTED_ARM) for seed in seeds]
    verdict, paired = summarise_selected(selected, reference)
    seeds_table, times = per_seed_table(selected, reference), times_table(selected)
    where = f" {args.machine}" if args.machine else ""
    body = (f"{budget}.{where}\n\n{seeds_table}\n**{verdict}**\n\nPaired by seed (same test episodes; t-CI over "
            f"seeds):\n\n```\n{paired}\n```\n\nWall time per stage:\n\n{times}")
    if args.no_publish:
        print(body)
        return
    publish_section(args, section, title, body, f"{seeds_table}\n{verdict}\n{paired}")


if __name__ == "__main__":
    from base_dist.report.common import script_main

    script_main(main)
