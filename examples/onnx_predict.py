"""Run an exported ONNX network with onnxruntime and numpy alone (no torch, no base-dist).

Usage:
    python examples/onnx_predict.py runs/demo-x/4-train/export/model.onnx

Reads ``sample.npz`` beside the model (test images, labels and the PyTorch logits that
``base-dist export`` wrote), predicts, and prints the agreement with PyTorch; exit code 1 when a
logit differs by more than the tolerance recorded in ``model.onnx.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


def main(model: Path) -> int:
    record = json.loads(model.with_name(model.name + ".json").read_text())
    sample = np.load(model.parent / record["sample"])
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    logits = session.run([record["output"]["name"]], {record["input"]["name"]: sample["images"]})[0]
    diff = float(np.abs(logits - sample["logits"]).max())
    pred = logits.argmax(1)
    classes = record["classes"]
    print(f"{model}: input {record['input']['shape']} (opset {record['opset']})")
    print("predicted:", " ".join(classes[i] for i in pred), "| true:", " ".join(classes[i] for i in sample["labels"]))
    print(f"max |logit diff| vs PyTorch {diff:.3g} (tolerance {record['check']['tolerance']:g}), "
          f"same predictions on {100 * float((pred == sample['logits'].argmax(1)).mean()):.0f}%")
    return 0 if diff <= record["check"]["tolerance"] else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
