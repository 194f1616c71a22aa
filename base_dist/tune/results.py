"""After a search: the results table, ``best.yaml``, and tidy MLflow child runs.

Example:
    >>> rows = [{"trial_id": "a", "status": "finished", "holdout_acc": 0.4},
    ...         {"trial_id": "b", "status": "stopped", "holdout_acc": 0.6}]
    >>> print(format_table(rows, ["trial_id", "status", "holdout_acc"]))
    trial_id  status    holdout_acc
    a         finished  0.4000
    b         stopped   0.6000
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import yaml

from base_dist.config import ExperimentConfig, load_config, save_config

RESULTS_FILE = "results.csv"
BEST_FILE = "best.yaml"
ID_COLUMNS = ["trial_id", "status", "rounds"]  # always shown; the other first columns only when measured
FIRST_COLUMNS = [*ID_COLUMNS, "holdout_acc", "holdout_loss", "val_acc", "trial_s"]
ADAPT_COLUMNS = ["adapt_gain", "adapt_acc", "scratch_acc"]  # trials scored by adapting their prior


def result_row(result: Any, rounds: int, param_names: list[str]) -> dict[str, Any]:
    """One table row of a Tune ``Result``: status (finished / stopped early / error), last metrics, params.

    Example:
        >>> result_row(res, rounds=10, param_names=["meta.outer_lr"])["status"]   # doctest: +SKIP
        'stopped'
    """
    m = dict(result.metrics or {})
    done = int(m.get("rounds_done", 0))
    status = "error" if result.error is not None else "finished" if done >= rounds else "stopped"
    row: dict[str, Any] = {
        "trial_id": m.get("trial_id") or Path(str(result.path)).name,
        "status": status,
        "rounds": done,
        "holdout_acc": m.get("holdout_acc", float("nan")),
        "holdout_loss": m.get("holdout_loss", float("nan")),
        "val_acc": m.get("val_acc", float("nan")),
        "trial_s": m.get("trial_s", m.get("time_total_s", float("nan"))),
    }
    row.update({k: m[k] for k in ADAPT_COLUMNS if k in m})
    config = result.config or {}
    for name in param_names:
        row[name] = config.get(name)
    if result.error is not None:
        row["error"] = str(result.error).strip().splitlines()[-1][:200] if str(result.error).strip() else "error"
    return row


def sort_rows(rows: list[dict[str, Any]], metric: str, mode: str) -> list[dict[str, Any]]:
    """Best first by ``metric`` (NaN / missing last).

    Example:
        >>> [r["v"] for r in sort_rows([{"v": 1.0}, {"v": float("nan")}, {"v": 2.0}], "v", "max")]
        [2.0, 1.0, nan]
    """
    def key(r: dict[str, Any]) -> tuple[int, float]:
        v = r.get(metric)
        if not _finite(v):
            return (1, 0.0)
        return (0, -v if mode == "max" else v)

    return sorted(rows, key=key)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if not math.isfinite(v) else f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
    return "" if v is None else str(v)


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain aligned text table.

    Example:
        >>> print(format_table([{"a": 1}], ["a"]))
        a
        1
    """
    cells = [columns] + [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def columns_of(rows: list[dict[str, Any]], param_names: list[str]) -> list[str]:
    """The table's columns: the fixed ones (and the adaptation scores, if any), the params, then ``error``.

    A measured column no trial filled (e.g. ``holdout_acc`` in a search scored by adaptation, where
    trials skip the holdout evaluation) is left out rather than shown as a column of NaN.

    Example:
        >>> columns_of([{"trial_id": "a", "holdout_acc": float("nan"), "adapt_gain": 0.3}], [])
        ['trial_id', 'status', 'rounds', 'adapt_gain']
    """
    measured = [c for c in FIRST_COLUMNS if c in ID_COLUMNS or any(_finite(r.get(c)) for r in rows)]
    cols = measured + [c for c in ADAPT_COLUMNS if any(c in r for r in rows)] + param_names
    if any("error" in r for r in rows):
        cols.append("error")
    return cols


def write_results_csv(rows: list[dict[str, Any]], columns: list[str], path: str | Path) -> Path:
    """Write the table as CSV.

    Example:
        >>> write_results_csv([{"a": 1}], ["a"], "/tmp/base-dist-doc-results.csv").name
        'base-dist-doc-results.csv'
    """
    p = Path(path)
    with p.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return p


def write_best_config(cfg: ExperimentConfig, path: str | Path, header: str) -> Path:
    """Save ``cfg`` as YAML with a comment header, then load it back to prove ``meta-train`` accepts it.

    Example:
        >>> from base_dist.config import load_config
        >>> write_best_config(load_config(None), "/tmp/base-dist-doc-best.yaml", "best").name
        'base-dist-doc-best.yaml'
    """
    p = Path(path)
    save_config(cfg, p)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    p.write_text(comment + p.read_text())
    load_config(p)  # raises UserError if it would not load
    yaml.safe_load(p.read_text())
    return p


def close_child_runs(tracking_uri: str, parent_run_id: str) -> int:
    """Mark child runs still RUNNING (trials that Tune stopped mid-report) KILLED; returns how many.

    Example:
        >>> close_child_runs("sqlite:////abs/runs/tune-1/mlflow.db", parent_id)   # doctest: +SKIP
        1
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    parent = client.get_run(parent_run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'")
    n = 0
    for run in children:
        if run.info.status == "RUNNING":
            client.set_tag(run.info.run_id, "tune.stopped_early", "true")
            client.set_terminated(run.info.run_id, "KILLED")
            n += 1
    return n
