"""Experiment (c), paper Tables 1-2: the derived genotype retrained vs DARTS_V2, a random genotype, a plain CNN.

Per seed: adapt the meta-train checkpoint to the full 10-way target dataset (``cfg.adapt`` budget)
and derive the most probable genotype; retrain it, ``darts_v2`` and a seeded random genotype with the
same recipe and budget (``cfg.train``, :func:`base_dist.train.run.train`); train
:class:`~base_dist.report.baseline_cnn.PlainCNN` of similar size for the derived network's training
wall time. Reports test accuracy, parameters, MACs, adaptation and training seconds.

Example:
    >>> # res = run_search_result(cfg, ckpt, seeds=[0], dataset="fashion-mnist", run_dir=Path("runs/sr"))
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from base_dist.config import ExperimentConfig
from base_dist.report.common import with_seed
from base_dist.report.derive import derive_from_probs, write_derive_outputs
from base_dist.report.figures import plot_bars
from base_dist.report.tables import fmt_mean_std, markdown_table
from base_dist.space.genotypes import Genotype, genotype_to_dict
from base_dist.utils import write_text_atomic

log = logging.getLogger(__name__)
MODELS = ("BASE derived", "darts_v2", "random", "plain CNN")
RECORDS_FILE = "records.json"


def random_genotype(ops: list[str], nodes: int, seed: int) -> Genotype:
    """A seeded random genotype: per node two (op, input) pairs, ``none`` excluded.

    Example:
        >>> g = random_genotype(["none", "skip_connect", "sep_conv_3x3"], 2, seed=0)
        >>> len(g.normal), g.normal_concat
        (4, [2, 3])
        >>> random_genotype(["skip_connect"], 2, 1) == random_genotype(["skip_connect"], 2, 1)
        True
    """
    rng = random.Random(seed)
    real = [o for o in ops if o != "none"]

    def cell() -> list[tuple[str, int]]:
        return [(rng.choice(real), rng.randrange(k + 2)) for k in range(nodes) for _ in range(2)]

    concat = list(range(2, nodes + 2))
    return Genotype(cell(), concat, cell(), list(concat))


@dataclass
class SearchResult:
    """``rows[model]`` = one record per seed; the table and figure paths."""

    rows: dict[str, list[dict[str, Any]]]
    table: str
    figures: list[Path]


def _train_genotype(cfg: ExperimentConfig, genotype_file: Path, run_dir: Path) -> dict[str, Any]:
    from base_dist.train.run import train

    c = cfg.model_copy(deep=True)
    c.train.genotype = str(genotype_file)
    res = train(c, run_dir, progress=False)
    m = res.metrics
    return {"test_acc": m["test_acc"], "params": m["params"], "macs": m["macs"], "train_s": m["train_s"],
            "epochs_done": m["epochs_done"]}


def run_seed(cfg: ExperimentConfig, checkpoint: Path, dataset: str, run_dir: Path) -> dict[str, dict[str, Any]]:
    """All four models for one seed (``cfg.seed``); returns ``{model: record}``.

    Example:
        >>> # recs = run_seed(with_seed(cfg, 0), ckpt, "fashion-mnist", Path("runs/sr/seed0"))
    """
    from base_dist.meta.adapt import adapt
    from base_dist.report.baseline_cnn import train_cnn, width_for_params
    from base_dist.train.inputs import load_train_data

    c = cfg.model_copy(deep=True)
    c.adapt.dataset = c.train.dataset = dataset
    ad = adapt(c, checkpoint, progress=False)
    adapt_s = float(ad.info["seconds"])
    space = c.space
    der = derive_from_probs(torch.tensor(ad.arch["normal"]), torch.tensor(ad.arch["reduce"]), space,
                            recipe="most-probable after adaptation", dataset=dataset)
    files = {"BASE derived": write_derive_outputs(der, run_dir / "derived", f"derived for {dataset}")["genotype"]}
    rnd = random_genotype(list(space.ops), space.nodes, seed=c.seed)
    files["random"] = run_dir / "random_genotype.json"
    files["random"].write_text(json.dumps(genotype_to_dict(rnd), indent=1) + "\n")
    from base_dist.space.genotypes import get_genotype

    files["darts_v2"] = run_dir / "darts_v2.json"
    files["darts_v2"].write_text(json.dumps(genotype_to_dict(get_genotype("darts_v2")), indent=1) + "\n")
    recs: dict[str, dict[str, Any]] = {}
    for name in ("BASE derived", "darts_v2", "random"):
        recs[name] = _train_genotype(c, files[name], run_dir / f"train-{name.replace(' ', '-')}")
        recs[name]["adapt_s"] = adapt_s if name == "BASE derived" else 0.0
        log.info("search result seed %d %s: test acc %.1f%%", c.seed, name, 100 * recs[name]["test_acc"])
    data = load_train_data(c)
    width = width_for_params(int(recs["BASE derived"]["params"]), data.in_channels, data.num_classes)
    cnn = train_cnn(data.x_train, data.y_train, data.x_test, data.y_test, width=width,
                    budget_s=float(recs["BASE derived"]["train_s"]), batch_size=c.train.batch_size, seed=c.seed)
    recs["plain CNN"] = {"test_acc": cnn.test_acc, "params": cnn.params, "macs": cnn.macs, "train_s": cnn.train_s,
                         "epochs_done": cnn.epochs_done, "adapt_s": 0.0, "width": cnn.width}
    log.info("search result seed %d plain CNN (width %d): test acc %.1f%%", c.seed, width, 100 * cnn.test_acc)
    return recs


def run_search_result(cfg: ExperimentConfig, checkpoint: Path, *, seeds: list[int], dataset: str,
                      run_dir: Path) -> SearchResult:
    """Every seed; writes ``search_result.json``, ``search_result.png`` and ``table.md`` into ``run_dir``.

    A seed whose ``seed<k>/records.json`` exists is not rerun: an interrupted experiment resumes at
    the next seed, and seeds run by parallel processes into one ``run_dir`` are summarised together.

    Example:
        >>> # run_search_result(cfg, ckpt, seeds=[0], dataset="digits", run_dir=Path("/tmp/sr"))
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in MODELS}
    for seed in seeds:
        seed_dir = run_dir / f"seed{seed}"
        done = seed_dir / RECORDS_FILE
        if done.is_file():  # finished earlier (an interrupted run, or seeds run by parallel processes)
            recs = json.loads(done.read_text())
            log.info("search result seed %d: reusing %s", seed, done)
        else:
            recs = run_seed(with_seed(cfg, seed), checkpoint, dataset, seed_dir)
            write_text_atomic(done, json.dumps(recs, indent=1))
        for m in MODELS:
            rows[m].append(recs[m])
    (run_dir / "search_result.json").write_text(json.dumps(rows, indent=1))
    return summarize_search(rows, run_dir)


