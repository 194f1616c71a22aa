"""The search space and the Bayesian meta-network (layer 1).

Public entry points (timm-style registries + ``create_*`` factories):

- ops: :data:`OPS`, :func:`register_op`, :func:`create_op`
- meta-network: :func:`create_metanet` -> :class:`MetaNetwork` (``forward``, ``kl``, ``genotype``)
- state ``W``: :mod:`base_dist.space.meta_state` (``get_state``, ``load_state``, the flat ``Layout``)
- genotypes: :class:`Genotype`, :func:`get_genotype`, :func:`derive_genotype`, JSON and DARTS-literal I/O
- full networks: :func:`create_network`; profiler: :func:`profile_genotype`, :func:`profile_network`

Example:
    >>> from base_dist.config import SpaceConfig
    >>> net = create_metanet(SpaceConfig(channels=2, layers=1), seed=0)
    >>> sorted(k for k in meta_state.get_state(net) if k.startswith("arch."))
    ['arch.normal', 'arch.reduce']
"""

from base_dist.space import meta_state
from base_dist.space.arch import ArchSample, categorical_kl_uniform, sample_arch, tau_at
from base_dist.space.bayes import BayesConv2d, BayesLinear, NoiseSource, gaussian_kl
from base_dist.space.cells import SearchCell, edge_index, num_edges
from base_dist.space.genotypes import (
    GENOTYPES,
    Genotype,
    average_distributions,
    derive_genotype,
    genotype_from_dict,
    genotype_from_json,
    genotype_to_dict,
    genotype_to_json,
    get_genotype,
    load_genotype_file,
    parse_darts_genotype,
    register_genotype,
)
from base_dist.space.metanet import MetaNetwork, create_metanet, reduction_layers
from base_dist.space.network import Network, create_network
from base_dist.space.ops import OPS, OpContext, create_op, register_op
from base_dist.space.profiler import DATASETS, Profile, profile_genotype, profile_network

__all__ = [
    "GENOTYPES", "DATASETS", "OPS", "ArchSample", "BayesConv2d", "BayesLinear", "Genotype", "MetaNetwork",
    "Network", "NoiseSource", "OpContext", "Profile", "SearchCell", "average_distributions",
    "categorical_kl_uniform", "create_metanet", "create_network", "create_op", "derive_genotype",
    "edge_index", "gaussian_kl", "genotype_from_dict", "genotype_from_json", "genotype_to_dict",
    "genotype_to_json", "get_genotype", "load_genotype_file", "num_edges", "parse_darts_genotype",
    "profile_genotype", "profile_network", "reduction_layers", "register_genotype", "register_op",
    "meta_state", "sample_arch", "tau_at",
]
