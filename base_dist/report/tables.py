"""Mean ± std over seeds, markdown tables, and sections of docs/results.md.

Example:
    >>> mean_std([0.5, 0.7])
    (0.6, 0.1414)
    >>> markdown_table(["a", "b"], [[1, "x"]])
    '| a | b |\\n|---|---|\\n| 1 | x |\\n'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS_MD = Path(__file__).resolve().parents[2] / "docs" / "results.md"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value), rounded to 4 places.

    Example:
        >>> mean_std([1.0])
        (1.0, 0.0)
    """
    vals = [float(v) for v in values]
    if not vals:
        return (math.nan, math.nan)
    m = sum(vals) / len(vals)
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return (round(m, 4), round(s, 4))


def fmt_mean_std(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> str:
    """``"61.2 ± 1.3"`` (values times ``scale``); ``"61.2"`` for a single value.

    Example:
        >>> fmt_mean_std([0.5, 0.7], scale=100)
        '60.0 ± 14.1'
    """
    m, s = mean_std([v * scale for v in values])
    if len(values) <= 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def paired_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of the paired differences ``a_i - b_i`` and its ``level`` t-interval ``(mean, low, high)``.

    The pairs share a seed (split, noise, scratch init), so the seed-to-seed spread cancels.

    Example:
        >>> m, lo, hi = paired_ci([0.6, 0.7, 0.65], [0.5, 0.55, 0.6])
        >>> round(m, 3), round(lo, 3), round(hi, 3)
        (0.1, -0.024, 0.224)
    """
    from scipy.stats import t

    d = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    n = len(d)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    m = sum(d) / n
    if n == 1:
        return (m, math.nan, math.nan)
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return (m, m - half, m + half)


def welch_ci(a: Sequence[float], b: Sequence[float],
             level: float = 0.95) -> tuple[tuple[float, float, float], float]:
    """Difference of the means of two independent samples, its Welch ``level`` t-interval, and its df.

    Independent arms (two recipes, each run several times) share no seed, so nothing pairs them; the
    Welch-Satterthwaite df allows unequal spreads and sizes. Fewer than 2 values in an arm: no interval.

    Example:
        >>> (m, lo, hi), df = welch_ci([0.6, 0.7, 0.8], [0.5, 0.6])
        >>> round(m, 3), round(lo, 3), round(hi, 3), round(df, 2)
        (0.15, -0.099, 0.399, 2.88)
    """
    from scipy.stats import t

    xs, ys = [float(x) for x in a], [float(y) for y in b]
    if not xs or not ys:
        return (math.nan, math.nan, math.nan), math.nan
    m = sum(xs) / len(xs) - sum(ys) / len(ys)
    if len(xs) < 2 or len(ys) < 2:
        return (m, math.nan, math.nan), math.nan
    va, vb = _squared_se(xs), _squared_se(ys)
    if va + vb == 0:
        return (m, m, m), math.inf
    df = (va + vb) ** 2 / (va**2 / (len(xs) - 1) + vb**2 / (len(ys) - 1))
    half = float(t.ppf(0.5 + level / 2, df)) * math.sqrt(va + vb)
    return (m, m - half, m + half), df


def _squared_se(values: list[float]) -> float:
    """The squared standard error of the mean (sample variance over n), unrounded."""
    mu = sum(values) / len(values)
    return sum((v - mu) ** 2 for v in values) / (len(values) - 1) / len(values)


def fmt_paired(a: Sequence[float], b: Sequence[float], scale: float = 100.0) -> str:
    """``"+6.8 [+2.1, +11.5]"``: the mean paired difference and its 95 % interval, times ``scale``.

    Example:
        >>> fmt_paired([0.6, 0.7, 0.65], [0.5, 0.55, 0.6])
        '+10.0 [-2.4, +22.4]'
    """
    return fmt_ci(paired_ci(a, b), scale)


def fmt_ci(ci: tuple[float, float, float], scale: float = 100.0) -> str:
    """``"+6.8 [+2.1, +11.5]"`` from ``(mean, low, high)``, times ``scale``; the mean alone without an interval.

    Example:
        >>> fmt_ci((0.1, float("nan"), float("nan")))
        '+10.0'
    """
    m, lo, hi = ci
    if math.isnan(lo):
        return f"{scale * m:+.1f}"
    return f"{scale * m:+.1f} [{scale * lo:+.1f}, {scale * hi:+.1f}]"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table.

    Example:
        >>> print(markdown_table(["k"], [["v"]]), end="")
        | k |
        |---|
        | v |
    """
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def update_section(path: str | Path, key: str, body: str, title: str | None = None) -> Path:
    """Replace (or append) the section between ``<!-- key:start -->`` and ``<!-- key:end -->`` markers.

    Example:
        >>> p = Path("/tmp/base-dist-doctest-results.md"); _ = p.write_text("# R\\n")
        >>> _ = update_section(p, "x", "hello\\n", title="X")
        >>> "hello" in p.read_text() and "x:start" in p.read_text()
        True
    """
    p = Path(path)
    text = p.read_text() if p.is_file() else "# Results\n"
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    block = f"{start}\n" + (f"## {title}\n\n" if title else "") + body.rstrip() + f"\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text if text.endswith("\n") else text + "\n")
    return p
