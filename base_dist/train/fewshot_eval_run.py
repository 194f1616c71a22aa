"""``fewshot eval`` of a run directory: its newest checkpoint scored on test episodes, the record written.

The episodes can be split over ``fewshot.eval_workers`` processes (:class:`~base_dist.train.maml_workers.
EpisodeWorkers`, the transport ``fewshot train --workers`` uses): each episode is seeded by its index
and adapts from the same weights, so the accuracies and the record are the same for any number.

Example:
    >>> eval_file("holdout")
    'fewshot-eval-holdout.json'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from base_dist.config import ExperimentConfig, apply_overrides, config_from_dict, config_to_dict
from base_dist.train.fewshot_eval import FewshotEval
from base_dist.train.fewshot_state import load_fewshot_run
from base_dist.train.maml_workers import EpisodeWorkers
from base_dist.utils import resolve_device, write_text_atomic


def eval_file(split: str) -> str:
    """Name of the result file ``fewshot eval`` writes into the run directory."""
    return f"fewshot-eval-{split}.json"


def evaluate_run(run_dir: str | Path, overrides: Sequence[str] = (), *,
                 configure: Callable[[ExperimentConfig], None] | None = None) -> tuple[FewshotEval, dict[str, Any]]:
    """Evaluate a ``fewshot train`` run's newest checkpoint; write and return its result record.

    The config is the checkpoint's with ``overrides`` (``fewshot.eval_episodes``, ``eval_split``,
    ``test_inner_steps``, ``eval_seed``, ``eval_workers``, ...) applied; ones that change the network are
    refused. ``configure`` sees that config first (process settings such as torch threads). The caller
    holds the run directory's lock.
    """
    run_dir = Path(run_dir)
    trained = load_fewshot_run(run_dir)  # refuses a directory without a few-shot checkpoint
    if overrides:
        data = apply_overrides(config_to_dict(trained.cfg), list(overrides))
        trained = load_fewshot_run(run_dir, config_from_dict(data, origin="--set"))
    cfg, fs = trained.cfg, trained.cfg.fewshot
    if configure is not None:
        configure(cfg)
    net = trained.net.to(resolve_device(cfg.device))
    processes = min(fs.eval_workers, fs.eval_episodes)
    with EpisodeWorkers(cfg, int(trained.description["in_channels"]), processes, setting="fewshot.eval_workers") as workers:
        result = workers.evaluate(net, fs.eval_split, fs.eval_episodes)
    record = {**result.to_dict(), "source": fs.source, "eval_seed": fs.eval_seed, "iterations": trained.iterations,
              "checkpoint": str(trained.path), "network": trained.description}
    write_text_atomic(run_dir / eval_file(fs.eval_split), json.dumps(record, indent=1) + "\n")  # never half a file
    return result, record
