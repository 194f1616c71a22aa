"""Export: TorchScript and ONNX files that match PyTorch on the test split and need no base-dist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from base_dist.errors import UserError
from base_dist.train import train
from base_dist.train.export import ONNX_OPSET, TOLERANCE, export_network

EXE = Path(sys.executable).parent / "base-dist"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny trained run (auxiliary head and drop-path on, as in the recipe)."""
    from base_dist.config import load_config

    cfg = load_config(None, ["train.dataset=digits", "train.image_size=16", "train.channels=4", "train.layers=3",
                             "train.max_train_images=128", "train.batch_size=32", "train.epochs=1", "device=cpu",
                             "tracking.mlflow=false", "train.auxiliary_weight=0.4", "train.drop_path_prob=0.2"])
    run_dir = tmp_path_factory.mktemp("train")
    train(cfg, run_dir, progress=False)
    return run_dir


def test_onnx_matches_pytorch_on_the_test_split(trained, tmp_path):
    onnx = pytest.importorskip("onnx")  # installed by make (the export extra)
    ort = pytest.importorskip("onnxruntime")
    res = export_network(trained, "onnx", tmp_path / "m.onnx")
    check = res.record["check"]
    assert check["images"] == 359 and check["max_abs_diff"] <= TOLERANCE and check["agreement"] == 1.0
    assert check["exported_acc"] == check["pytorch_acc"]
    assert res.record["opset"] == ONNX_OPSET and res.record["input"]["shape"] == [None, 1, 16, 16]
    assert json.loads(res.record_path.read_text())["check"] == check
    model = onnx.load(str(res.path))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [ONNX_OPSET]
    assert [o.name for o in model.graph.output] == ["logits"]
    assert not [i.name for i in model.graph.initializer if "auxiliary" in i.name]  # no aux head in the graph
    assert not [n.op_type for n in model.graph.node if "Random" in n.op_type]  # no drop-path masks
    session = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    sample = np.load(tmp_path / "sample.npz")
    out = session.run(None, {"images": sample["images"][:5]})[0]  # another batch size than traced
    assert out.shape == (5, 10) and np.abs(out - sample["logits"][:5]).max() <= TOLERANCE


def test_torchscript_runs_without_importing_base_dist(trained, tmp_path):
    res = export_network(trained, "torchscript", tmp_path / "m.pt", max_images=64)
    assert res.record["check"]["images"] == 64 and res.record["check"]["agreement"] == 1.0
    code = ("import sys, numpy as np, torch; m = torch.jit.load(sys.argv[1]); s = np.load(sys.argv[2]); "
            "out = m(torch.from_numpy(s['images'])).detach().numpy(); "
            "assert 'base_dist' not in sys.modules; print(float(np.abs(out - s['logits']).max()))")
    done = subprocess.run([sys.executable, "-c", code, str(res.path), str(tmp_path / "sample.npz")], cwd=tmp_path,
                          env={k: v for k, v in ENV.items() if k != "PYTHONPATH"}, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) <= TOLERANCE


def test_export_of_a_non_train_directory_is_refused(tmp_path):
    with pytest.raises(UserError, match="not a train run directory"):
        export_network(tmp_path, "onnx")
    assert list(tmp_path.iterdir()) == []


def test_cli_export_and_one_line_errors(trained, tmp_path):
    out = subprocess.run([str(EXE), "export", str(trained), "--format", "torchscript", "--output",
                          str(tmp_path / "net.pt"), "--max-images", "16"], capture_output=True, text=True, env=ENV,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "predictions agree on 100.0%" in out.stdout and (tmp_path / "net.pt").is_file()
    for args, word in (([str(tmp_path / "nope"), "--format", "onnx"], "no such run directory"),
                       ([str(tmp_path), "--format", "onnx"], "not a train run directory"),
                       ([str(trained), "--format", "tflite"], "tflite")):
        before = sorted(tmp_path.rglob("*"))
        out = subprocess.run([str(EXE), "export", *args], capture_output=True, text=True, env=ENV, timeout=120,
                             check=False)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and word in lines[0], lines
        assert sorted(tmp_path.rglob("*")) == before  # a refused command writes nothing
