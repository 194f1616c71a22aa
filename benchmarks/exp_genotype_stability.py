"""How alike are the genotypes of several runs (e.g. one recipe meta-trained on different seeds)?

Prints the number of distinct genotypes, the edge agreement of
:func:`base_dist.space.genotypes.genotype_stability` (share of chosen edges that more than half of the
runs choose), the pairwise shared-edge matrix, and the same agreement for as many seeded random
genotypes (the chance reference). Reads only; writes nothing.

Example:
    .venv/bin/python benchmarks/exp_genotype_stability.py runs/gs-s*/genotype.json
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path


def main() -> None:
    from base_dist.config import load_config
    from base_dist.report.search_result import random_genotype
    from base_dist.space.genotypes import genotype_stability, load_genotype_file, shared_edges

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("genotypes", nargs="+", type=Path, help="genotype.json files, one per run")
    parser.add_argument("--config", type=Path, default=Path("jobs/configs/prior.yaml"),
                        help="the config whose search space (ops, nodes) the random reference draws from")
    parser.add_argument("--random-sets", type=int, default=200, help="random reference: this many sets")
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
