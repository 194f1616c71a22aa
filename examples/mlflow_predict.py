"""Load the MLflow model a train run logged and predict with it (mlflow, torch and numpy; no base-dist).

Usage:
    python examples/mlflow_predict.py runs/demo-x/4-train

Reads the model and store URIs from RUN_DIR/metrics.json and the images from RUN_DIR/export/sample.npz
(written by ``base-dist export``), predicts through ``mlflow.pyfunc`` and prints the agreement with the
PyTorch logits stored beside the images; exit code 1 when a logit differs by more than 1e-4.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

TOLERANCE = 1e-4


def main(run_dir: Path) -> int:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if not metrics.get("mlflow_model_uri"):
        sys.exit(f"{run_dir}: the run logged no MLflow model (was tracking.mlflow off?)")
    os.environ["MLFLOW_TRACKING_URI"] = metrics["mlflow_tracking_uri"]
    import mlflow

    model = mlflow.pyfunc.load_model(metrics["mlflow_model_uri"])
    sample = np.load(run_dir / "export" / "sample.npz")
    logits = model.predict(sample["images"])
    diff = float(np.abs(logits - sample["logits"]).max())
    agree = float((logits.argmax(1) == sample["logits"].argmax(1)).mean())
    print(f"{metrics['mlflow_model_uri']} ({metrics['mlflow_tracking_uri']}): signature {model.metadata.signature.inputs}")
    print("predicted classes:", logits.argmax(1).tolist(), "| labels:", sample["labels"].tolist())
    print(f"max |logit diff| vs PyTorch {diff:.3g} (tolerance {TOLERANCE:g}), same predictions on {100 * agree:.0f}%")
    return 0 if diff <= TOLERANCE else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
