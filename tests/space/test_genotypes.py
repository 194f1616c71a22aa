"""Genotypes: BASE derivation rule, averaging, JSON, the DARTS literal parser, the registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from base_dist.config import DARTS_OPS
from base_dist.errors import UserError
from base_dist.space.cells import num_edges
from base_dist.space.genotypes import (
    GENOTYPES,
    Genotype,
    average_distributions,
    derive_genotype,
    genotype_from_json,
    genotype_stability,
    genotype_to_json,
    get_genotype,
    parse_darts_genotype,
    shared_edges,
    vote_genotype,
)

OPS = list(DARTS_OPS)


def hand_set() -> torch.Tensor:
    """Node 0 takes input 0 twice; node 1 prefers `none` (must be skipped); the rest are arbitrary."""
    p = torch.full((num_edges(4), len(OPS)), 0.01)
    p[0, OPS.index("skip_connect")] = 0.9       # node 0, input 0
    p[0, OPS.index("dil_conv_3x3")] = 0.8       # node 0, input 0 again
    p[1, OPS.index("sep_conv_3x3")] = 0.5       # node 0, input 1: third, dropped
    p[2, OPS.index("none")] = 0.99              # node 1, input 0: `none` never kept
    p[3, OPS.index("max_pool_3x3")] = 0.7       # node 1, input 1
    p[4, OPS.index("sep_conv_5x5")] = 0.6       # node 1, input 2
    p[5 + 3, OPS.index("avg_pool_3x3")] = 0.9   # node 2, input 3
    p[5 + 1, OPS.index("skip_connect")] = 0.8   # node 2, input 1
    p[9 + 4, OPS.index("dil_conv_5x5")] = 0.9   # node 3, input 4
    p[9 + 0, OPS.index("sep_conv_3x3")] = 0.85  # node 3, input 0
    return p


def test_derive_base_rule() -> None:
    g = derive_genotype(hand_set(), hand_set(), OPS)
    assert g.normal == [("skip_connect", 0), ("dil_conv_3x3", 0),
                        ("max_pool_3x3", 1), ("sep_conv_5x5", 2),
                        ("avg_pool_3x3", 3), ("skip_connect", 1),
                        ("dil_conv_5x5", 4), ("sep_conv_3x3", 0)]
    assert g.normal_concat == [2, 3, 4, 5] and g.reduce == g.normal


def test_derive_from_average_of_samples() -> None:
    a, b = torch.zeros(num_edges(1), 3), torch.zeros(num_edges(1), 3)
    a[0, 1], b[0, 2], a[1, 2], b[1, 2] = 1.0, 1.0, 0.9, 0.9   # on average input 1 / op 2 wins
    avg = average_distributions([a, b])
    g = derive_genotype(avg, avg, ["none", "skip_connect", "sep_conv_3x3"], nodes=1)
    assert g.normal[0] == ("sep_conv_3x3", 1)


def test_stability_compares_a_nodes_edges_as_a_set() -> None:
    g = get_genotype("darts_v2")
    swapped = g._replace(normal=[g.normal[1], g.normal[0], *g.normal[2:]])  # node 0's two edges, other order
    assert genotype_stability([g, swapped]) == (1, 1.0)
    other = g._replace(reduce=[("avg_pool_3x3", 0)] * len(g.reduce))
    distinct, agree = genotype_stability([g, g, other])
    assert distinct == 2 and agree == pytest.approx(40 / 48)  # other's 8 reduce edges are the minority
    with pytest.raises(ValueError):
        genotype_stability([])


def test_vote_keeps_the_majority_edges_of_each_node() -> None:
    ops = list(DARTS_OPS)
    g = get_genotype("darts_v2")
    assert shared_edges(vote_genotype([g], ops), g) == 1.0
    other = g._replace(reduce=[("avg_pool_3x3", 0), ("avg_pool_3x3", 1)] * g.nodes,
                       normal=[("dil_conv_5x5", 1), *g.normal[1:]])
    voted = vote_genotype([other, g, g], ops)
    assert shared_edges(voted, g) == 1.0 and shared_edges(vote_genotype([other, other, g], ops), other) == 1.0
    assert voted.normal_concat == g.normal_concat
    with pytest.raises(UserError, match="not in the search space"):
        vote_genotype([g], ["none", "skip_connect"])
    with pytest.raises(UserError, match="different node counts"):
        vote_genotype([g, g._replace(normal=g.normal[:6], reduce=g.reduce[:6])], ops)


def test_shared_edges_counts_common_edges_per_node_as_a_multiset() -> None:
    g = get_genotype("darts_v2")
    swapped = g._replace(normal=[g.normal[1], g.normal[0], *g.normal[2:]])
    assert shared_edges(g, swapped) == 1.0
    twice = g._replace(normal=[g.normal[0], g.normal[0], *g.normal[2:]])  # node 0 repeats one edge
    assert shared_edges(g, twice) == pytest.approx(15 / 16) == shared_edges(twice, g)
    other = g._replace(reduce=[("avg_pool_3x3", 0)] * len(g.reduce))
    assert shared_edges(g, other) == pytest.approx(8 / 16)


def test_json_round_trip(tmp_path: Path) -> None:
    for g in GENOTYPES.values():
        assert genotype_from_json(genotype_to_json(g)) == g
    path = tmp_path / "g.json"
    path.write_text(genotype_to_json(GENOTYPES["base_cifar10"]))
    assert get_genotype(path) == GENOTYPES["base_cifar10"]


DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)


def test_darts_literal_parse(tmp_path: Path) -> None:
    assert parse_darts_genotype(DARTS_V2_TEXT) == GENOTYPES["darts_v2"]
    assert parse_darts_genotype("genotypes." + DARTS_V2_TEXT) == GENOTYPES["darts_v2"]
    path = tmp_path / "g.txt"
    path.write_text(DARTS_V2_TEXT + "\n")
    assert get_genotype(str(path)) == GENOTYPES["darts_v2"]


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo pwned')",
    "Genotype(normal=__import__('os').system('echo pwned'), normal_concat=[2], reduce=[], reduce_concat=[2])",
    DARTS_V2_TEXT.replace("range(2, 6)", "open('/etc/passwd')"),
    DARTS_V2_TEXT.replace("reduce_concat=range(2, 6)", "**{'reduce_concat': [2]}"),
    "Genotype(normal=[('sep_conv_3x3', 5), ('skip_connect', 0)], normal_concat=[2], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])",   # input 5 at node 0
    "Genotype(",
])
def test_malicious_or_bad_literals_are_refused(text: str, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UserError):
        parse_darts_genotype(text)
    assert "pwned" not in capfd.readouterr().out


def test_registry() -> None:
    assert set(GENOTYPES) >= {"darts_v1", "darts_v2", "base_cifar10", "base_imagenet"}
    g = get_genotype("base_imagenet")
    assert isinstance(g, Genotype)
    assert g.normal[4:6] == [("sep_conv_5x5", 0), ("dil_conv_5x5", 3)]
    assert g.reduce[0:2] == [("max_pool_3x3", 0), ("sep_conv_5x5", 0)]  # one input twice
    with pytest.raises(UserError, match="'nope'"):
        get_genotype("nope")
