"""The ``base-dist`` command line.

Each subcommand lives in its own module of this package and exposes ``command``.

Example:
    $ base-dist --help
    $ base-dist meta-train --config jobs/configs/tiny.yaml --set meta.rounds=3
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from base_dist import __version__
from base_dist.errors import UserError, pop_debug_flag, refuse

# (CLI name, module under base_dist.cli); imported lazily so `--help` stays fast.
SUBCOMMANDS = {
    "meta-train": "meta_train",
    "adapt": "adapt",
    "derive": "derive",
    "inspect": "inspect",
    "train": "train",
    "export": "export",
    "profile": "profile",
    "data": "data",
    "tune": "tune",
    "fewshot": "fewshot",
    "priors": "priors",
    "demo": "demo",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = SUBCOMMANDS.get(name)
        if module is None:
            return None
        return importlib.import_module(f"base_dist.cli.{module}").command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="base-dist")
def app() -> None:
    """base-dist: distributed Bayesian Meta Architecture Search (BASE).

    Pipeline: meta-train -> adapt -> derive -> train -> export. Add --debug anywhere for tracebacks.
    """


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    debug, args = pop_debug_flag(list(sys.argv[1:] if argv is None else argv))
    try:
        app.main(args=args, prog_name="base-dist", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("base-dist: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("base-dist: interrupted", err=True)
        return 130
    except (UserError, click.ClickException) as exc:
        return refuse("base-dist", exc.format_message() if isinstance(exc, click.ClickException) else exc.cli_message(),
                      debug)
    except Exception as exc:  # a bug, not bad input: say so, keep the traceback behind --debug
        if debug:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(f"base-dist: internal error: {type(exc).__name__}: {first} (rerun with --debug)", err=True)
        return 1
    return 0


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())
