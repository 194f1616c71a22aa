"""Shared CLI plumbing: config options, run directories, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from base_dist.config import ExperimentConfig, load_config
from base_dist.errors import UserError


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config FILE``, repeatable ``--set KEY=VALUE`` and ``--run-dir DIR`` to a command."""
    func = click.option("--run-dir", type=click.Path(path_type=Path), default=None,
                        help="where outputs go (default runs/<command>-<timestamp>)")(func)
    func = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="override a config field, e.g. --set meta.inner_steps=5 (repeatable)")(func)
    func = click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                        help="YAML config (default: built-in defaults)")(func)
    return func


def resolve_config(config_path: Path | None, overrides: tuple[str, ...], extra: list[str] | None = None) -> ExperimentConfig:
    """Load the config file, then ``extra`` (flags mapped to keys), then ``--set`` overrides (last wins)."""
    return load_config(config_path, list(extra or []) + list(overrides))


def echo_run_dir(path: Path) -> None:
    """Every command that writes ends by printing its run directory."""
    click.echo(f"run directory: {path}")


def resume_settings(resume_dir: Path | None, run_dir: Path | None, config_path: Path | None,
                    command: str) -> tuple[bool, Path | None, Path | None]:
    """``--resume RUN_DIR`` continues in RUN_DIR with its own config.yaml unless ``--config`` is given.

    Returns ``(resume, run_dir, config_path)``.

    Example:
        >>> resume_settings(None, None, None, "train")
        (False, None, None)
    """
    if resume_dir is None:
        return False, run_dir, config_path
    if not resume_dir.is_dir():
        raise UserError(f"--resume {resume_dir}: not a directory (pass the run directory of a {command} run)")
    if run_dir is not None and run_dir.resolve() != resume_dir.resolve():
        raise UserError("--resume RUN_DIR continues in RUN_DIR; drop --run-dir or make it the same directory")
    if config_path is None and (resume_dir / "config.yaml").is_file():
        config_path = resume_dir / "config.yaml"
    return True, resume_dir, config_path


def flag_overrides(flags: dict[str, Any]) -> list[str]:
    """``--set``-style overrides for the command-line flags that were given (None = not given).

    Example:
        >>> flag_overrides({"adapt.epochs": 3, "adapt.dataset": None, "adapt.freeze_arch": True})
        ['adapt.epochs=3', 'adapt.freeze_arch=true']
    """
    out = []
    for key, value in flags.items():
        if value is None or value is False:
            continue
        out.append(f"{key}={json.dumps(value)}")
    return out