def _spread(values: list[float], digits: int) -> str:
    """The value when every seed agrees, else ``mean (min-max)``: a genotype may differ per seed."""
    lo, hi = min(values), max(values)
    if round(lo, digits) == round(hi, digits):
        return f"{lo:.{digits}f}"
    return f"{sum(values) / len(values):.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def summarize_search(rows: dict[str, list[dict[str, Any]]], run_dir: Path) -> SearchResult:
    """The markdown table and the accuracy bar chart from per-seed records.

    Example:
        >>> r = summarize_search({"m": [{"test_acc": .9, "params": 1e5, "macs": 1e6, "train_s": 5, "adapt_s": 0,
        ...                              "epochs_done": 1}]}, Path("/tmp/base-dist-sr"))
        >>> "| m |" in r.table
        True
    """
    table_rows = [[m, len(rs), fmt_mean_std([r["test_acc"] for r in rs], 100, 2),
                   _spread([r["params"] / 1e6 for r in rs], 3), _spread([r["macs"] / 1e6 for r in rs], 1),
                   fmt_mean_std([r["adapt_s"] for r in rs], 1, 0), fmt_mean_std([r["train_s"] for r in rs], 1, 0),
                   fmt_mean_std([r["epochs_done"] for r in rs], 1, 1)] for m, rs in rows.items() if rs]
    table = markdown_table(["model", "seeds", "test acc (%)", "params (M)", "MACs (M)", "adapt s", "train s",
                            "epochs"], table_rows)
    (run_dir / "table.md").write_text(table)
    fig = plot_bars({m: [r["test_acc"] for r in rs] for m, rs in rows.items() if rs}, run_dir / "search_result.png",
                    "test accuracy", "retrained networks, same budget")
    return SearchResult(rows=rows, table=table, figures=[fig])
