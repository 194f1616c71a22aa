"""``base-dist inspect``: does a meta-training learn? Figures and a verdict from its ``metrics.jsonl``.

The verdict compares the first and the last quarter of the rounds against what noise would give
(coherence ``1/sqrt(C)`` for C orthogonal task deltas, entropy ``ln(ops)`` for a uniform
architecture, the configured initial sigma) and says what to change when a check fails.

Example:
    >>> rows = [{"round": r, "coh_cells": 0.5, "adapt_gain": 0.01, "disp_cells": 0.02,
    ...          "arch_entropy_W": 2.079, "sigma_mean": 1e-3, "val_acc_before": 0.2} for r in range(8)]
    >>> lines = verdict(rows, tasks_per_round=4, n_ops=8, sigma_init=1e-3)
    >>> any("deltas are noise" in line for line in lines)
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from base_dist.config import ExperimentConfig, config_from_dict
from base_dist.errors import UserError
from base_dist.meta.callbacks import METRICS_FILE
from base_dist.meta.diagnostics import GROUPS, arch_stats
from base_dist.meta.prior import load_posterior


@dataclass
class Inspection:
    """The verdict lines, the figures written, and the summary figures behind the verdict."""

    verdict: list[str]
    figures: list[Path] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """The round rows of a meta-train run directory (malformed lines are skipped)."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise UserError(f"{run_dir}: no {METRICS_FILE}; pass a meta-train run directory")
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "round" in row:
            rows.append(row)
    if not rows:
        raise UserError(f"{path}: no rounds recorded yet")
    return rows


def _mean(rows: Sequence[dict[str, float]], key: str) -> float:
    vals = [float(r[key]) for r in rows if key in r and math.isfinite(float(r[key]))]
    return sum(vals) / len(vals) if vals else float("nan")


