"""Genotypes: the discrete cell architectures, derived from phi, saved as JSON, named in a registry.

:class:`Genotype` has DARTS's fields and layout: ``normal`` / ``reduce`` are lists of ``(op, input)``
pairs, two per node, input 0/1 = the cell inputs and ``j + 2`` = node j; ``*_concat`` lists the states
concatenated into the cell output.

Example:
    >>> g = get_genotype("darts_v2")
    >>> g.normal[0], list(g.normal_concat)
    (('sep_conv_3x3', 0), [2, 3, 4, 5])
    >>> genotype_from_json(genotype_to_json(g)) == g
    True
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from base_dist.config import MAX_NODES, read_text
from base_dist.errors import UserError
from base_dist.space.cells import num_edges

Pair = tuple[str, int]


class Genotype(NamedTuple):
    """A DARTS-compatible genotype (``repr`` matches DARTS's namedtuple apart from list-vs-range)."""

    normal: list[Pair]
    normal_concat: list[int]
    reduce: list[Pair]
    reduce_concat: list[int]

    @property
    def nodes(self) -> int:
        return len(self.normal) // 2


# ----------------------------------------------------------------------------- validation
def validate_genotype(g: Genotype, ops: Sequence[str] | None = None, origin: str = "genotype") -> Genotype:
    """Check shape and indices (and op names against ``ops`` when given); raise :class:`UserError`.

    Returns a normalised copy (tuples of ``(str, int)``, concat as list of int).
    """
    out = []
    for field in ("normal", "reduce"):
        pairs = getattr(g, field)
        if not isinstance(pairs, (list, tuple)) or not pairs or len(pairs) % 2:
            raise UserError(f"{origin}: {field} must be a non-empty list of (op, input) pairs, two per node")
        if len(pairs) > 2 * MAX_NODES:
            raise UserError(f"{origin}: {field} has {len(pairs) // 2} nodes; at most {MAX_NODES} are supported")
        clean: list[Pair] = []
        for n, pair in enumerate(pairs):
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str)
                    or not _is_int(pair[1])):
                raise UserError(f"{origin}: {field}[{n}] must be an (op name, input index) pair, got {pair!r}")
            node = n // 2
            if not 0 <= pair[1] < node + 2:
                raise UserError(f"{origin}: {field}[{n}] of node {node} reads state {pair[1]}, valid are 0..{node + 1}")
            if ops is not None and pair[0] not in ops:
                raise UserError(f"{origin}: unknown operation {pair[0]!r} in {field}; known: {', '.join(ops)}")
            clean.append((pair[0], pair[1]))
        out.append(clean)
    concats = []
    for field, pairs in (("normal_concat", out[0]), ("reduce_concat", out[1])):
        concat = getattr(g, field)
        if not isinstance(concat, (list, tuple, range)) or not all(_is_int(c) for c in concat):
            raise UserError(f"{origin}: {field} must be a list of state indices (ints)")
        limit = len(pairs) // 2 + 2
        if not concat or len(concat) > limit or any(not 0 <= c < limit for c in concat):
            raise UserError(f"{origin}: {field} {concat} must name states in 0..{limit - 1}")
        concats.append(concat)
    if len(out[0]) != len(out[1]):
        raise UserError(f"{origin}: normal and reduce cells must have the same number of nodes")
    return Genotype(out[0], concats[0], out[1], concats[1])


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# ----------------------------------------------------------------------------- derivation
def _derive_cell(probs: torch.Tensor, ops: Sequence[str], nodes: int, keep: int) -> list[Pair]:
    if probs.shape != (sum(k + 2 for k in range(nodes)), len(ops)):
        raise ValueError(f"expected [edges, ops] = [{sum(k + 2 for k in range(nodes))}, {len(ops)}], got {tuple(probs.shape)}")
    probs = probs.detach().float().cpu()
    pairs: list[Pair] = []
    row = 0
    for k in range(nodes):
        candidates = []
        for i in range(k + 2):
            for j, name in enumerate(ops):
                if name != "none":
                    # Sort key: highest probability first; ties broken by input then op order (deterministic).
                    candidates.append((-float(probs[row + i, j]), i, j))
        candidates.sort()
        pairs.extend((ops[j], i) for _, i, j in candidates[:keep])
        row += k + 2
    return pairs


