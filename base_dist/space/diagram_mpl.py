"""The matplotlib cell drawing: the fallback when graphviz's ``dot`` is not installed.

Inputs on the left, intermediate nodes on a zigzag (no three in a line, so an edge never runs
through a node it skips), the output on the right. Edges that share both ends bend to opposite
sides; each op label is placed greedily at the first point along its edge where its box overlaps
no node and no earlier label, so labels never overlap.

Example:
    >>> from base_dist.space.genotypes import get_genotype
    >>> fig = cells_figure([("normal cell", get_genotype("base_cifar10").normal, [2, 3, 4, 5])])
    >>> len(fig.axes)
    1
"""

from __future__ import annotations

from collections.abc import Sequence

from base_dist.space.genotypes import Pair

OP_COLOURS = {"sep": "tab:blue", "dil": "tab:purple", "max": "tab:red", "avg": "tab:orange",
              "skip": "tab:green", "none": "tab:gray"}
_ALONG = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78)  # where on an edge a label may sit, best first
_PAD_PX = 2.0
DPI = 110


def _colour(op: str) -> str:
    return OP_COLOURS.get(op.split("_")[0], "black")


def _positions(nodes: int) -> dict[int, tuple[float, float]]:
    pos = {0: (0.0, 1.0), 1: (0.0, -1.0)}
    for k in range(nodes):
        pos[k + 2] = (1.3 * (k + 1), 0.55 if k % 2 == 0 else -0.55)
    return pos


def _bend(pairs: Sequence[Pair], n: int, src: int, dst: int) -> float:
    """arc3 radius of edge ``n``: parallel edges (same ends) bend to opposite sides, long edges bend more."""
    same = [m for m, (_, s) in enumerate(pairs) if s == src and m // 2 + 2 == dst]
    if len(same) > 1:
        return 0.2 if same.index(n) == 0 else -0.2
    return 0.12 if dst - src > 1 and src >= 2 else 0.0


def _curve_point(ax, p0: tuple[float, float], p1: tuple[float, float], rad: float, t: float):
    """A point of matplotlib's arc3 curve (a quadratic Bezier built in display space), in data units."""
    (x0, y0), (x1, y1) = ax.transData.transform(p0), ax.transData.transform(p1)
    cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
    x = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t ** 2 * x1
    y = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t ** 2 * y1
    return ax.transData.inverted().transform((x, y))


def _extent(text, renderer):
    """The box a text occupies on screen: its rounded background patch when it has one."""
    patch = text.get_bbox_patch()
    if patch is None:
        return text.get_window_extent(renderer)
    text.update_bbox_position_size(renderer)
    return patch.get_window_extent(renderer)


def _free(box, taken: list) -> bool:
    return not any(box.overlaps(other) for other in taken)


def _place(ax, text, p0, p1, rad: float, taken: list, renderer) -> None:
    """Move ``text`` to the first free spot along its edge (then upward from the midpoint); claim it."""
    for t in _ALONG:
        text.set_position(_curve_point(ax, p0, p1, rad, t))
        box = _extent(text, renderer).padded(_PAD_PX)
        if _free(box, taken):
            taken.append(box)
            return
    x, y = _curve_point(ax, p0, p1, rad, 0.5)
    step = (ax.transData.inverted().transform((0, 12)) - ax.transData.inverted().transform((0, 0)))[1]
    for k in range(1, 200):
        text.set_position((x, y + (k // 2) * step * (1 if k % 2 else -1)))
        box = _extent(text, renderer).padded(_PAD_PX)
        if _free(box, taken):
            break
    taken.append(box)


def draw_cell(ax, pairs: Sequence[Pair], concat: Sequence[int], title: str, renderer) -> list:
    """Draw one cell on ``ax`` (limits fixed first: placement works in display space); returns the texts."""
    nodes = len(pairs) // 2
    pos = _positions(nodes)
    out = (1.3 * (nodes + 1), 0.0)
    ax.set_xlim(-0.6, out[0] + 0.6)
    ax.set_ylim(-1.5, 1.5)
    ax.axis("off")
    ax.set_title(title)
    names = {0: "c_{k-2}", 1: "c_{k-1}", **{k + 2: str(k) for k in range(nodes)}}
    texts = []
    for idx, (x, y) in pos.items():
        face = "darkseagreen" if idx < 2 else "lightblue"
        texts.append(ax.text(x, y, names[idx], ha="center", va="center", fontsize=9, zorder=3,
                             bbox={"boxstyle": "round", "fc": face, "ec": "black"}))
    texts.append(ax.text(*out, "c_{k}", ha="center", va="center", fontsize=9, zorder=3,
                         bbox={"boxstyle": "round", "fc": "palegoldenrod", "ec": "black"}))
    taken = [_extent(t, renderer).padded(_PAD_PX) for t in texts]
    for idx in concat:
        ax.annotate("", xy=out, xytext=pos[idx], arrowprops={"arrowstyle": "->", "color": "0.75", "lw": 0.8})
    for n, (op, src) in enumerate(pairs):
        p0, p1, rad = pos[src], pos[n // 2 + 2], _bend(pairs, n, src, n // 2 + 2)
        ax.annotate("", xy=p1, xytext=p0, arrowprops={"arrowstyle": "->", "color": _colour(op), "lw": 1.4,
                                                      "shrinkA": 12, "shrinkB": 12,
                                                      "connectionstyle": f"arc3,rad={rad}"})
        label = ax.text(0, 0, op, fontsize=7, color=_colour(op), ha="center", va="center", zorder=2,
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.9})
        _place(ax, label, p0, p1, rad, taken, renderer)
        texts.append(label)
    return texts


def cells_figure(cells: Sequence[tuple[str, Sequence[Pair], Sequence[int]]], title: str | None = None):
    """A figure with one row per ``(title, pairs, concat)`` cell.

    Example:
        >>> # cells_figure([("normal cell", g.normal, g.normal_concat)]).savefig("normal.png")
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # headless: no display on clusters or CI
    from matplotlib.figure import Figure

    widest = max(len(p) // 2 for _, p, _ in cells)
    fig = Figure(figsize=(2.0 + 1.5 * widest, 3.4 * len(cells) + (0.4 if title else 0.0)), dpi=DPI)
    renderer = FigureCanvasAgg(fig).get_renderer()
    top = 1.0 - (0.35 / fig.get_figheight() if title else 0.0)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=top - 0.06, hspace=0.25)
    axes = fig.subplots(len(cells), 1, squeeze=False)[:, 0]
    for ax, (name, pairs, concat) in zip(axes, cells, strict=True):
        draw_cell(ax, pairs, concat, name, renderer)
    if title:
        fig.suptitle(title)
    return fig


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of texts (per axes) whose boxes overlap: empty for a readable drawing (used by the tests).

    Example:
        >>> # assert not overlapping_texts(cells_figure(cells))
    """
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        boxes = [(t.get_text(), _extent(t, renderer)) for t in ax.texts if t.get_text()]
        for i, (a, box_a) in enumerate(boxes):
            bad += [(a, b) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]
    return bad


__all__ = ["OP_COLOURS", "cells_figure", "draw_cell", "overlapping_texts"]
