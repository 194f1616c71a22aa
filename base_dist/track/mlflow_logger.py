"""MLflow logging for the driver (workers never open runs): params, per-round metrics, artifacts.

Where it logs (first that is set):

1. ``tracking.tracking_uri`` in the config;
2. ``$MLFLOW_TRACKING_URI``;
3. ``sqlite:///<abs run_dir>/mlflow.db`` (mlflow 3 refuses to start on a plain file store).

A relative ``sqlite:///x.db`` is made absolute; for a SQLite store the artifacts of a new experiment
go next to the database (``<db dir>/mlartifacts``), i.e. under the run directory by default. A server
decides its own artifact location.

Failure policy: a store that cannot be reached at :meth:`MlflowTracker.start` raises
:class:`UserError` within seconds (no retries); afterwards a failing call logs one warning per kind
of call and training goes on. ``mlflow`` is imported only when tracking is on.

Example:
    >>> from base_dist.config import load_config
    >>> t = start_tracker(load_config(None, ["tracking.mlflow=false"]), "/tmp/r", "demo")
    >>> t.log_metrics({"val_acc": 0.5}, step=1); t.end()
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from base_dist.config import ExperimentConfig, flatten_config
from base_dist.errors import UserError

log = logging.getLogger(__name__)

RUN_ID_FILE = "mlflow_run_id"
MAX_PARAM_VALUE = 6000  # mlflow's limit on a param value (MAX_PARAM_VAL_LENGTH)
MAX_KEY = 250  # mlflow's limit on a param/metric/tag key
_START_TIMEOUT_S = "5"
_SUSPEND_AFTER = 3  # consecutive failures before pausing calls, so a dead server costs no round time
_SUSPEND_S = 60.0


def resolve_tracking_uri(cfg: ExperimentConfig, run_dir: str | Path) -> str:
    """The tracking URI this run uses (config, else ``$MLFLOW_TRACKING_URI``, else SQLite in run_dir).

    Example:
        >>> from base_dist.config import load_config
        >>> resolve_tracking_uri(load_config(None, ["tracking.tracking_uri=http://mlflow:5000"]), "/tmp/r")
        'http://mlflow:5000'
    """
    uri = cfg.tracking.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri:
        return f"sqlite:///{(Path(run_dir).absolute() / 'mlflow.db').as_posix()}"
    if uri.startswith("sqlite:///"):
        db = uri[len("sqlite:///"):]
        if db and not db.startswith("/") and ":memory:" not in db:
            # Relative paths depend on the cwd of whoever opens the store later: pin them now.
            return f"sqlite:///{(Path.cwd() / db).as_posix()}"
    return uri


def _sqlite_artifact_root(uri: str) -> str | None:
    """``<db dir>/mlartifacts`` as a file URI for SQLite stores; None lets a server decide."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///"):])
    return (db.parent / "mlartifacts").as_uri()


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Temporarily set environment variables (mlflow reads its HTTP settings per request)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _short(err: BaseException) -> str:
    """First line of an error, capped, for one-line messages."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:300]


class NullTracker:
    """Same interface as :class:`MlflowTracker`, does nothing (``tracking.mlflow: false``, workers).

    Example:
        >>> NullTracker().log_params({"a": 1})
    """

    run_id: str | None = None
    tracking_uri: str | None = None

    @classmethod
    def start(cls, cfg: ExperimentConfig, run_dir: str | Path, run_name: str, tags: Mapping[str, Any] | None = None,
              parent_run_id: str | None = None, resume: bool = True) -> NullTracker:
        """Return a tracker that drops everything.

        Example:
            >>> from base_dist.config import load_config
            >>> NullTracker.start(load_config(None), "/tmp/r", "x").run_id is None
            True
        """
        return cls()

    def log_params(self, params: ExperimentConfig | Mapping[str, Any]) -> None:
        """No-op."""

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """No-op."""

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """No-op."""

    def set_tag(self, key: str, value: Any) -> None:
        """No-op."""

    def end(self, status: str = "FINISHED") -> None:
        """No-op."""

    def __enter__(self) -> NullTracker:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end("FINISHED" if exc_type is None else "KILLED" if exc_type is KeyboardInterrupt else "FAILED")


class MlflowTracker(NullTracker):
    """One MLflow run of the driver. Create with :meth:`start`; every call after that never raises.

    Example:
        >>> import tempfile
        >>> from base_dist.config import load_config
        >>> with MlflowTracker.start(load_config(None), tempfile.mkdtemp(), "doc") as t:  # doctest: +SKIP
        ...     t.log_metrics({"val_acc": 0.5}, step=1)
    """

    def __init__(self, client: Any, run_id: str, tracking_uri: str) -> None:
        self._client = client
        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self.failures: dict[str, int] = {}
        self._consecutive = 0
        self._suspended_until = 0.0
        self._ended = False

    # ------------------------------------------------------------------ start
    @classmethod
    def start(cls, cfg: ExperimentConfig, run_dir: str | Path, run_name: str, tags: Mapping[str, Any] | None = None,
              parent_run_id: str | None = None, resume: bool = True) -> MlflowTracker:
        """Open (or, with ``resume`` and ``run_dir/mlflow_run_id`` present, reopen) the run.

        Raises :class:`UserError` naming the URI when the store cannot be reached (fast: no retries,
        a 5 s timeout). The run id is written to ``run_dir/mlflow_run_id`` for a later resume.

        Example:
            >>> from base_dist.config import load_config
            >>> t = MlflowTracker.start(load_config(None), "/tmp/base-dist-doc-run", "doc")  # doctest: +SKIP
        """
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is imported
        # Mid-run calls: few, short retries so a flaky server cannot stall rounds (user values win).
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        run_dir = Path(run_dir).absolute()
        run_dir.mkdir(parents=True, exist_ok=True)
        uri = resolve_tracking_uri(cfg, run_dir)
        try:
            from mlflow import MlflowClient

            with _env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=_START_TIMEOUT_S):
                client = MlflowClient(tracking_uri=uri)
                run_id = cls._open_run(client, cfg, uri, run_dir, run_name, tags, parent_run_id, resume)
        except UserError:
            raise
        except Exception as err:  # mlflow raises many kinds (MlflowException, requests, sqlalchemy)
            raise UserError(
                f"MLflow store {uri} cannot be reached or refused the run ({_short(err)}); start the server or fix "
                "tracking.tracking_uri / $MLFLOW_TRACKING_URI, or run with --set tracking.mlflow=false"
            ) from err
        (run_dir / RUN_ID_FILE).write_text(run_id + "\n")
        log.info("MLflow run %s at %s", run_id, uri)
        return cls(client, run_id, uri)

    @staticmethod
    def _open_run(client: Any, cfg: ExperimentConfig, uri: str, run_dir: Path, run_name: str,
                  tags: Mapping[str, Any] | None, parent_run_id: str | None, resume: bool) -> str:
        """Reopen the stored run id when resuming and it exists in this store, else create a run."""
        id_file = run_dir / RUN_ID_FILE
        if resume and id_file.is_file():
            old_id = id_file.read_text().strip()
            try:
                client.get_run(old_id)
            except Exception as err:
                log.warning("MLflow run %s from %s is not in %s (%s); starting a new run",
                            old_id, id_file, uri, _short(err))
            else:
                client.update_run(old_id, status="RUNNING")
                return old_id
        name = cfg.tracking.experiment
        exp = client.get_experiment_by_name(name)
        if exp is None:
            exp_id = client.create_experiment(name, artifact_location=_sqlite_artifact_root(uri))
        else:
            exp_id = exp.experiment_id
        run_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        run_tags.setdefault("base_dist.run_dir", str(run_dir))
        if parent_run_id:
            run_tags["mlflow.parentRunId"] = parent_run_id
        return client.create_run(exp_id, tags=run_tags, run_name=run_name).info.run_id

    # ------------------------------------------------------------------ guarded calls
    def _guard(self, kind: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        """Run one mlflow call; a failure is a warning (once per kind), never an exception."""
        if time.monotonic() < self._suspended_until:
            self.failures[kind] = self.failures.get(kind, 0) + 1
            return
        try:
            fn(*args, **kwargs)
        except Exception as err:
            first = kind not in self.failures
            self.failures[kind] = self.failures.get(kind, 0) + 1
            self._consecutive += 1
            if first:
                log.warning("MLflow %s failed on %s (%s); training goes on, further %s failures are not reported",
                            kind, self.tracking_uri, _short(err), kind)
            if self._consecutive >= _SUSPEND_AFTER:
                # A dead or hanging server would cost timeouts every round: skip calls for a while.
                self._suspended_until = time.monotonic() + _SUSPEND_S
                self._consecutive = 0
                if "paused" not in self.failures:
                    log.warning("MLflow: %d failures in a row; skipping logging calls for %.0f s at a time",
                                _SUSPEND_AFTER, _SUSPEND_S)
                self.failures["paused"] = self.failures.get("paused", 0) + 1
        else:
            self._consecutive = 0

    def log_params(self, params: ExperimentConfig | Mapping[str, Any]) -> None:
        """Log params (a config is flattened); long values are cut to mlflow's 6000 characters.

        On a reopened run, params already logged are skipped (mlflow refuses to change them).

        Example:
            >>> t.log_params(cfg)  # doctest: +SKIP
        """
        if isinstance(params, ExperimentConfig):
            flat = flatten_config(params)
        else:
            flat = {str(k): str(v) for k, v in params.items()}
        self._guard("log_params", self._log_params, flat)

    def _log_params(self, flat: dict[str, str]) -> None:
        from mlflow.entities import Param

        existing = self._client.get_run(self.run_id).data.params
        items = []
        for key, value in flat.items():
            key = key[:MAX_KEY]
            if len(value) > MAX_PARAM_VALUE:
                value = value[: MAX_PARAM_VALUE - 3] + "..."
            if key in existing:
                if existing[key] != value:
                    log.warning("MLflow param %s was %r in this run, now %r: kept the first value",
                                key, existing[key], value)
                continue
            items.append(Param(key, value))
        for i in range(0, len(items), 100):  # mlflow's per-request cap on params
            self._client.log_batch(self.run_id, params=items[i:i + 100], synchronous=True)

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """Log numeric metrics at ``step`` (the round); None values are skipped.

        Example:
            >>> t.log_metrics({"val_acc": 0.61, "tasks_per_s": 3.2}, step=4)  # doctest: +SKIP
        """
        self._guard("log_metrics", self._log_metrics, metrics, step)

    def _log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k)[:MAX_KEY], float(v), now, int(step)) for k, v in metrics.items() if v is not None]
        for i in range(0, len(items), 1000):  # mlflow's per-request cap on metrics
            self._client.log_batch(self.run_id, metrics=items[i:i + 1000], synchronous=True)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file or a directory (config.yaml, genotype.json, a PNG, a checkpoint).

        Example:
            >>> t.log_artifact(run_dir / "config.yaml")  # doctest: +SKIP
        """
        p = Path(path)
        fn = self._client.log_artifacts if p.is_dir() else self._client.log_artifact
        self._guard("log_artifact", fn, self.run_id, str(p), artifact_path)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag on the run.

        Example:
            >>> t.set_tag("genotype", "darts_v2")  # doctest: +SKIP
        """
        self._guard("set_tag", self._client.set_tag, self.run_id, str(key)[:MAX_KEY], str(value))

    def end(self, status: str = "FINISHED") -> None:
        """Mark the run FINISHED, FAILED or KILLED; later calls do nothing.

        Example:
            >>> t.end("FAILED")  # doctest: +SKIP
        """
        if self._ended:
            return
        self._ended = True
        self._suspended_until = 0.0  # always try to record the final status
        self._guard("end", self._client.set_terminated, self.run_id, status)
        if self.failures:
            log.warning("MLflow: %d logging call(s) failed during the run (%s)", sum(self.failures.values()),
                        ", ".join(f"{k} x{v}" for k, v in sorted(self.failures.items())))

    def __enter__(self) -> MlflowTracker:
        return self


def start_tracker(cfg: ExperimentConfig, run_dir: str | Path, run_name: str, tags: Mapping[str, Any] | None = None,
                  parent_run_id: str | None = None, resume: bool = True) -> NullTracker:
    """:meth:`MlflowTracker.start` when ``cfg.tracking.mlflow`` is on, else a :class:`NullTracker`.

    Example:
        >>> from base_dist.config import load_config
        >>> type(start_tracker(load_config(None, ["tracking.mlflow=false"]), "/tmp/r", "x")).__name__
        'NullTracker'
    """
    kind = MlflowTracker if cfg.tracking.mlflow else NullTracker
    return kind.start(cfg, run_dir, run_name, tags, parent_run_id, resume)
