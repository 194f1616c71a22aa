"""How alike are the genotypes of several runs (e.g. one recipe meta-trained on different seeds)?

Prints the number of distinct genotypes, the edge agreement of
:func:`base_dist.space.genotypes.genotype_stability` (share of chosen edges that more than half of the
runs choose), the pairwise shared-edge matrix, and the same agreement for as many seeded random
genotypes (the chance reference). With ``--vote-split K``: the shared edges of two votes
(:func:`base_dist.space.genotypes.vote_genotype`), one over the first K files and one over the rest, with
the same for votes of seeded random genotypes. Reads only; writes nothing.

Example:
    .venv/bin/python benchmarks/exp_genotype_stability.py runs/gs-s*/genotype.json
    .venv/bin/python benchmarks/exp_genotype_stability.py docs/rows/genotype-seeds/seed?.json --vote-split 5
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path


def main() -> None:
    from base_dist.config import load_config
    from base_dist.report.search_result import random_genotype
    from base_dist.space.genotypes import genotype_stability, load_genotype_file, shared_edges, vote_genotype

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("genotypes", nargs="+", type=Path, help="genotype.json files, one per run")
    parser.add_argument("--config", type=Path, default=Path("jobs/configs/prior.yaml"),
                        help="the config whose search space (ops, nodes) the random reference draws from")
    parser.add_argument("--random-sets", type=int, default=200, help="random reference: this many sets")
    parser.add_argument("--vote-split", type=int, default=None, metavar="K",
                        help="also compare the vote of the first K genotypes with the vote of the rest")
    args = parser.parse_args()
    if args.vote_split is not None and not 0 < args.vote_split < len(args.genotypes):
        parser.error(f"--vote-split {args.vote_split}: needs 1 <= K < {len(args.genotypes)} (the number of files)")

    genotypes = [load_genotype_file(p) for p in args.genotypes]
    distinct, agreement = genotype_stability(genotypes)
    print(f"{len(genotypes)} genotypes: {distinct} distinct, edge agreement {agreement:.3f}")
    for path, g in zip(args.genotypes, genotypes, strict=True):
        row = " ".join(f"{shared_edges(g, h):.2f}" for h in genotypes)
        print(f"  {path}: {row}")

    space = load_config(args.config).space
    n = len(genotypes)
    sets = [genotype_stability([random_genotype(list(space.ops), space.nodes, k * n + seed)
                                for seed in range(n)])[1] for k in range(args.random_sets)]
    print(f"random reference ({n} seeded random genotypes, seeds 0-{n - 1}): edge agreement {sets[0]:.3f}; "
          f"over {args.random_sets} such sets: mean {statistics.mean(sets):.3f}, max {max(sets):.3f}")
    if args.vote_split is None:
        return
    ops, k = list(space.ops), args.vote_split
    first, rest = vote_genotype(genotypes[:k], ops), vote_genotype(genotypes[k:], ops)
    print(f"vote of the first {k} vs vote of the other {n - k}: shared edges {shared_edges(first, rest):.3f}")
    for name, g in (("first", first), ("other", rest)):
        print(f"  {name} vote: {g}")
    chance = []
    for r in range(args.random_sets):
        drawn = [random_genotype(ops, space.nodes, r * n + seed) for seed in range(n)]
        chance.append(shared_edges(vote_genotype(drawn[:k], ops), vote_genotype(drawn[k:], ops)))
    print(f"random reference (votes of seeded random genotypes, {args.random_sets} splits): shared edges mean "
          f"{statistics.mean(chance):.3f}, max {max(chance):.3f}")


if __name__ == "__main__":
    main()
