"""One MLflow run tree per pipeline: a parent run, each stage a nested child run, inputs traceable.

A child links its inputs by logging ``input.<name>`` (the path) as a param and, when that input
came from an earlier run, ``input.<name>.run_id`` as a tag, so a user can follow a result (a
model, a genotype) back through the runs to the prior it was adapted from.

Example:
    >>> from base_dist.config import load_config
    >>> tree = RunTree.start(load_config(None, ["tracking.mlflow=false"]), "/tmp/base-dist-doc-tree", "demo")
    >>> with tree.child("adapt", "/tmp/base-dist-doc-tree/2-adapt") as t:
    ...     log_inputs(t, prior="/tmp/base-dist-doc-tree/1-meta-train")
    >>> tree.end()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base_dist.config import ExperimentConfig
from base_dist.track.mlflow_logger import RUN_ID_FILE, NullTracker, start_tracker


def upstream_run_id(path: str | Path | None) -> str | None:
    """The MLflow run id of the run that wrote ``path`` (its run directory, or a file inside it).

    Example:
        >>> upstream_run_id("/nonexistent/run") is None
        True
    """
    if path is None:
        return None
    p = Path(path)
    for folder in (p, p.parent, p.parent.parent):  # run dir, run/file, run/checkpoints/file
        if (folder / RUN_ID_FILE).is_file():
            return (folder / RUN_ID_FILE).read_text().strip() or None
    return None


def log_inputs(tracker: NullTracker, **inputs: str | Path | None) -> None:
    """Log each input as ``input.<name>`` (a param) and its producing run as ``input.<name>.run_id`` (a tag).

    Example:
        >>> log_inputs(NullTracker(), genotype="runs/demo-x/3-derive/genotype.json")
    """
    given = {k: v for k, v in inputs.items() if v is not None}
    tracker.log_params({f"input.{k}": str(v) for k, v in given.items()})
    for name, value in given.items():
        run_id = upstream_run_id(value)
        if run_id:
            tracker.set_tag(f"input.{name}.run_id", run_id)


@dataclass
class RunTree:
    """A parent run and the config its children are opened with."""

    cfg: ExperimentConfig
    parent: NullTracker

    @classmethod
    def start(cls, cfg: ExperimentConfig, run_dir: str | Path, name: str,
              tags: Mapping[str, Any] | None = None) -> RunTree:
        """Open the parent run ``<cfg.name>-<name>`` (or ``<name>``) in ``run_dir`` (a no-op tree when MLflow is off).

        Example:
            >>> from base_dist.config import load_config
            >>> RunTree.start(load_config(None, ["tracking.mlflow=false"]), "/tmp/r", "demo").parent.run_id is None
            True
        """
        run_name = name if cfg.name == name else f"{cfg.name}-{name}"  # "demo", not "demo-demo"
        parent = start_tracker(cfg, run_dir, run_name=run_name, tags={"command": name, **(tags or {})}, resume=False)
        return cls(cfg=cfg, parent=parent)

    def child(self, stage: str, run_dir: str | Path, tags: Mapping[str, Any] | None = None) -> NullTracker:
        """Open the child run of ``stage`` (use it as a context manager: it ends FINISHED or FAILED).

        Example:
            >>> # with tree.child("train", stage_dir) as t: train(cfg, stage_dir, tracker=t)
        """
        return start_tracker(self.cfg, run_dir, run_name=f"{self.cfg.name}-{stage}",
                             tags={"command": stage, "stage": stage, **(tags or {})},
                             parent_run_id=self.parent.run_id, resume=False)

    def end(self, status: str = "FINISHED") -> None:
        """End the parent run.

        Example:
            >>> # tree.end("FAILED")
        """
        self.parent.end(status)
