"""Export a trained full network to a file that runs with torch (TorchScript) or any ONNX runtime alone.

The exported graph is the inference network: evaluation mode, no auxiliary head, no drop-path,
input ``images`` ``[batch, C, S, S]`` float32 (normalised as in training: pixels / 255, then
``(x - mean) / std`` per channel, after a bilinear resize to S), output ``logits`` ``[batch, classes]``.
The batch dimension is dynamic. Before the file is moved into place it is checked against the
PyTorch network on the dataset's test split: the largest absolute logit difference must stay within
:data:`TOLERANCE`. ``<file>.json`` records the format, opset, shapes, preprocessing, classes and the
check's figures.

Example:
    >>> res = export_network("runs/train-x", "onnx")  # doctest: +SKIP
    >>> res.record["check"]["agreement"]  # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from base_dist.data import create_source, load_dataset
from base_dist.errors import UserError
from base_dist.space.genotypes import genotype_to_dict
from base_dist.space.network import Network
from base_dist.track.mlflow_logger import NullTracker
from base_dist.track.mlflow_model import log_torch_model
from base_dist.train.checkpoints import TrainedNetwork, load_trained_network

log = logging.getLogger(__name__)
FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}
ONNX_OPSET = 18
TOLERANCE = 1e-4  # max |logit difference| between the exported file and PyTorch on the test split
INPUT_NAME, OUTPUT_NAME = "images", "logits"
EXPORT_SUBDIR = "export"
_BATCH = 256
SAMPLE_IMAGES = 8

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class ExportResult:
    """The exported file, its ``.json`` record, and the record itself."""

    path: Path
    record_path: Path
    record: dict[str, Any]

    def summary_line(self) -> str:
        """One line for the CLI.

        Example:
            >>> ExportResult(Path("m.onnx"), Path("m.onnx.json"), {"format": "onnx", "opset": 18,
            ...     "input": {"shape": [None, 1, 16, 16]}, "check": {"images": 9, "max_abs_diff": 1e-6,
            ...     "agreement": 1.0, "tolerance": 1e-4}}).summary_line()
            'onnx (opset 18) input [batch, 1, 16, 16]: 9 test images, max |logit diff| 1e-06 (tolerance 0.0001), predictions agree on 100.0%'
        """
        r, c = self.record, self.record["check"]
        shape = ", ".join("batch" if d is None else str(d) for d in r["input"]["shape"])
        opset = f" (opset {r['opset']})" if r.get("opset") else ""
        return (f"{r['format']}{opset} input [{shape}]: {c['images']} test images, max |logit diff| "
                f"{c['max_abs_diff']:.3g} (tolerance {c['tolerance']:g}), predictions agree on "
                f"{100 * c['agreement']:.1f}%")


def inference_network(net: Network) -> Network:
    """A copy of ``net`` for inference: evaluation mode, auxiliary head removed, no drop-path.

    Example:
        >>> from base_dist.space.network import create_network
        >>> inference_network(create_network("darts_v2", channels=4, layers=3, auxiliary=True)).auxiliary_head is None
        True
    """
    out = copy.deepcopy(net).cpu().eval()
    out.auxiliary_head = None
    out.drop_path_prob, out.drop_gen = 0.0, None
    return out


def _write_torchscript(net: Network, example: torch.Tensor, path: Path) -> Predict:
    with warnings.catch_warnings():  # the tracer warns it is deprecated on every call; the format was asked for
        warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated.*")
        warnings.filterwarnings("ignore", message="Converting a tensor to a Python boolean.*")
        traced = torch.jit.trace(net, example, check_trace=False)
        traced.save(str(path))
        loaded = torch.jit.load(str(path)).eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return loaded(torch.from_numpy(x)).numpy()

    return predict


def _write_onnx(net: Network, example: torch.Tensor, path: Path, metadata: dict[str, str]) -> Predict:
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as err:
        raise UserError(f"ONNX export needs {err.name}: pip install -e '.[export]' (make install does)",
                        option="format") from err
    batch = torch.export.Dim("batch")
    torch.onnx.export(net, (example,), str(path), dynamo=True, opset_version=ONNX_OPSET, input_names=[INPUT_NAME],
                      output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},), external_data=False, verbose=False)
    model = onnx.load(str(path))
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def predict(x: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]

    return predict


def compare(reference: Predict, exported: Predict, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Logits of both on ``x`` in batches: max abs difference, argmax agreement, both accuracies.

    Example:
        >>> f = lambda a: a.reshape(len(a), -1)
        >>> compare(f, f, torch.eye(2).view(2, 1, 1, 2), torch.arange(2))["agreement"]
        1.0
    """
    diff, agree, right_ref, right_exp = 0.0, 0, 0, 0
    labels = y.numpy()
    for start in range(0, len(x), _BATCH):
        xb = x[start:start + _BATCH].contiguous().numpy()
        a, b = reference(xb), exported(xb)
        yb = labels[start:start + _BATCH]
        diff = max(diff, float(np.abs(a - b).max()))
        agree += int((a.argmax(1) == b.argmax(1)).sum())
        right_ref += int((a.argmax(1) == yb).sum())
        right_exp += int((b.argmax(1) == yb).sum())
    n = max(len(x), 1)
    return {"images": len(x), "max_abs_diff": diff, "agreement": agree / n, "pytorch_acc": right_ref / n,
            "exported_acc": right_exp / n, "tolerance": TOLERANCE}


