"""Experiment (e), few-shot select confirmation (pre-registered in b1effb0): per seed, `fewshot search` ->
`fewshot select --set fewshot.param_ratio=4` -> the winner continued to 300 MAML iterations -> `fewshot eval`,
against the conv4, conv4-wide and unselected BASE rows evaluated on the same test episodes.

Runs nothing: it summarises the per-seed files a confirmation kept in --rows-dir (see
base_dist/report/fewshot_selected.py) and rewrites the "fewshot-select-confirm" section of docs/results.md.

Example:
    .venv/bin/python benchmarks/exp_fewshot_select.py --rows-dir docs/rows/fewshot-select-confirm \
        --reference docs/rows/fewshot-glyphs-hard-4x.json docs/rows/fewshot-select-confirm/conv4-same-machine.json \
        --seed-list 0 1 2 3 4
"""

from __future__ import annotations

import json
from pathlib import Path

SECTION = "fewshot-select-confirm"
BUDGET = ("Budget (fixed in b1effb0): `jobs/configs/fewshot.yaml` with `fewshot.iterations=300 fewshot.layers=3 "
          "fewshot.source=glyphs-hard fewshot.k_shot=5 seed=K`; search in gumbel mode; `fewshot select` at "
          "`fewshot.param_ratio=4` with its defaults (4 candidates, 100 MAML iterations each, 100 val episodes); "
          "the winner continued to 300 iterations; 600 test episodes of the held-out classes (`eval_seed` 0), the "
          "same as the reference rows'")


def main() -> None:
    from base_dist.report.common import experiment_parser, experiment_seeds, publish_section
    from base_dist.report.fewshot_selected import per_seed_table, selected_row, summarise_selected, times_table

    ap = experiment_parser(__doc__, "fewshot-select", seeds=5)
    ap.add_argument("--rows-dir", type=Path, required=True, help="candidates-/eval-winner-/times-seedK.json")
    ap.add_argument("--reference", type=Path, nargs="+", required=True, help="exp_fewshot.py rows files with conv4, "
                    "conv4-wide, base-gumbel (and conv4-same-machine) on the same test episodes")
    ap.add_argument("--machine", default="", help="where and under what load the runs ran (text for the section)")
    ap.add_argument("--no-publish", action="store_true", help="print, do not touch docs/results.md")
    args = ap.parse_args()
    selected = [selected_row(args.rows_dir, seed) for seed in experiment_seeds(args)]
    reference = [r for path in args.reference for r in json.loads(path.read_text())]
    verdict, paired = summarise_selected(selected, reference)
    seeds_table, times = per_seed_table(selected, reference), times_table(selected)
    where = f" {args.machine}" if args.machine else ""
    body = (f"{BUDGET}.{where}\n\n{seeds_table}\n**{verdict}**\n\nPaired by seed (same test episodes; t-CI over "
            f"seeds):\n\n```\n{paired}\n```\n\nWall time per stage:\n\n{times}")
    if args.no_publish:
        print(body)
        return
    publish_section(args, SECTION, "(e) Few-shot on `glyphs-hard`: select confirmation, seeds 0-4 at 4x (pre-registered)",
                    body, f"{seeds_table}\n{verdict}\n{paired}")


if __name__ == "__main__":
    from base_dist.report.common import script_main

    script_main(main)
