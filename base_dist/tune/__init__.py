"""Ray Tune searches over BASE meta-hyper-parameters (layer 5: imports every layer but ``cli``).

``base-dist tune --config FILE --space TUNE.yaml``: :mod:`.spec` (the TUNE.yaml format),
:mod:`.params` (config paths as search dimensions), :mod:`.resources` (a trial's placement group),
:mod:`.trial` (one trial: meta-train, report held-out accuracy per round), :mod:`.search` (the Tuner,
MLflow parent run, best.yaml), :mod:`.results` (table, best config). Ray is imported only when a
search runs.

Example:
    >>> from base_dist.tune import load_tune_spec
    >>> load_tune_spec("jobs/configs/tune_tiny.yaml").metric
    'holdout_acc'
"""

from base_dist.tune.spec import TuneSpec, load_tune_spec, parse_tune_spec

__all__ = ["TuneSpec", "load_tune_spec", "parse_tune_spec"]