def _record(trained: TrainedNetwork, fmt: str, path: Path, class_names: list[str]) -> dict[str, Any]:
    t = trained.cfg.train
    src = create_source(t.dataset, trained.cfg.data.root)
    return {"format": fmt, "file": path.name, "opset": ONNX_OPSET if fmt == "onnx" else None,
            "input": {"name": INPUT_NAME, "shape": [None, *trained.input_shape], "dtype": "float32"},
            "output": {"name": OUTPUT_NAME, "shape": [None, trained.num_classes], "dtype": "float32"},
            "preprocessing": {"resize": [t.image_size, t.image_size], "scale": 1 / 255, "mean": list(src.mean),
                              "std": list(src.std)},
            "classes": class_names, "dataset": t.dataset, "genotype": genotype_to_dict(trained.genotype),
            "macro": t.macro, "channels": t.channels, "layers": t.layers, "epochs_done": trained.epochs_done,
            "checkpoint": str(trained.path), "torch": torch.__version__}


def default_output(run_dir: str | Path, fmt: str) -> Path:
    """``RUN_DIR/export/model.pt`` (TorchScript) or ``RUN_DIR/export/model.onnx``.

    Example:
        >>> default_output("/r", "onnx").as_posix()
        '/r/export/model.onnx'
    """
    return Path(run_dir) / EXPORT_SUBDIR / f"model{FORMATS[fmt]}"


def export_network(run_dir: str | Path, fmt: str, output: str | Path | None = None, *,
                   max_images: int | None = None) -> ExportResult:
    """Export the trained network of ``run_dir`` as ``fmt``; check it on the test split; write the record.

    Nothing is written unless the check passes (the file is built beside its target, then renamed).
    ``max_images`` caps the test images checked (None: the whole split).

    Example:
        >>> export_network("runs/train-x", "torchscript").path.name  # doctest: +SKIP
        'model.pt'
    """
    if fmt not in FORMATS:
        raise UserError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}", option="format")
    trained = load_trained_network(run_dir)
    t = trained.cfg.train
    x, y, class_names = load_dataset(t.dataset, "test", t.image_size, trained.cfg.data.root)
    if max_images is not None:
        x, y = x[:max_images], y[:max_images]
    net = inference_network(trained.net)
    out = Path(output) if output is not None else default_output(run_dir, fmt)
    made_dir = not out.parent.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    record = _record(trained, fmt, out, class_names)
    example = x[:2].contiguous()
    try:
        if fmt == "onnx":
            exported = _write_onnx(net, example, tmp, {"base_dist": json.dumps({k: record[k] for k in
                                                       ("input", "output", "preprocessing", "classes")})})
        else:
            exported = _write_torchscript(net, example, tmp)
        with torch.no_grad():
            check = compare(lambda a: net(torch.from_numpy(a)).numpy(), exported, x, y)
        if not check["max_abs_diff"] <= TOLERANCE:
            raise UserError(f"exported {fmt} differs from PyTorch by {check['max_abs_diff']:.3g} > {TOLERANCE:g} "
                            "on the test split; not written")
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if made_dir:
            out.parent.rmdir()  # a refused export leaves nothing behind
        raise
    record["check"] = check
    record["sample"] = write_sample(net, x, y, out.parent).name
    record_path = out.with_name(out.name + ".json")
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    return ExportResult(path=out, record_path=record_path, record=record)


def write_sample(net: Network, x: torch.Tensor, y: torch.Tensor, folder: Path, n: int = SAMPLE_IMAGES) -> Path:
    """``sample.npz`` (images, labels, PyTorch logits) and ``sample.json`` (MLflow's serving input) in ``folder``.

    With them an exported file, or the logged MLflow model, is checked where base-dist is not installed.

    Example:
        >>> # write_sample(net, x_test, y_test, Path("runs/train-x/export")).name
        >>> # 'sample.npz'
    """
    xs = x[:n].contiguous()
    with torch.no_grad():
        logits = net(xs).numpy()
    path = folder / "sample.npz"
    np.savez(path, images=xs.numpy(), labels=y[:n].numpy(), logits=logits)
    (folder / "sample.json").write_text(json.dumps({"inputs": xs.tolist()}) + "\n")
    return path


def log_network_model(tracker: NullTracker, run_dir: str | Path, registered_name: str | None = None) -> str | None:
    """Log the trained network of ``run_dir`` (the inference network) as the run's MLflow model; its URI.

    The genotype, config and profile of the run go inside the model; two test images are the input
    example. Returns None when MLflow is off or the upload failed (a warning).

    Example:
        >>> log_network_model(NullTracker(), "runs/train-x") is None
        True
    """
    if tracker.run_id is None:
        return None
    trained = load_trained_network(run_dir)
    t = trained.cfg.train
    x, _, _ = load_dataset(t.dataset, "test", t.image_size, trained.cfg.data.root)
    files = [Path(run_dir) / name for name in ("genotype.json", "config.yaml", "profile.json")]
    return log_torch_model(tracker, inference_network(trained.net), x[:2].contiguous().numpy(), files,
                           registered_name)


__all__ = ["FORMATS", "ONNX_OPSET", "TOLERANCE", "ExportResult", "compare", "default_output", "export_network",
           "inference_network", "load_trained_network", "log_network_model"]
