"""PNG diagrams of a genotype's cells: one per cell type and a combined one.

Graphviz's ``dot`` (Debian package ``graphviz``; ``make`` installs it) draws DARTS-style diagrams
(:mod:`base_dist.space.diagram_dot`); without it the matplotlib drawing of
:mod:`base_dist.space.diagram_mpl` is used. Either way the op labels never overlap and parallel
edges are drawn apart.

Files for ``path = run/cells.png``: ``run/cells.png`` (both cells), ``run/cells_normal.png`` and
``run/cells_reduce.png``.

Example:
    >>> from base_dist.space.genotypes import get_genotype
    >>> sorted(draw_cells(get_genotype("darts_v2"), "/tmp/doc-cells/cells.png"))
    ['cells', 'normal', 'reduce']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from base_dist.space.genotypes import Genotype, Pair
from base_dist.utils import atomic_write

Engine = Literal["auto", "graphviz", "matplotlib"]
CELL_TITLES = {"normal": "normal cell", "reduce": "reduction cell"}


def cell_list(genotype: Genotype, kinds: Sequence[str] = ("normal", "reduce")) -> list[tuple[str, list[Pair], list[int]]]:
    """``(title, pairs, concat)`` of the chosen cell types of ``genotype``.

    Example:
        >>> from base_dist.space.genotypes import get_genotype
        >>> [t for t, _, _ in cell_list(get_genotype("darts_v2"))]
        ['normal cell', 'reduction cell']
    """
    pick = {"normal": (genotype.normal, genotype.normal_concat), "reduce": (genotype.reduce, genotype.reduce_concat)}
    return [(CELL_TITLES[k], list(pick[k][0]), list(pick[k][1])) for k in kinds]


def resolve_engine(engine: Engine = "auto") -> Literal["graphviz", "matplotlib"]:
    """``auto`` is graphviz when ``dot`` is on PATH, else matplotlib.

    Example:
        >>> resolve_engine("matplotlib")
        'matplotlib'
    """
    if engine != "auto":
        return engine
    from base_dist.space.diagram_dot import dot_path

    return "graphviz" if dot_path() else "matplotlib"


def _draw(cells: list[tuple[str, list[Pair], list[int]]], path: Path, title: str | None, engine: str) -> Path:
    if engine == "graphviz":
        from base_dist.space.diagram_dot import graph_dot, render_png

        return render_png(graph_dot(cells, title), path)
    from base_dist.space.diagram_mpl import cells_figure

    with atomic_write(path, ".png") as tmp:
        cells_figure(cells, title).savefig(tmp)
    return path


def draw_cells(genotype: Genotype, path: str | Path, title: str | None = None,
               engine: Engine = "auto") -> dict[str, Path]:
    """Write the combined diagram at ``path`` and one per cell type beside it; returns the paths.

    Example:
        >>> from base_dist.space.genotypes import get_genotype
        >>> draw_cells(get_genotype("base_cifar10"), "/tmp/doc-cells/c.png", engine="matplotlib")["normal"].name
        'c_normal.png'
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    kind = resolve_engine(engine)
    paths = {"cells": _draw(cell_list(genotype), out, title, kind)}
    for cell in ("normal", "reduce"):
        paths[cell] = _draw(cell_list(genotype, [cell]), out.with_name(f"{out.stem}_{cell}{out.suffix}"), title, kind)
    return paths


def plot_genotype(genotype: Genotype, path: str | Path, title: str | None = None) -> Path:
    """:func:`draw_cells`, returning the combined diagram's path.

    Example:
        >>> from base_dist.space.genotypes import get_genotype
        >>> plot_genotype(get_genotype("darts_v2"), "/tmp/darts_v2.png").suffix
        '.png'
    """
    return draw_cells(genotype, path, title)["cells"]
