"""The end-to-end demo: meta-train -> adapt -> derive -> retrain -> report, one subfolder per stage.

Stages (in ``run_dir``): ``1-meta-train`` (BASE Algorithm 1 on the multi-size Fashion-MNIST task
distribution, Ray workers when ``dist.workers >= 1``), ``2-adapt`` (the meta-network adapted to
``adapt.dataset``), ``3-derive`` (genotype.json + cells.png), ``4-train`` (the derived genotype
retrained on the adaptation dataset with ``cfg.train``'s budget, logged as an MLflow model),
``5-report`` (figures) and ``summary.md``. MLflow: one parent run with a child run per stage, all in
one store, ``run_dir/mlflow.db`` unless a tracking URI is set.

Example:
    >>> # res = run_demo(load_config("jobs/configs/demo.yaml"), Path("runs/demo-x"))
    >>> # print(res.summary_path.read_text())
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from base_dist.config import ExperimentConfig, save_config
from base_dist.report.derive import derive_from_probs, write_derive_outputs
from base_dist.report.figures import plot_curves
from base_dist.report.stages import adapt_stage, log_files, meta_train_stage
from base_dist.report.tables import markdown_table
from base_dist.track.runtree import RunTree, log_inputs

log = logging.getLogger(__name__)
STAGES = ("1-meta-train", "2-adapt", "3-derive", "4-train", "5-report")


@dataclass
class DemoResult:
    """Where everything went and how long each stage took."""

    run_dir: Path
    seconds: dict[str, float]
    genotype_path: Path
    cells_path: Path
    figures: list[Path]
    summary_path: Path
    tracking_uri: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    model_uri: str | None = None

    def mlflow_command(self) -> str | None:
        """The ``mlflow ui`` command for this demo's store (None when MLflow was off).

        Example:
            >>> DemoResult(Path("/r"), {}, Path("g"), Path("c"), [], Path("s"), "sqlite:////r/mlflow.db").mlflow_command()
            'mlflow ui --backend-store-uri sqlite:////r/mlflow.db'
        """
        return f"mlflow ui --backend-store-uri {self.tracking_uri}" if self.tracking_uri else None


def demo_config(cfg: ExperimentConfig, run_dir: Path) -> tuple[ExperimentConfig, str | None]:
    """The config the stages share: one MLflow store for all, retraining on the adaptation dataset.

    Example:
        >>> from base_dist.config import load_config
        >>> c, uri = demo_config(load_config("jobs/configs/demo.yaml"), Path("/tmp/d"))
        >>> c.train.dataset, uri
        ('digits', 'sqlite:////tmp/d/mlflow.db')
    """
    from base_dist.track.mlflow_logger import resolve_tracking_uri

    cfg = cfg.model_copy(deep=True)
    cfg.train.dataset = cfg.adapt.dataset
    cfg.train.image_size = cfg.adapt.image_size
    uri = None
    if cfg.tracking.mlflow:
        uri = resolve_tracking_uri(cfg, run_dir)
        cfg.tracking.tracking_uri = uri
    return cfg, uri


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_demo(cfg: ExperimentConfig, run_dir: str | Path) -> DemoResult:
    """Run every stage into ``run_dir``; returns a :class:`DemoResult` (and writes ``summary.md``).

    MLflow: one parent run (``<name>-demo``: summary, figures, the headline metrics) with one child
    run per stage, each logging its inputs (the prior, the adapted run, the genotype) and outputs.

    Example:
        >>> # run_demo(load_config("jobs/configs/tiny.yaml"), Path("/tmp/demo")).summary_path.name
        >>> # 'summary.md'
    """
    t_all = time.perf_counter()
    run_dir = Path(run_dir).absolute()
    cfg, uri = demo_config(cfg, run_dir)
    save_config(cfg, run_dir / "config.yaml")
    tree = RunTree.start(cfg, run_dir, "demo")
    status = "FAILED"
    try:
        res, genotype = _stages(cfg, run_dir, tree, uri, t_all)
        write_summary(res, cfg, genotype)
        tree.parent.log_metrics({k: float(v) for k, v in res.metrics.items() if v is not None}, step=0)
        log_files(tree.parent, run_dir / "config.yaml", res.summary_path, *res.figures)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tree.end(status)
    return res


def _stages(cfg: ExperimentConfig, run_dir: Path, tree: RunTree, uri: str | None,
            t_all: float) -> tuple[DemoResult, Any]:
    """The five stages, each in its own folder and child run."""
    from base_dist.track.rundir import open_run_dir
    from base_dist.train.run import train

    dirs = {s: run_dir / s for s in STAGES}
    secs: dict[str, float] = {}

    log.info("demo 1/5: meta-train (%d rounds x %d tasks, %d Ray workers)", cfg.meta.rounds,
             cfg.meta.tasks_per_round, cfg.dist.workers)
    t0 = time.perf_counter()
    with open_run_dir("meta-train", dirs["1-meta-train"], cfg) as stage, tree.child("meta-train", stage) as tracker:
        mt = meta_train_stage(cfg, stage, tracker)
    secs["meta-train"] = time.perf_counter() - t0

    log.info("demo 2/5: adapt to %s (%d epochs)", cfg.adapt.dataset, cfg.adapt.epochs)
    t0 = time.perf_counter()
    with open_run_dir("adapt", dirs["2-adapt"], cfg) as stage, tree.child("adapt", stage) as tracker:
        ad = adapt_stage(cfg, mt.checkpoint, stage, tracker)
    secs["adapt"] = time.perf_counter() - t0

    log.info("demo 3/5: derive")
    t0 = time.perf_counter()
    with tree.child("derive", dirs["3-derive"]) as tracker:
        log_inputs(tracker, adapted=ad.run_dir)
        der = derive_from_probs(torch.tensor(ad.arch["normal"]), torch.tensor(ad.arch["reduce"]), cfg.space,
                                recipe="most-probable after adaptation", dataset=cfg.adapt.dataset,
                                checkpoint=str(ad.run_dir))
        paths = write_derive_outputs(der, dirs["3-derive"], title=f"derived for {cfg.adapt.dataset}")
        log_files(tracker, *paths.values())
    secs["derive"] = time.perf_counter() - t0

    log.info("demo 4/5: retrain the derived genotype on %s (%d epochs)", cfg.train.dataset, cfg.train.epochs)
    t0 = time.perf_counter()
    tcfg = cfg.model_copy(deep=True)
    tcfg.train.genotype = str(paths["genotype"])
    with open_run_dir("train", dirs["4-train"], tcfg) as stage, tree.child("train", stage) as tracker:
        log_inputs(tracker, genotype=paths["genotype"])
        tr = train(tcfg, stage, tracker=tracker)
    secs["train"] = time.perf_counter() - t0

    log.info("demo 5/5: report")
    t0 = time.perf_counter()
    figs = _figures(dirs, ad.history, tr.history)
    secs["report"] = time.perf_counter() - t0
    secs["total"] = time.perf_counter() - t_all
    metrics = {"meta_val_acc": (mt.history[-1].get("val_acc") if mt.history else None),
               "adapt_val_acc": ad.final_val_acc, "train_test_acc": tr.test_acc,
               "params": tr.metrics.get("params"), "macs": tr.metrics.get("macs")}
    res = DemoResult(run_dir=run_dir, seconds=secs, genotype_path=paths["genotype"], cells_path=paths["cells"],
                     figures=[paths["cells"], *figs], summary_path=run_dir / "summary.md", tracking_uri=uri,
                     metrics=metrics, model_uri=tr.metrics.get("mlflow_model_uri"))
    return res, der.genotype


def _figures(dirs: dict[str, Path], adapt_history: list[dict[str, float]],
             train_history: list[dict[str, float]]) -> list[Path]:
    out = dirs["5-report"]
    figs = []
    rows = _read_jsonl(dirs["1-meta-train"] / "metrics.jsonl")
    if rows:
        figs.append(plot_curves({"meta-train task val acc": [[r.get("val_acc", float("nan")) for r in rows]]},
                                out / "meta_train.png", "round", "accuracy", "meta-training (mean over the round's tasks)",
                                x0=1))
    figs.append(plot_curves({"co-adapted": [[h["val_acc"] for h in adapt_history]]}, out / "adaptation.png",
                            "adaptation epoch", "held-out accuracy", "adaptation to the unseen dataset"))
    if train_history:
        key = "train_acc" if "train_acc" in train_history[0] else next(iter(train_history[0]))
        figs.append(plot_curves({"retrain " + key: [[h.get(key, float("nan")) for h in train_history]]},
                                out / "retrain.png", "epoch", key, "retraining the derived genotype", x0=1))
    return figs


def write_summary(res: DemoResult, cfg: ExperimentConfig, genotype: Any) -> Path:
    """Write ``summary.md``: stage timings, results, genotype, files, and how to open MLflow.

    Example:
        >>> # write_summary(result, cfg, genotype)
    """
    m = res.metrics
    pct = lambda v: "n/a" if v is None else f"{100 * float(v):.1f}%"  # noqa: E731
    rows = [[k, f"{v:.1f}"] for k, v in res.seconds.items()]
    text = [f"# base-dist demo: {res.run_dir.name}\n",
            f"Config `{cfg.name}`: {cfg.meta.rounds} meta rounds x {cfg.meta.tasks_per_round} tasks, "
            f"{cfg.dist.workers} Ray workers; adapt {cfg.adapt.epochs} epochs on {cfg.adapt.dataset}; "
            f"retrain {cfg.train.epochs} epochs on {cfg.train.dataset} (C={cfg.train.channels}, "
            f"{cfg.train.layers} cells).\n",
            "## Results\n",
            markdown_table(["what", "value"], [
                ["meta-train task val acc (last round)", pct(m.get("meta_val_acc"))],
                [f"adapted held-out acc on {cfg.adapt.dataset}", pct(m.get("adapt_val_acc"))],
                [f"retrained test acc on {cfg.train.dataset}", pct(m.get("train_test_acc"))],
                ["params / MACs", f"{(m.get('params') or 0) / 1e6:.3f}M / {(m.get('macs') or 0) / 1e6:.1f}M"]]),
            "## Stage wall time (s)\n", markdown_table(["stage", "seconds"], rows),
            f"## Genotype\n\n`{genotype}`\n",
            "## Files\n", *[f"- {p}" for p in [res.genotype_path, *res.figures]], ""]
    train_dir = res.run_dir / "4-train"
    text += ["## After the search\n", f"```\nbase-dist export {train_dir} --format onnx\n"
             f"python examples/onnx_predict.py {train_dir / 'export' / 'model.onnx'}\n```\n"]
    if res.tracking_uri:
        text += ["## MLflow\n", f"```\n{res.mlflow_command()}\n```\n"]
        if res.model_uri:
            text += [f"Model: `{res.model_uri}` (`mlflow.pyfunc.load_model`, `mlflow models serve`; README).\n"]
    res.summary_path.write_text("\n".join(text) + "\n")
    return res.summary_path
