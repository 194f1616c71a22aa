"""DARTS-style cell diagrams as graphviz DOT text, rendered with Debian's ``dot`` when it is installed.

``dot`` places every edge label as a node of its own layout (labels never overlap) and routes
parallel edges (a node taking one input twice) as separate splines. Colours follow DARTS's
``visualize.py``: inputs green, intermediate nodes blue, the output yellow.

Example:
    >>> from base_dist.space.genotypes import get_genotype
    >>> "c_{k-2}" in cell_dot(get_genotype("darts_v2").normal, [2, 3, 4, 5], "normal cell")
    True
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from base_dist.space.genotypes import Pair
from base_dist.utils import atomic_write

DOT_TIMEOUT_S = 60
_GRAPH = ('rankdir=LR; nodesep=0.35; ranksep=0.7; dpi=110; fontname="Helvetica"; fontsize=22; labelloc=t;\n'
          'node [style="filled,rounded", shape=rect, fontname="Helvetica", fontsize=18, penwidth=2, '
          'height=0.5, width=0.5];\nedge [fontname="Helvetica", fontsize=14, penwidth=1.5];\n')
# One colour per op family so convolutions, pools and skips are told apart at a glance.
DOT_COLOURS = {"sep": "#1f77b4", "dil": "#9467bd", "max": "#d62728", "avg": "#ff7f0e", "skip": "#2ca02c",
               "none": "#7f7f7f"}


def dot_path() -> str | None:
    """The ``dot`` executable on PATH, or None (then the matplotlib drawing is used).

    Example:
        >>> dot_path() is None or dot_path().endswith("dot")
        True
    """
    return shutil.which("dot")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cell_dot(pairs: Sequence[Pair], concat: Sequence[int], title: str, prefix: str = "") -> str:
    """DOT statements of one cell; node ids start with ``prefix`` so two cells can share a graph.

    Example:
        >>> cell_dot([("skip_connect", 0), ("sep_conv_3x3", 0)], [2], "t", "n").count("->")
        3
    """
    nodes = len(pairs) // 2
    names = {0: "c_{k-2}", 1: "c_{k-1}", **{k + 2: str(k) for k in range(nodes)}}
    ident = {i: _quote(f"{prefix}{i}") for i in names}
    out_id = _quote(f"{prefix}out")
    lines = [f"label={_quote(title)};"]
    for i in (0, 1):
        lines.append(f"{ident[i]} [label={_quote(names[i])}, fillcolor=darkseagreen2];")
    for k in range(nodes):
        lines.append(f"{ident[k + 2]} [label={_quote(names[k + 2])}, fillcolor=lightblue];")
    lines.append(f"{out_id} [label=\"c_{{k}}\", fillcolor=palegoldenrod];")
    for n, (op, src) in enumerate(pairs):
        colour = DOT_COLOURS.get(op.split("_")[0], "black")
        lines.append(f"{ident[src]} -> {ident[n // 2 + 2]} [label={_quote(op)}, color={_quote(colour)}, "
                     f"fontcolor={_quote(colour)}];")
    for i in concat:
        lines.append(f"{ident[i]} -> {out_id} [color=gray60];")
    return "\n".join(lines)


def graph_dot(cells: Sequence[tuple[str, Sequence[Pair], Sequence[int]]], title: str | None = None) -> str:
    """A whole DOT graph of ``(title, pairs, concat)`` cells; several cells become stacked clusters.

    Example:
        >>> graph_dot([("normal cell", [("skip_connect", 0), ("sep_conv_3x3", 1)], [2])]).startswith("digraph")
        True
    """
    head = "digraph cells {\n" + _GRAPH + (f"label={_quote(title)};\n" if title else "")
    if len(cells) == 1:
        return head + cell_dot(cells[0][1], cells[0][2], cells[0][0], "c_") + "\n}\n"
    # dot stacks disconnected clusters bottom-up in LR mode: emit them reversed so the first is on top.
    body = [f"subgraph cluster_{i} {{\nstyle=rounded; color=gray80;\n{cell_dot(p, c, t, f'c{i}_')}\n}}"
            for i, (t, p, c) in reversed(list(enumerate(cells)))]
    return head + "\n".join(body) + "\n}\n"


def run_dot(source: str, fmt: str, dot: str | None = None) -> bytes:
    """Render DOT ``source`` with ``dot -T<fmt>``; raises ``RuntimeError`` with dot's own message.

    Example:
        >>> run_dot("digraph { a -> b }", "json")[:1] == b"{"  # doctest: +SKIP
        True
    """
    exe = dot or dot_path()
    if exe is None:
        raise RuntimeError("graphviz's dot is not installed")
    done = subprocess.run([exe, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=DOT_TIMEOUT_S,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout


def render_png(source: str, path: Path, dot: str | None = None) -> Path:
    """Write the PNG of DOT ``source`` to ``path`` atomically (a temp file, then a rename).

    Example:
        >>> # render_png(graph_dot(cells), Path("cells.png"))
    """
    with atomic_write(path, ".png") as tmp:
        tmp.write_bytes(run_dot(source, "png", dot))
    return path


def layout_json(source: str, dot: str | None = None) -> dict:
    """``dot -Tjson``'s layout (positions of nodes, edge splines and label anchors), for checks.

    Example:
        >>> # layout_json(graph_dot(cells))["objects"][0]["name"]
    """
    return json.loads(run_dot(source, "json", dot))
