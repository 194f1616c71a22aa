"""Experiment (a), paper Fig. 4: accuracy per adaptation epoch — co-adapted vs frozen architecture vs scratch.

Writes fast_adaptation_<dataset>.png, table.md and fast_adaptation.json into --run-dir and updates
the "fast-adaptation" section of docs/results.md.

Example (the reduced budget of docs/results.md; the full budget drops --max-train-images and uses
--epochs 10 --datasets digits,fashion-mnist):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/exp_fast_adaptation.py \
        --checkpoint runs/demo-x/1-meta-train --seeds 3 --epochs 3 --max-train-images 400
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    import torch

    from base_dist.config import load_config
    from base_dist.report.common import ensure_meta_checkpoint, machine_line
    from base_dist.report.fast_adaptation import run_fast_adaptation
    from base_dist.report.tables import RESULTS_MD, update_section

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="jobs/configs/demo.yaml")
    ap.add_argument("--checkpoint", default=None, help="meta-train run dir/checkpoint (else meta-train first)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3, help="adaptation epochs")
    ap.add_argument("--max-train-images", type=int, default=None, help="adaptation train subset (budget)")
    ap.add_argument("--datasets", default="digits", help="comma list: digits[,fashion-mnist]")
    ap.add_argument("--meta-rounds", type=int, default=None, help="rounds when meta-training here")
    ap.add_argument("--run-dir", type=Path, default=Path(f"runs/exp-fast-adaptation-{time.strftime('%Y%m%d-%H%M%S')}"))
    ap.add_argument("--results-md", type=Path, default=RESULTS_MD)
    args = ap.parse_args()
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sets = ["tracking.mlflow=false", f"adapt.epochs={args.epochs}", "dist.torch_threads=1"]
    if args.max_train_images:
        sets.append(f"adapt.max_train_images={args.max_train_images}")
    if args.meta_rounds:
        sets.append(f"meta.rounds={args.meta_rounds}")
    cfg = load_config(args.config, sets)
    t0 = time.perf_counter()
    ckpt = ensure_meta_checkpoint(cfg, args.run_dir, args.checkpoint)
    res = run_fast_adaptation(cfg, ckpt, seeds=list(range(args.seeds)), datasets=args.datasets.split(","),
                              run_dir=args.run_dir)
    wall = time.perf_counter() - t0
    budget = (f"config `{args.config}`, checkpoint `{ckpt}`; {args.seeds} seeds; {args.epochs} adaptation epochs; "
              f"train subset {args.max_train_images or 'all'} images; {wall / 60:.1f} min wall on {machine_line()}")
    body = (f"Budget: {budget}.\n\nHeld-out accuracy (%) per adaptation epoch, mean ± std over seeds; "
            f"figures: {', '.join(str(p) for p in res.figures)}.\n\n{res.table}")
    update_section(args.results_md, "fast-adaptation", body, "(a) Fast adaptation (paper Fig. 4)")
    print(res.table)
    print(f"run directory: {args.run_dir.resolve()}")


if __name__ == "__main__":
    main()