def derive_genotype(normal: torch.Tensor, reduce: torch.Tensor, ops: Sequence[str], nodes: int = 4,
                    keep: int = 2) -> Genotype:
    """The BASE rule: per node the top-``keep`` (input, op) pairs by probability, ``none`` excluded.

    ``normal`` / ``reduce`` are ``[edges, ops]`` probabilities (``softmax(phi)`` or an average of
    samples). Unlike DARTS's top-2 *distinct inputs*, one input may appear twice with two ops.

    Example:
        >>> ops = ["none", "skip_connect", "sep_conv_3x3"]
        >>> p = torch.full((5, 3), 0.1); p[0, 1] = p[0, 2] = 0.9   # node 0 takes input 0 twice
        >>> derive_genotype(p, p, ops, nodes=2).normal[:2]
        [('skip_connect', 0), ('sep_conv_3x3', 0)]
    """
    concat = list(range(2, nodes + 2))
    return Genotype(_derive_cell(normal, ops, nodes, keep), concat, _derive_cell(reduce, ops, nodes, keep), concat)


def average_distributions(samples: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean of sampled ``[edges, ops]`` architecture distributions (for :func:`derive_genotype`).

    Example:
        >>> average_distributions([torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])]).tolist()
        [[0.5, 0.5]]
    """
    if not samples:
        raise ValueError("average_distributions needs at least one sample")
    return torch.stack([s.detach().float().cpu() for s in samples]).mean(0)


def edge_indicator(pairs: Sequence[Pair], ops: Sequence[str], nodes: int) -> torch.Tensor:
    """A cell's chosen ``(op, input)`` pairs as an ``[edges, ops]`` 0/1 mask, the layout of phi.

    A pair a node chose twice counts once: a run votes for an edge or not.

    Example:
        >>> edge_indicator([("skip_connect", 1), ("sep_conv_3x3", 0)], ["none", "skip_connect", "sep_conv_3x3"], 1).tolist()
        [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    mask = torch.zeros(num_edges(nodes), len(ops))
    for n, (op, i) in enumerate(pairs):
        if op not in ops:
            raise UserError(f"genotype op {op!r} is not in the search space's ops ({', '.join(ops)})")
        mask[num_edges(n // 2) + i, list(ops).index(op)] = 1.0  # node k's edges start after nodes 0..k-1's
    return mask


def vote_genotype(genotypes: Sequence[Genotype], ops: Sequence[str]) -> Genotype:
    """The genotype most runs agree on: BASE's derivation over the share of runs choosing each edge.

    Per node the two ``(input, op)`` edges chosen by the most runs (one input may be kept twice with
    two ops, as :func:`derive_genotype` allows); ties go to the lower input, then the earlier op.

    Example:
        >>> ops = ["none", "skip_connect", "sep_conv_3x3"]
        >>> a = Genotype([("skip_connect", 0), ("skip_connect", 1)], [2], [("sep_conv_3x3", 0)] * 2, [2])
        >>> b = Genotype([("sep_conv_3x3", 1), ("skip_connect", 1)], [2], [("sep_conv_3x3", 0)] * 2, [2])
        >>> vote_genotype([a, b, a], ops).normal
        [('skip_connect', 1), ('skip_connect', 0)]
    """
    if not genotypes:
        raise ValueError("vote_genotype needs at least one genotype")
    nodes = {g.nodes for g in genotypes}
    if len(nodes) != 1:
        raise UserError(f"genotypes with different node counts ({sorted(nodes)}) cannot be voted together")
    n = nodes.pop()
    share = {cell: average_distributions([edge_indicator(getattr(g, cell), ops, n) for g in genotypes])
             for cell in ("normal", "reduce")}
    return derive_genotype(share["normal"], share["reduce"], ops, nodes=n)


def _edges(g: Genotype) -> list[tuple[str, int, int, str]]:
    """``(cell, node, input, op)`` per chosen edge: a node's two edges compared as a set, not by slot."""
    return [(cell, n // 2, i, op) for cell in ("normal", "reduce") for n, (op, i) in enumerate(getattr(g, cell))]


def genotype_stability(genotypes: Sequence[Genotype]) -> tuple[int, float]:
    """How alike genotypes derived on different seeds are: ``(distinct genotypes, edge agreement)``.

    Edge agreement is the share of all chosen edges that more than half the genotypes choose too
    (1.0 = every seed derives the same cells).

    Example:
        >>> a = get_genotype("darts_v2")
        >>> b = a._replace(normal=[("skip_connect", 0), *a.normal[1:]])
        >>> n, agree = genotype_stability([a, a, b])
        >>> n, round(agree, 3)  # b's one swapped edge of 16 is the only minority edge
        (2, 0.979)
    """
    if not genotypes:
        raise ValueError("genotype_stability needs at least one genotype")
    edge_sets = [_edges(g) for g in genotypes]
    counts: dict[tuple[str, int, int, str], int] = {}
    for edges in edge_sets:
        for e in set(edges):
            counts[e] = counts.get(e, 0) + 1
    chosen = [e for edges in edge_sets for e in edges]
    majority = sum(counts[e] * 2 > len(genotypes) for e in chosen)
    distinct = len({tuple(sorted(edges)) for edges in edge_sets})
    return distinct, majority / len(chosen)


def shared_edges(a: Genotype, b: Genotype) -> float:
    """The share of chosen edges two genotypes have in common (1.0 = the same cells).

    Example:
        >>> a = get_genotype("darts_v2")
        >>> shared_edges(a, a._replace(normal=[("skip_connect", 0), *a.normal[1:]]))
        0.9375
    """
    edges_a, edges_b = _edges(a), _edges(b)
    # A multiset intersection: a node may choose one (input, op) twice.
    common = sum((Counter(edges_a) & Counter(edges_b)).values())
    return common / max(len(edges_a), len(edges_b))


# ----------------------------------------------------------------------------- JSON
def genotype_to_dict(g: Genotype) -> dict[str, Any]:
    """Plain JSON-safe dict: ``{"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, ...], ...}``."""
    return {
        "normal": [[op, i] for op, i in g.normal],
        "normal_concat": [int(c) for c in g.normal_concat],  # validated genotypes hold ints only
        "reduce": [[op, i] for op, i in g.reduce],
        "reduce_concat": [int(c) for c in g.reduce_concat],
    }


def genotype_from_dict(d: Any, origin: str = "genotype") -> Genotype:
    """Inverse of :func:`genotype_to_dict` (validated)."""
    fields = set(Genotype._fields)
    if not isinstance(d, dict) or set(d) != fields:
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise UserError(f"{origin}: expected the keys {sorted(fields)}, got {got}")
    pairs = {k: [tuple(p) if isinstance(p, list) else p for p in d[k]] if isinstance(d[k], list) else d[k]
             for k in ("normal", "reduce")}
    return validate_genotype(Genotype(pairs["normal"], d["normal_concat"], pairs["reduce"], d["reduce_concat"]),
                             origin=origin)


def genotype_to_json(g: Genotype) -> str:
    """One-line JSON text of a genotype."""
    return json.dumps(genotype_to_dict(g))


def genotype_from_json(text: str, origin: str = "genotype") -> Genotype:
    """Parse :func:`genotype_to_json` output."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{origin}: not valid JSON ({err.msg} at line {err.lineno})") from err
    except RecursionError as err:
        raise UserError(f"{origin}: nested too deeply to be a genotype") from err
    return genotype_from_dict(data, origin)


# ----------------------------------------------------------------------------- DARTS literal
def _literal(node: ast.expr, origin: str) -> Any:
    """A literal, or ``range(a[, b[, c]])`` of int literals (how DARTS prints concat lists)."""
    if isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords
                and 1 <= len(node.args) <= 3):
            raise UserError(f"{origin}: only literals and range(...) are allowed in a genotype")
        args = [_literal(a, origin) for a in node.args]
        if not all(_is_int(a) for a in args) or (len(args) == 3 and args[2] == 0):
            raise UserError(f"{origin}: range(...) takes integer literals (and a non-zero step)")
        states = range(*args)
        if len(states) > MAX_NODES + 2:  # checked before the list is built: range(10**12) would not fit
            raise UserError(f"{origin}: range(...) names {len(states)} states; a cell has at most {MAX_NODES + 2}")
        return list(states)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as err:
        raise UserError(f"{origin}: only literals and range(...) are allowed in a genotype") from err


def parse_darts_genotype(text: str, origin: str = "genotype") -> Genotype:
    """Parse DARTS's ``Genotype(normal=[...], normal_concat=[...], ...)`` text — never evaluated.

    The text is parsed to a syntax tree; only the call ``Genotype(...)`` (optionally ``genotypes.Genotype``),
    list/tuple/str/int literals and ``range(...)`` are accepted, so ``__import__('os')`` is refused.

    Example:
        >>> parse_darts_genotype("Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0)], "
        ...     "normal_concat=range(2, 3), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])").normal
        [('skip_connect', 1), ('sep_conv_3x3', 0)]
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise UserError(f"{origin}: not a Genotype(...) expression ({err.msg})") from err
    except (ValueError, MemoryError, RecursionError) as err:  # NUL bytes, absurd nesting
        raise UserError(f"{origin}: not a Genotype(...) expression ({type(err).__name__})") from err
    call = tree.body
    func = call.func if isinstance(call, ast.Call) else None
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if name != "Genotype":
        raise UserError(f"{origin}: expected Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)")
    assert isinstance(call, ast.Call)
    if len(call.args) > 4 or any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        raise UserError(f"{origin}: Genotype(...) takes at most four plain arguments")
    values: dict[str, Any] = dict(zip(Genotype._fields, (_literal(a, origin) for a in call.args), strict=False))
    for kw in call.keywords:
        if kw.arg not in Genotype._fields or kw.arg in values:
            raise UserError(f"{origin}: unexpected or repeated argument {kw.arg!r} in Genotype(...)")
        values[kw.arg] = _literal(kw.value, origin)
    missing = [f for f in Genotype._fields if f not in values]
    if missing:
        raise UserError(f"{origin}: Genotype(...) is missing {', '.join(missing)}")
    return validate_genotype(Genotype(**values), origin=origin)


# ----------------------------------------------------------------------------- registry
def _g(normal: list[Pair], reduce: list[Pair]) -> Genotype:
    return Genotype(normal, [2, 3, 4, 5], reduce, [2, 3, 4, 5])


GENOTYPES: dict[str, Genotype] = {
    # DARTS (Liu et al. 2019), first and second order.
    "darts_v1": _g(
        [("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
         ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
        [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
         ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
    ),
    "darts_v2": _g(
        [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
         ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
        [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
         ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    ),
    # BASE (Shaw et al. 2019), the published tuned genotypes; nodes take one input twice.
    "base_cifar10": _g(
        [("skip_connect", 0), ("dil_conv_3x3", 1), ("max_pool_3x3", 0), ("dil_conv_5x5", 0),
         ("max_pool_3x3", 0), ("sep_conv_5x5", 0), ("max_pool_3x3", 1), ("dil_conv_5x5", 1)],
        [("sep_conv_3x3", 0), ("sep_conv_5x5", 0), ("max_pool_3x3", 0), ("sep_conv_3x3", 0),
         ("skip_connect", 0), ("avg_pool_3x3", 3), ("max_pool_3x3", 1), ("skip_connect", 2)],
    ),
    "base_imagenet": _g(
        [("skip_connect", 0), ("max_pool_3x3", 1), ("avg_pool_3x3", 0), ("sep_conv_5x5", 1),
         ("sep_conv_5x5", 0), ("dil_conv_5x5", 3), ("sep_conv_5x5", 0), ("sep_conv_5x5", 2)],
        [("max_pool_3x3", 0), ("sep_conv_5x5", 0), ("max_pool_3x3", 0), ("avg_pool_3x3", 0),
         ("sep_conv_5x5", 2), ("dil_conv_5x5", 2), ("avg_pool_3x3", 0), ("sep_conv_5x5", 3)],
    ),
}


def register_genotype(name: str, genotype: Genotype) -> Genotype:
    """Add a named genotype to the registry (validated) and return it."""
    GENOTYPES[name] = validate_genotype(genotype, origin=f"genotype {name}")
    return GENOTYPES[name]


def load_genotype_file(path: str | Path) -> Genotype:
    """Read a genotype file: JSON (ours) or DARTS's ``Genotype(...)`` literal."""
    p = Path(path)
    text = read_text(p, "genotype file")
    if text.lstrip().startswith("{"):
        return genotype_from_json(text, origin=str(p))
    return parse_darts_genotype(text, origin=str(p))


def is_genotype_file(key: str) -> bool:
    """Whether ``key`` names an existing file (a name too long for the OS is simply not one).

    Example:
        >>> is_genotype_file("darts_v2"), is_genotype_file("x" * 5000)
        (False, False)
    """
    try:
        return Path(key).is_file()
    except OSError:
        return False


def get_genotype(name_or_path: str | Path) -> Genotype:
    """A registered name (``darts_v1``, ``darts_v2``, ``base_cifar10``, ``base_imagenet``) or a file path.

    Example:
        >>> get_genotype("base_imagenet").reduce[1]
        ('sep_conv_5x5', 0)
    """
    key = str(name_or_path)
    if key in GENOTYPES:
        g = GENOTYPES[key]
        return Genotype(list(g.normal), list(g.normal_concat), list(g.reduce), list(g.reduce_concat))
    if is_genotype_file(key):
        return load_genotype_file(key)
    raise UserError(f"unknown genotype {key[:80]!r}: not a file, and not one of {', '.join(sorted(GENOTYPES))}")
