"""Log a trained network as an MLflow model (PyTorch flavour) into the driver's run.

The model is saved in MLflow's pickle-free ``pt2`` format (``torch.export``), with a tensor
signature and an input example taken from real inputs, so ``mlflow.pyfunc.load_model(uri).predict``
works and ``mlflow models serve -m URI --env-manager local`` serves it. ``extra_files`` (genotype,
config, profile) travel inside the model. Like every tracker call, a failure is a warning.

Example:
    >>> # uri = log_torch_model(tracker, net, x_test[:2].numpy(), [run_dir / "genotype.json"], "base-digits")
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from base_dist.track.mlflow_logger import NullTracker, _env, _short

log = logging.getLogger(__name__)
MODEL_NAME = "model"


def log_torch_model(tracker: NullTracker, module: nn.Module, example: np.ndarray, extra_files: Sequence[Path] = (),
                    registered_name: str | None = None) -> str | None:
    """Log ``module`` (in eval mode) into ``tracker``'s run; returns the model URI (None when not logged).

    ``registered_name`` also registers it in the model registry (a new version per run).

    Example:
        >>> log_torch_model(NullTracker(), nn.Linear(2, 2), np.zeros((2, 2), np.float32)) is None
        True
    """
    if tracker.run_id is None or tracker.tracking_uri is None:
        return None
    try:
        import mlflow.pytorch
        from mlflow.models import infer_signature

        module = module.eval()
        with torch.no_grad():
            output = module(torch.from_numpy(example)).numpy()
        files = [str(p) for p in extra_files if Path(p).is_file()]
        experiment = mlflow.MlflowClient(tracker.tracking_uri).get_run(tracker.run_id).info.experiment_id
        # mlflow's log_model goes through its fluent API, which reads the store and the experiment from
        # the environment: scoping them here keeps the process free of a global tracking URI.
        with _env(MLFLOW_TRACKING_URI=tracker.tracking_uri, MLFLOW_EXPERIMENT_ID=experiment,
                  MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"):
            info = mlflow.pytorch.log_model(
                module, name=MODEL_NAME, run_id=tracker.run_id, signature=infer_signature(example, output),
                input_example=example, serialization_format="pt2", extra_files=files or None,
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "numpy"],
                registered_model_name=registered_name, await_registration_for=0)
    except Exception as err:  # a model upload must not fail a finished training run
        log.warning("MLflow: could not log the model to %s (%s)", tracker.tracking_uri, _short(err))
        return None
    return str(info.model_uri)
