"""Matplotlib figures of the experiments (headless, PNG).

Example:
    >>> p = plot_curves({"a": [[0.1, 0.5], [0.2, 0.6]]}, "/tmp/base-dist-doctest-curves.png", "epoch", "acc")
    >>> p.suffix
    '.png'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from base_dist.utils import atomic_write


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    with atomic_write(out, out.suffix) as tmp:
        fig.savefig(tmp, dpi=110)
    _plt().close(fig)
    return out


def plot_curves(curves: Mapping[str, Sequence[Sequence[float]]], path: str | Path, xlabel: str, ylabel: str,
                title: str | None = None, x0: int = 0) -> Path:
    """One line per name: mean over the seed curves (rows) with a ±std band; x starts at ``x0``.

    Example:
        >>> plot_curves({"s": [[1, 2, 3]]}, "/tmp/base-dist-doctest-c.png", "x", "y").name
        'base-dist-doctest-c.png'
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, runs in curves.items():
        arr = np.asarray(runs, dtype=float)
        if arr.ndim == 1:
            arr = arr[None]
        xs = np.arange(x0, x0 + arr.shape[1])
        m, s = arr.mean(0), arr.std(0, ddof=1) if arr.shape[0] > 1 else np.zeros(arr.shape[1])
        ax.plot(xs, m, marker="o", label=f"{name} (n={arr.shape[0]})")
        ax.fill_between(xs, m - s, m + s, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_scatter_groups(panels: Mapping[str, tuple[np.ndarray, Sequence[str]]], path: str | Path,
                        title: str | None = None, cols: int | None = None) -> Path:
    """One scatter per panel (e.g. parameter group) of 2-D points, one colour per label; ``cols`` panels
    per row (default: all in one row).

    Example:
        >>> pts = np.zeros((2, 2)); plot_scatter_groups({"w": (pts, ["a", "b"])}, "/tmp/base-dist-doctest-s.png").suffix
        '.png'
    """
    plt = _plt()
    cols = min(cols or len(panels), len(panels))
    rows = -(-len(panels) // cols)
    # constrained layout leaves room for the suptitle above the panel titles (tight_layout does not)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4.2 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (name, (xy, labels)) in zip(axes.flat[:len(panels)], panels.items(), strict=True):
        for i, lab in enumerate(dict.fromkeys(labels)):
            mask = np.array([lb == lab for lb in labels])
            ax.scatter(xy[mask, 0], xy[mask, 1], s=22, alpha=0.8, label=lab, color=f"C{i}")
        ax.set_title(name)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_bars(values: Mapping[str, Sequence[float]], path: str | Path, ylabel: str, title: str | None = None) -> Path:
    """Bar per name: mean with a std error bar.

    Example:
        >>> plot_bars({"a": [0.5, 0.6]}, "/tmp/base-dist-doctest-b.png", "acc").suffix
        '.png'
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(values)
    means = [float(np.mean(values[n])) for n in names]
    stds = [float(np.std(values[n], ddof=1)) if len(values[n]) > 1 else 0.0 for n in names]
    ax.bar(names, means, yerr=stds, capsize=4, color=[f"C{i}" for i in range(len(names))])
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_series(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | Path, xlabel: str,
                ylabel: str, title: str | None = None, hlines: Mapping[str, float] | None = None) -> Path:
    """One line per name from ``(xs, ys)``, plus labelled dashed reference lines (``hlines``).

    Example:
        >>> plot_series({"a": ([0, 1], [0.2, 0.4])}, "/tmp/base-dist-doctest-s.png", "round", "y",
        ...             hlines={"noise": 0.5}).suffix
        '.png'
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), label=name, linewidth=1.2)
    for i, (name, y) in enumerate((hlines or {}).items()):
        ax.axhline(y, linestyle="--", linewidth=1, color=f"C{len(series) + i}", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if series or hlines:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return _save(fig, path)
