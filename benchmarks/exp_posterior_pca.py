"""Experiment (b), paper Fig. 3: PCA of adapted posteriors (sampled weights, sampled architectures).

Writes posterior_pca_seed<k>.png, vectors_seed<k>.npz, table.md and posterior_pca.json into --run-dir
and updates the "posterior-pca" section of docs/results.md. A seed whose vectors are already in --run-dir
(same config, prior and counts) is not adapted again: run seed lanes in parallel into one --run-dir
(--seed-list 0 2, --seed-list 1 3), then summarise them all with --seeds 4.

Example:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/exp_posterior_pca.py \
        --checkpoint runs/demo-x/1-meta-train --seeds 3 --tasks 4 --samples 2
"""

from __future__ import annotations

import os
import time

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
    from base_dist.report.posterior_pca import run_posterior_pca

    ap = experiment_parser(__doc__, "posterior-pca")
    ap.add_argument("--tasks", type=int, default=16,
                    help="tasks adapted per (dataset, image size) group; with 4 or fewer the tasks' own directions "
                         "take the top PCs and hide the datasets' (docs/results.md, posterior PCA at 16 tasks)")
    ap.add_argument("--samples", type=int, default=4, help="posterior draws per adapted task")
    ap.add_argument("--inner-steps", type=int, default=None, help="inner-loop steps per task (meta.inner_steps)")
    ap.add_argument("--unseen", default="digits", help="the unseen dataset")
    args = ap.parse_args()
    cfg = experiment_config(args, given_overrides(args, {"inner_steps": "meta.inner_steps"}))
    seeds = experiment_seeds(args)
    t0 = time.perf_counter()
    ckpt, res = run_experiment(cfg, args, "posterior-pca", lambda prior: run_posterior_pca(
        cfg, prior, seeds=seeds, tasks=args.tasks, samples=args.samples, unseen=args.unseen,
        run_dir=args.run_dir))
    wall = time.perf_counter() - t0
    budget = (f"config `{args.config}`, checkpoint `{ckpt}`; {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); {args.tasks} tasks per group x "
              f"{args.samples} draws; {cfg.meta.inner_steps} inner steps; {wall / 60:.1f} min wall on {machine_line()}")
    body = (f"Budget: {budget}.\n\nSilhouette of the (dataset, image size) clusters in the 2-D PCA plane "
            f"(1 = separated, 0 = overlapping), mean ± std over seeds; figures: "
            f"{', '.join(str(p) for p in res.figures)}.\n\n{res.table}\n\nSilhouette of the dataset labels when only the "
            f"first n tasks of every group are projected (the PCA refitted on each subset):\n\n{res.by_tasks_table}")
    publish_section(args, "posterior-pca", "(b) Posterior PCA (paper Fig. 3)", body, res.table)


if __name__ == "__main__":
    from base_dist.report.common import script_main

    script_main(main)
