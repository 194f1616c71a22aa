"""Shared CLI plumbing: config options, run directories, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from base_dist.config import ExperimentConfig, load_config
from base_dist.errors import NotImplementedYet


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


def not_implemented(command: str, issue: str) -> Callable[..., Any]:
    """Body of a subcommand whose issue has not landed: exit 2 and say so."""

    def body(config_path: Path | None = None, overrides: tuple[str, ...] = (), **_: Any) -> None:
        resolve_config(config_path, overrides)  # bad input is still reported as bad input
        raise NotImplementedYet(f"base-dist {command} is not implemented yet ({issue})")

    return body


def echo_run_dir(path: Path) -> None:
    """Every command that writes ends by printing its run directory."""
    click.echo(f"run directory: {path}")