def summarize(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """First-quarter and last-quarter means of the diagnostics (``<key>_first`` / ``<key>_last``)."""
    q = max(1, len(rows) // 4)
    keys = ["adapt_gain", "val_acc_before", "val_acc", "arch_entropy_W", "arch_gap", "sigma_mean",
            *[f"coh_{g}" for g in GROUPS], *[f"disp_{g}" for g in GROUPS]]
    out: dict[str, float] = {"rounds": float(len(rows))}
    for k in keys:
        out[f"{k}_first"], out[f"{k}_last"] = _mean(rows[:q], k), _mean(rows[-q:], k)
    return out


def verdict(rows: Sequence[dict[str, float]], *, tasks_per_round: int, n_ops: int, sigma_init: float,
            start: str | None = None, start_entropy: float | None = None) -> list[str]:
    """Plain-language findings, each with the number behind it and what to change.

    ``start`` is the run's ``meta.init`` (``start_entropy`` its architecture entropy, when it can be
    read): displacement is then measured from that network, and an entropy below uniform may be
    what it brought rather than what this run learned.
    """
    s = summarize(rows)
    lines: list[str] = []
    if start is not None:
        was = "" if start_entropy is None else f"; phi's entropy was {start_entropy:.3f} there"
        lines.append(f"started from {start} (meta.init), not the seeded init: displacement is measured from it{was}; "
                     f"this run moved phi {s['disp_phi_last']:.2f} (L2)")
    noise = 1.0 / math.sqrt(max(tasks_per_round, 1))
    coh = s["coh_cells_last"]
    if math.isfinite(coh):
        if coh < 1.2 * noise:
            lines.append(f"deltas are noise: cell-weight coherence {coh:.3f} vs {noise:.3f} for orthogonal deltas "
                         f"(C={tasks_per_round}), so what W learns builds up only over many rounds; raise "
                         "meta.inner_steps or meta.inner_lr_weights, or meta.tasks_per_round")
        else:
            lines.append(f"deltas share a direction: cell-weight coherence {coh:.3f} (noise level {noise:.3f})")
    gain = s["adapt_gain_last"]
    if math.isfinite(gain):
        if gain < 0.05:
            lines.append(f"the inner loop barely learns its tasks: held-out gain {100 * gain:+.1f} points per task; "
                         "raise meta.inner_steps or meta.inner_lr_weights")
        else:
            lines.append(f"the inner loop learns its tasks: held-out gain {100 * gain:+.1f} points per task")
    before_first, before_last = s["val_acc_before_first"], s["val_acc_before_last"]
    after_first, after_last = s["val_acc_first"], s["val_acc_last"]
    if math.isfinite(after_first) and math.isfinite(after_last):
        trend = after_last - after_first
        word = "the prior is learning" if trend > 0.02 else "the prior is not (yet) learning"
        lines.append(f"{word}: tasks' held-out accuracy after the inner loop went {100 * after_first:.1f} -> "
                     f"{100 * after_last:.1f} % (at W before it: {100 * before_first:.1f} -> "
                     f"{100 * before_last:.1f} %)")
    disp = s["disp_cells_last"]
    if math.isfinite(disp) and disp < 0.1:
        lines.append(f"W has hardly moved: cell weights are {100 * disp:.1f} % (relative L2) from where the run started; "
                     "run more rounds, raise meta.outer_lr, or make the deltas coherent first")
    ent = s["arch_entropy_W_last"]
    if math.isfinite(ent):
        uniform = math.log(n_ops)
        if ent > uniform - 0.02:
            lines.append(f"phi has not moved: architecture entropy {ent:.3f} of ln {n_ops} = {uniform:.3f}; "
                         "raise meta.inner_lr_arch")
        else:
            lines.append(f"phi moved: architecture entropy {ent:.3f} of {uniform:.3f}, largest logit gap "
                         f"{s['arch_gap_last']:.2f}")
    sig = s["sigma_mean_last"]
    if math.isfinite(sig) and abs(sig - sigma_init) <= 0.05 * sigma_init:
        lines.append(f"sigma does not move: mean {sig:.2e} (init {sigma_init:.2e}); the weights are effectively "
                     "deterministic; use space.bayes.sigma_param=linear")
    return lines


def _series(rows: Sequence[dict[str, float]], keys: dict[str, str]) -> dict[str, tuple[list[float], list[float]]]:
    out = {}
    for key, label in keys.items():
        pts = [(float(r["round"]), float(r[key])) for r in rows if key in r and math.isfinite(float(r[key]))]
        if pts:
            out[label] = ([p[0] for p in pts], [p[1] for p in pts])
    return out


def plot_diagnostics(rows: Sequence[dict[str, float]], out_dir: Path, *, tasks_per_round: int, n_ops: int) -> list[Path]:
    """Five PNGs in ``out_dir``: coherence, displacement, adaptation, architecture, sigma."""
    from base_dist.report.figures import plot_series

    out_dir.mkdir(parents=True, exist_ok=True)
    panels = [
        ("coherence.png", {f"coh_{g}": g for g in GROUPS}, "||mean delta|| / mean ||delta||",
         {"orthogonal deltas": 1 / math.sqrt(max(tasks_per_round, 1))}),
        ("displacement.png", {f"disp_{g}": g for g in GROUPS}, "||W - W0|| / ||W0|| (phi: absolute)", None),
        ("adaptation.png", {"val_acc_before": "held-out acc at W", "val_acc": "after the inner loop"},
         "task held-out accuracy", None),
        ("architecture.png", {"arch_entropy_W": "entropy of softmax(phi)", "arch_gap": "largest logit gap"},
         "nats / logits", {"uniform": math.log(n_ops)}),
        ("sigma.png", {"sigma_mean": "mean sigma"}, "sigma", None),
    ]
    return [plot_series(_series(rows, keys), out_dir / name, "round", ylabel, name[:-4], hlines)
            for name, keys, ylabel, hlines in panels]


def _run_config(run_dir: Path) -> ExperimentConfig:
    import yaml

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir}: no config.yaml; pass a meta-train run directory")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: unreadable ({type(err).__name__})") from err
    return config_from_dict(data if isinstance(data, dict) else {}, origin=str(path))


def _start_entropy(init: str | None) -> float | None:
    """Architecture entropy of the run's ``meta.init`` network; None without one, or once it is gone."""
    if init is None:
        return None
    try:
        return arch_stats(load_posterior(init).W)["arch_entropy_W"]
    except UserError:  # moved or deleted since: the verdict goes on without it
        return None


def inspect_run(run_dir: Path, out_dir: Path | None = None) -> Inspection:
    """Figures (in ``out_dir``, default ``run_dir/inspect``) and the verdict of a meta-train run.

    Example:
        >>> # ins = inspect_run(Path("runs/prior")); print("\\n".join(ins.verdict))
    """
    run_dir = Path(run_dir)
    cfg = _run_config(run_dir)
    rows = read_metrics(run_dir)
    kw = {"tasks_per_round": cfg.meta.tasks_per_round, "n_ops": len(cfg.space.ops)}
    figures = plot_diagnostics(rows, out_dir or run_dir / "inspect", **kw)
    lines = verdict(rows, sigma_init=cfg.space.bayes.sigma_init, start=cfg.meta.init,
                    start_entropy=_start_entropy(cfg.meta.init), **kw)
    return Inspection(verdict=lines, figures=figures, summary=summarize(rows))
