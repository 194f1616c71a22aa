"""The few-shot experiment (paper Table 4) on the offline benchmark: BASE cells + MAML against the baselines.

Per seed and per K (shots): two searches (``gumbel``, ``softmax``: :mod:`base_dist.meta.fewshot`)
give two genotypes; four networks are then meta-trained with MAML through the same code
(:func:`base_dist.train.fewshot.fewshot_train`) — the two BASE cells, DARTS_V2 cells at a matched
size, and MAML's 4-conv network — and evaluated on the same held-out test episodes
(``fewshot.eval_seed``), so the arms are paired episode by episode.

Example:
    >>> rows = [{"arm": "conv4", "k_shot": 1, "seed": 0, "accuracies": [0.5, 0.7], "params": 10, "search_s": 0.0,
    ...          "train_s": 2.0}]
    >>> print(fewshot_table(rows).splitlines()[2])
    | 1 | conv4 | 60.00 ± 19.60 | 60.0 | 10 | 0 | 2 |
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from base_dist.config import ExperimentConfig, apply_overrides, config_from_dict, config_to_dict
from base_dist.distributed import create_trainer
from base_dist.errors import UserError
from base_dist.meta.fewshot import ARCH_MODES, search_config
from base_dist.report.tables import fmt_paired, markdown_table
from base_dist.train.fewshot import fewshot_train
from base_dist.train.fewshot_eval import evaluate_split, mean_ci95

log = logging.getLogger(__name__)
BASELINES = ("darts_v2", "conv4")
WIDE_CONTROL = "conv4-wide"  # conv4 at the cell networks' param_ratio; only when asked (at ratio 1 it is conv4)
ROWS_FILE = "fewshot-rows.json"


def _with(cfg: ExperimentConfig, *sets: str) -> ExperimentConfig:
    return config_from_dict(apply_overrides(config_to_dict(cfg), list(sets)), origin="few-shot experiment")


def search(cfg: ExperimentConfig, mode: str, run_dir: Path) -> tuple[Path, float]:
    """One few-shot search; returns its ``genotype.json`` and seconds."""
    t0 = time.perf_counter()
    create_trainer(search_config(cfg, mode), run_dir).run()
    return run_dir / "genotype.json", time.perf_counter() - t0


def train_and_eval(cfg: ExperimentConfig, network: str, run_dir: Path) -> dict[str, Any]:
    """MAML-train ``network`` and evaluate it on the held-out test episodes."""
    tcfg = _with(cfg, f"fewshot.network={network}")
    trained = fewshot_train(tcfg, run_dir)
    ev = evaluate_split(tcfg, trained.net, "holdout", episodes=tcfg.fewshot.eval_episodes)
    (run_dir / "fewshot-eval-holdout.json").write_text(json.dumps(ev.to_dict()) + "\n")
    s = trained.summary
    return {"accuracies": ev.accuracies, "params": int(s["params"]), "train_s": float(s["train_s"]),
            "s_per_iteration": float(s["s_per_iteration"])}


def run_fewshot_experiment(cfg: ExperimentConfig, *, seeds: list[int], shots: list[int], run_dir: Path,
                           arms: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Every arm for every (K, seed); one row each (written to ``run_dir/fewshot-rows.json`` as it goes)."""
    rows: list[dict[str, Any]] = []
    known = (*(f"base-{m}" for m in ARCH_MODES), *BASELINES)
    wanted = arms or known
    if unknown := [a for a in wanted if a not in (*known, WIDE_CONTROL)]:
        raise UserError(f"unknown few-shot arm(s) {', '.join(unknown)}: pick from {', '.join((*known, WIDE_CONTROL))}")
    for k in shots:
        for seed in seeds:
            c = _with(cfg, f"seed={seed}", f"fewshot.k_shot={k}")
            where = run_dir / f"{k}shot" / f"seed{seed}"
            networks: dict[str, tuple[str, float]] = {b: (b, 0.0) for b in (*BASELINES, WIDE_CONTROL)}
            for mode in ARCH_MODES:
                if f"base-{mode}" in wanted:
                    genotype, secs = search(c, mode, where / f"search-{mode}")
                    networks[f"base-{mode}"] = (str(genotype), secs)
            for arm in wanted:
                network, search_s = networks[arm]
                row = {"arm": arm, "k_shot": k, "seed": seed, "search_s": search_s,
                       **train_and_eval(c, network, where / f"maml-{arm}")}
                rows.append(row)
                log.info("few-shot %d-shot seed %d %s: %.2f%%", k, seed, arm, 100 * mean_ci95(row["accuracies"])[0])
                (run_dir / ROWS_FILE).write_text(json.dumps(rows) + "\n")
    return rows


def fewshot_table(rows: list[dict[str, Any]]) -> str:
    """Per (K, arm): accuracy over all seeds' test episodes (mean ± 95 % CI), per-seed means, params, seconds."""
    header = ["K", "arm", "accuracy % (95 % CI, all episodes)", "per-seed means %", "params", "search s", "MAML s"]
    out = []
    for k in sorted({r["k_shot"] for r in rows}):
        for arm in dict.fromkeys(r["arm"] for r in rows if r["k_shot"] == k):
            sel = [r for r in rows if r["k_shot"] == k and r["arm"] == arm]
            mean, ci = mean_ci95([a for r in sel for a in r["accuracies"]])
            seeds = ", ".join(f"{100 * mean_ci95(r['accuracies'])[0]:.1f}" for r in sel)
            out.append([k, arm, f"{100 * mean:.2f} ± {100 * ci:.2f}", seeds, sel[0]["params"],
                        f"{sum(r['search_s'] for r in sel) / len(sel):.0f}",
                        f"{sum(r['train_s'] for r in sel) / len(sel):.0f}"])
    return markdown_table(header, out)


def paired_against(rows: list[dict[str, Any]], arm: str, reference: str = "conv4") -> str:
    """``arm - reference`` per seed (same test episodes), mean and 95 % CI over seeds, for each K."""
    lines = []
    for k in sorted({r["k_shot"] for r in rows}):
        by_seed = {r["seed"]: mean_ci95(r["accuracies"])[0] for r in rows if r["k_shot"] == k and r["arm"] == arm}
        ref = {r["seed"]: mean_ci95(r["accuracies"])[0] for r in rows if r["k_shot"] == k and r["arm"] == reference}
        seeds = [s for s in sorted(by_seed) if s in ref]
        if seeds:
            a, b = [by_seed[s] for s in seeds], [ref[s] for s in seeds]
            per_seed = ", ".join(f"{100 * (x - y):+.1f}" for x, y in zip(a, b, strict=True))
            lines.append(f"{k}-shot {arm} - {reference}: {fmt_paired(a, b)} points (per seed: {per_seed})")
    return "\n".join(lines)
