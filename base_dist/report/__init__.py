"""Layer 5: derivation, experiments (the paper's figures and tables offline) and the end-to-end demo.

Modules: :mod:`.derive` (genotype from a posterior), :mod:`.tables` (mean ± std, markdown, docs/results.md),
:mod:`.figures` (matplotlib PNGs), :mod:`.fast_adaptation`, :mod:`.posterior_pca`, :mod:`.search_result`,
:mod:`.baseline_cnn`, :mod:`.demo`.
"""
