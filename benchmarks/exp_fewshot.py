"""Experiment (e), paper Table 4: few-shot search (BASE gumbel / softmax) + MAML against DARTS_V2 + MAML and
4-conv MAML, 5-way 1-shot and 5-shot, on the offline glyph benchmark (held-out scripts).

Writes fewshot-rows.json and table.md into --run-dir and updates the "fewshot" section of docs/results.md.

Example (one process per core, then the summary):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/exp_fewshot.py --shots 1 --seeds 3 --run-dir runs/fs-1 --no-publish &
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/exp_fewshot.py --shots 5 --seeds 3 --run-dir runs/fs-5 --no-publish &
    wait; .venv/bin/python benchmarks/exp_fewshot.py --rows runs/fs-1/fewshot-rows.json runs/fs-5/fewshot-rows.json
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    from base_dist.report.common import (
        experiment_config,
        experiment_parser,
        experiment_seeds,
        machine_line,
        publish_section,
    )
    from base_dist.report.fewshot import fewshot_table, paired_against, run_fewshot_experiment

    ap = experiment_parser(__doc__, "fewshot", seeds=3)
    ap.set_defaults(config="jobs/configs/fewshot.yaml")
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--arms", nargs="+", default=None, help="subset of base-gumbel base-softmax darts_v2 conv4 "
                    "(default: all four), or conv4-wide: conv4 at fewshot.param_ratio x its parameters")
    ap.add_argument("--rows", type=Path, nargs="+", default=None, help="summarise these rows files, run nothing")
    ap.add_argument("--section", default="fewshot", help="docs/results.md section to rewrite")
    ap.add_argument("--no-publish", action="store_true", help="do not touch docs/results.md")
    args = ap.parse_args()
    cfg = experiment_config(args, [])  # --set fewshot.source=fashion-mnist --set fewshot.eval_source=digits: cross domain
    t0 = time.perf_counter()
    if args.rows:
        rows = [r for p in args.rows for r in json.loads(p.read_text())]
    else:
        args.run_dir.mkdir(parents=True, exist_ok=True)
        rows = run_fewshot_experiment(cfg, seeds=experiment_seeds(args), shots=args.shots, run_dir=args.run_dir,
                                      arms=tuple(args.arms) if args.arms else None)
    fs = cfg.fewshot
    wall = f"summarised from {len(rows)} runs" if args.rows else f"{(time.perf_counter() - t0) / 60:.1f} min"
    table = fewshot_table(rows)
    pairs = [(arm, "conv4") for arm in ("base-gumbel", "base-softmax", "darts_v2")]
    pairs += [(arm, ref) for ref in ("darts_v2", "conv4-wide") for arm in ("base-gumbel", "base-softmax")]
    paired = "\n".join(line for arm, ref in pairs if (line := paired_against(rows, arm, ref)))
    domain = (f"meta-train on {fs.source}, test on {fs.eval_source}" if fs.eval_source else
              f"{fs.source} (held-out classes)")
    sets = f" with {' '.join(args.overrides)}" if args.overrides else ""
    budget = (f"config `{args.config}`{sets}: {domain} at {fs.image_size} px, {fs.n_way}-way, {fs.k_query} query images per "
              f"class; search: supernet C={cfg.space.channels}, {cfg.space.layers} cells, {cfg.space.nodes} nodes, "
              f"{cfg.meta.rounds} rounds x {fs.meta_batch} episodes, {fs.inner_steps} second-order SGD steps; MAML: "
              f"{fs.iterations} iterations x {fs.meta_batch} episodes, {fs.inner_steps} inner steps (lr "
              f"{fs.inner_lr}, gradient clipped at {fs.inner_grad_clip}; cell networks "
              f"{'with' if fs.feature_norm else 'without'} feature_norm, {fs.layers} cells, "
              f"{f'a stem of {fs.conv_stem} conv4 blocks, ' if fs.conv_stem else ''}"
              f"{fs.param_ratio:g}x conv4's parameters), {fs.test_inner_steps} at test; {fs.eval_episodes} held-out test episodes per run, "
              f"the same for every arm; {wall} on {machine_line()}")
    body = f"Budget: {budget}.\n\n{table}\n\nPaired by seed (same test episodes):\n\n```\n{paired}\n```"
    (args.run_dir / "table.md").parent.mkdir(parents=True, exist_ok=True)
    (args.run_dir / "table.md").write_text(body + "\n")
    if args.no_publish:
        print(table)
        print(paired)
        return
    extra = args.section.removeprefix("fewshot-").replace("-", " ")
    title = "(e) Few-shot search (paper Table 4)" if args.section == "fewshot" else f"(e) Few-shot, {extra}"
    publish_section(args, args.section, title, body, f"{table}\n{paired}")


if __name__ == "__main__":
    from base_dist.report.common import script_main

    script_main(main)
