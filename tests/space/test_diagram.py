"""Cell diagrams: graphviz when ``dot`` is installed, matplotlib otherwise; labels never overlap."""

from __future__ import annotations

import itertools

import pytest

from base_dist.space.diagram import cell_list, draw_cells, resolve_engine
from base_dist.space.diagram_dot import dot_path, graph_dot, layout_json
from base_dist.space.diagram_mpl import cells_figure, overlapping_texts
from base_dist.space.genotypes import GENOTYPES, get_genotype

needs_dot = pytest.mark.skipif(dot_path() is None, reason="graphviz's dot is not installed (make installs it)")


def _label_boxes(layout: dict) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(text, box) of every edge label in a ``dot -Tjson`` layout, in points."""
    boxes = []
    for edge in layout.get("edges", []):
        for op in edge.get("_ldraw_", []):
            if op.get("op") == "T":
                (x, y), w = op["pt"], op["width"]
                boxes.append((op["text"], (x - w / 2, y - 4.0, x + w / 2, y + 12.0)))
    return boxes


def _node_boxes(layout: dict) -> list[tuple[str, tuple[float, float, float, float]]]:
    out = []
    for obj in layout.get("objects", []):
        if "pos" in obj and "width" in obj:
            x, y = map(float, obj["pos"].split(","))
            w, h = 72 * float(obj["width"]) / 2, 72 * float(obj["height"]) / 2
            out.append((obj["label"], (x - w, y - h, x + w, y + h)))
    return out


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@needs_dot
@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_graphviz_labels_never_overlap_and_parallel_edges_are_apart(name):
    layout = layout_json(graph_dot(cell_list(get_genotype(name)), title=name))
    labels, nodes = _label_boxes(layout), _node_boxes(layout)
    assert len(labels) == 16  # 8 ops per cell, both cells
    for (a, box_a), (b, box_b) in itertools.combinations(labels, 2):
        assert not _overlap(box_a, box_b), (a, b)
    for (a, box_a), (b, box_b) in itertools.product(labels, nodes):
        assert not _overlap(box_a, box_b), (a, b)
    by_ends: dict[tuple[int, int], list[str]] = {}
    for edge in layout["edges"]:
        by_ends.setdefault((edge["tail"], edge["head"]), []).append(edge["pos"])
    for splines in by_ends.values():
        assert len(set(splines)) == len(splines)  # parallel edges follow different curves


def test_matplotlib_fallback_labels_never_overlap():
    for name in sorted(GENOTYPES):
        g = get_genotype(name)
        assert overlapping_texts(cells_figure(cell_list(g), title=name)) == [], name


def test_draw_cells_writes_combined_and_per_cell_figures(tmp_path):
    paths = draw_cells(get_genotype("base_cifar10"), tmp_path / "cells.png", title="t", engine="matplotlib")
    assert {k: p.name for k, p in paths.items()} == {"cells": "cells.png", "normal": "cells_normal.png",
                                                      "reduce": "cells_reduce.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.png", "cells_normal.png", "cells_reduce.png"]


@needs_dot
def test_graphviz_draws_pngs(tmp_path):
    paths = draw_cells(get_genotype("darts_v2"), tmp_path / "cells.png", engine="graphviz")
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths.values())


def test_without_dot_the_matplotlib_drawing_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    assert resolve_engine() == "matplotlib"
    assert draw_cells(get_genotype("darts_v1"), tmp_path / "c.png")["cells"].is_file()
