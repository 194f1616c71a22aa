"""PNG diagrams of a genotype's normal and reduction cells (matplotlib, no graphviz needed).

Layout: the two cell inputs on the left, the K intermediate nodes in a column each further right,
the output on the far right; every kept (op, input) pair is an arrow labelled with its op.
"""

from __future__ import annotations

from pathlib import Path

from base_dist.space.genotypes import Genotype, Pair

# One colour per op family so a reader sees convolutions vs pools vs skips at a glance.
OP_COLOURS = {"sep": "tab:blue", "dil": "tab:purple", "max": "tab:red", "avg": "tab:orange",
              "skip": "tab:green", "none": "tab:gray"}


def _colour(op: str) -> str:
    return OP_COLOURS.get(op.split("_")[0], "black")


def _draw_cell(ax, pairs: list[Pair], concat: list[int], title: str) -> None:
    nodes = len(pairs) // 2
    pos = {0: (0.0, 1.0), 1: (0.0, -1.0)}
    for k in range(nodes):
        pos[k + 2] = (1.0 + k, 1.5 - 3.0 * k / max(nodes - 1, 1))
    out = (nodes + 1.2, 0.0)
    names = {0: "c_{k-2}", 1: "c_{k-1}", **{k + 2: str(k) for k in range(nodes)}}
    for k in range(nodes):
        for slot, (op, src) in enumerate(pairs[2 * k: 2 * k + 2]):
            (x0, y0), (x1, y1) = pos[src], pos[k + 2]
            bend = 0.25 if slot else -0.25  # two arrows from one input stay apart
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops={"arrowstyle": "->", "color": _colour(op), "lw": 1.4,
                                    "connectionstyle": f"arc3,rad={bend}"})
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2 + bend * 0.6
            ax.text(mx, my, op, fontsize=7, color=_colour(op), ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    for idx in concat:
        x0, y0 = pos[idx]
        ax.annotate("", xy=out, xytext=(x0, y0), arrowprops={"arrowstyle": "->", "color": "0.75", "lw": 0.8})
    for idx, (x, y) in pos.items():
        face = "lightsteelblue" if idx < 2 else "lightyellow"
        ax.text(x, y, names[idx], ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "fc": face, "ec": "black"})
    ax.text(*out, "c_{k}", ha="center", va="center", fontsize=9,
            bbox={"boxstyle": "round", "fc": "lightgreen", "ec": "black"})
    ax.set_title(title)
    ax.set_xlim(-0.6, nodes + 1.8)
    ax.set_ylim(-2.0, 2.0)
    ax.axis("off")


def plot_genotype(genotype: Genotype, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG with the normal cell above the reduction cell; returns the path.

    Example:
        >>> from base_dist.space.genotypes import get_genotype
        >>> plot_genotype(get_genotype("darts_v2"), "/tmp/darts_v2.png").suffix
        '.png'
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on clusters or CI
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(8, 7))
    _draw_cell(axes[0], list(genotype.normal), list(genotype.normal_concat), "normal cell")
    _draw_cell(axes[1], list(genotype.reduce), list(genotype.reduce_concat), "reduction cell")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out
