"""Experiment (a), paper Fig. 4: accuracy per adaptation epoch — co-adapted vs frozen architecture vs scratch.

Writes fast_adaptation_<dataset>.png, table.md and fast_adaptation.json into --run-dir and updates
the "fast-adaptation" section of docs/results.md.

Example (the reduced budget of docs/results.md; the full budget drops --max-train-images and uses
--epochs 10 --datasets digits,fashion-mnist):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/exp_fast_adaptation.py \
        --checkpoint runs/demo-x/1-meta-train --seeds 3 --epochs 3 --max-train-images 400
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    from base_dist.report.common import (
        experiment_config,
        experiment_parser,
        experiment_seeds,
        given_overrides,
        machine_line,
        publish_section,
        run_experiment,
    )
    from base_dist.report.fast_adaptation import run_fast_adaptation

    ap = experiment_parser(__doc__, "fast-adaptation")
    ap.add_argument("--epochs", type=int, default=3, help="adaptation epochs")
    ap.add_argument("--max-train-images", type=int, default=None, help="adaptation train subset (budget)")
    ap.add_argument("--max-val-images", type=int, default=None, help="held-out subset, evaluated every epoch")
    ap.add_argument("--datasets", default="digits", help="comma list of sources, e.g. digits,fashion-mnist,glyphs-holdout")
    ap.add_argument("--tau", type=float, default=None,
                    help="Gumbel temperature for every variant (default: the checkpoint's)")
    ap.add_argument("--pretrained", default=None,
                    help="add the plain-pretraining arm: a pretrain checkpoint, or 'auto' to pretrain here for "
                         "the prior's budget (its rounds x tasks x inner steps SGD steps)")
    ap.add_argument("--pretrain-seconds", type=float, default=None,
                    help="with --pretrained auto: pretrain for this many wall seconds instead of the prior's steps "
                         "(equal wall clock; the torch threads are --set dist.torch_threads)")
    ap.add_argument("--variants", default=None, help="comma list of arms to run (default: all): co-adapted, "
                    "frozen-arch, scratch, pretrained")
    ap.add_argument("--join", nargs="+", default=None, metavar="PATH[:VARIANTS]",
                    help="summarise these fast_adaptation.json files (seed by seed; PATH:scratch,pretrained takes "
                         "only those arms) into --run-dir: table.md, figures and the joined fast_adaptation.json; runs "
                         "nothing, leaves docs alone")
    args = ap.parse_args()
    if args.pretrain_seconds is not None and (args.pretrained != "auto" or args.pretrain_seconds < 0):
        from base_dist.errors import UserError

        raise UserError(f"--pretrain-seconds {args.pretrain_seconds:g} needs --pretrained auto and a budget >= 0: it "
                        "caps the pretraining this run does (a given checkpoint was already trained)")
    if args.join:
        from base_dist.report.fast_adaptation import join_fast_adaptation

        res = join_fast_adaptation(args.join).write(args.run_dir)
        print(res.table)
        print(f"run directory: {args.run_dir.resolve()}")
        return
    sets = [f"adapt.epochs={args.epochs}", *given_overrides(args, {
        "max_train_images": "adapt.max_train_images", "max_val_images": "adapt.max_val_images", "tau": "adapt.tau"})]
    cfg = experiment_config(args, sets)
    t0 = time.perf_counter()
    seeds = experiment_seeds(args)

    def experiment(prior: Path) -> object:
        pretrained = args.pretrained
        if pretrained == "auto":
            from base_dist.report.pretrain import budget_steps, pretrain, prior_space_config

            timed = args.pretrain_seconds is not None
            pretrained = pretrain(prior_space_config(prior, cfg), None if timed else budget_steps(prior),
                                  args.run_dir / "pretrain", seconds=args.pretrain_seconds)
        return run_fast_adaptation(cfg, prior, seeds=seeds, datasets=args.datasets.split(","), run_dir=args.run_dir,
                                   pretrained=None if pretrained is None else Path(pretrained),
                                   variants=tuple(args.variants.split(",")) if args.variants else None)

    ckpt, res = run_experiment(cfg, args, "fast-adaptation", experiment)
    wall = time.perf_counter() - t0
    sets_line = f" with {' '.join(args.overrides)}" if args.overrides else ""
    budget = (f"config `{args.config}`{sets_line}, checkpoint `{ckpt}`; {len(seeds)} seeds; {args.epochs} adaptation epochs "
              f"at tau {res.tau:g}; "
              f"train subset {args.max_train_images or 'all'} images, held-out {args.max_val_images or 'all'}; "
              f"{wall / 60:.1f} min wall on {machine_line()}")
    body = (f"Budget: {budget}.\n\nHeld-out accuracy (%) per adaptation epoch, mean ± std over seeds; "
            f"figures: {', '.join(str(p) for p in res.figures)}.\n\n{res.table}")
    publish_section(args, "fast-adaptation", "(a) Fast adaptation (paper Fig. 4)", body, res.table)


if __name__ == "__main__":
    from base_dist.report.common import script_main

    script_main(main)
