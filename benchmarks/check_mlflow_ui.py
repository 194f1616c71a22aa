"""Documented check: a demo's MLflow store in a real browser (headless Chromium), and the model served.

What it checks, on a finished demo directory (or a ``demo --quick`` run it makes in a temp dir):

1. ``mlflow ui`` on the demo's SQLite store; Chromium renders the experiment page and the parent
   run's name shows, with its children nested under it (the page offers to expand the parent);
2. each child run's page names the parent run (MLflow's "Parent run" field);
3. ``mlflow models serve`` serves the train stage's model and ``/invocations`` answers the sample.

Screenshots and the rendered DOM go to ``--out``. Needs Debian's ``chromium`` (``apt-get install
chromium``); this is not part of the test suite (a browser and two servers take ~1 minute), the
suite checks the run tree itself (tests/report/test_report_cli.py).

Example:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/check_mlflow_ui.py --demo-dir runs/demo-x --out /tmp/ui-check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout_s: float = 120.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1.0)
    raise SystemExit(f"{url} did not answer in {timeout_s:.0f} s")


def _browse(chromium: str, url: str, out: Path, name: str) -> str:
    """The DOM after Chromium ran the page's scripts; a screenshot beside it."""
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,900",
             "--virtual-time-budget=20000"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    (out / f"{name}.html").write_text(dom)
    subprocess.run([*flags, f"--screenshot={out / f'{name}.png'}", url], capture_output=True, timeout=120, check=True)
    return dom


def _demo(out: Path) -> Path:
    run = out / "demo"
    subprocess.run([str(BIN / "base-dist"), "demo", "--quick", "--run-dir", str(run), "--set", "tracking.mlflow=true"],
                   check=True, env={**os.environ, "MLFLOW_TRACKING_URI": ""})
    return run


def check_ui(demo: Path, out: Path, chromium: str) -> list[str]:
    from mlflow import MlflowClient

    uri = f"sqlite:///{demo.resolve()}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    port = _free_port()
    server = subprocess.Popen([str(BIN / "mlflow"), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = []
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/health")
        exp = parent.info.experiment_id
        dom = _browse(chromium, f"{base}/#/experiments/{exp}/runs", out, "experiment")
        assert parent.info.run_name in dom, f"parent run {parent.info.run_name} not on the experiment page"
        lines.append(f"experiment page shows parent run {parent.info.run_name} ({len(children)} children)")
        for child in children:
            dom = _browse(chromium, f"{base}/#/experiments/{exp}/runs/{child.info.run_id}", out,
                          f"run-{child.data.tags['stage']}")
            assert child.info.run_name in dom and parent.info.run_name in dom, child.info.run_name
            lines.append(f"run page of {child.info.run_name} names parent {parent.info.run_name}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return lines


def check_serve(train_dir: Path) -> str:
    metrics = json.loads((train_dir / "metrics.json").read_text())
    port = _free_port()
    # mlflow starts the venv's uvicorn by name: the venv's bin folder must be on PATH.
    env = {**os.environ, "MLFLOW_TRACKING_URI": metrics["mlflow_tracking_uri"],
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = subprocess.Popen([str(BIN / "mlflow"), "models", "serve", "-m", metrics["mlflow_model_uri"],
                               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{port}/ping")
        body = (train_dir / "export" / "sample.json").read_bytes()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            preds = json.loads(resp.read())["predictions"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return f"mlflow models serve answered {len(preds)} predictions of {len(preds[0])} logits"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-dir", type=Path, default=None, help="a finished demo (default: run demo --quick)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="mlflow-ui-check-")))
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    demo = args.demo_dir or _demo(args.out)
    train_dir = demo / "4-train"
    if not (train_dir / "export" / "sample.json").is_file():
        subprocess.run([str(BIN / "base-dist"), "export", str(train_dir), "--format", "onnx"], check=True)
    for line in [*check_ui(demo, args.out, chromium), check_serve(train_dir)]:
        print("ok:", line)
    print(f"screenshots and DOM: {args.out}")


if __name__ == "__main__":
    main()
