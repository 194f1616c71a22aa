"""base-dist: distributed Bayesian Meta Architecture Search (BASE, NeurIPS 2019).

Layers, bottom to top (a layer imports only the ones before it):
``errors, config -> space, data -> track -> meta -> dist -> train -> cli``.
"""

__version__ = "0.1.0"
