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

# CLI name -> (module under base_dist.cli, the first paragraph of its command's help). Modules are
# imported only when their command runs: the summaries let `base-dist --help` list every command
# without importing torch through them (tests/test_cli.py checks they match the commands' help).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "meta-train": ("meta_train", "Meta-train the BASE meta-network: rounds of C tasks, T inner steps each, outer "
                   "update, checkpoints."),
    "adapt": ("adapt", "Adapt the meta-network to DATASET; prints the genotype, writes genotype.json, metrics.json "
              "and cells.png."),
    "pretrain": ("pretrain", "Pretrain a prior's supernet supervised on its pooled classes: the baseline "
                 "meta-learning must beat."),
    "derive": ("derive", "Derive the genotype (top-2 rule); write genotype.json, cells.png and derive.json into "
               "--run-dir."),
    "inspect": ("inspect", "Does meta-training learn? Coherence, displacement, adaptation gain, architecture, "
                "sigma; a verdict."),
    "train": ("train", "Train a genotype's full network; report test accuracy, parameters, MACs and wall time."),
    "export": ("export", "Export the trained network of RUN_DIR (a train run) and check it against PyTorch on the "
               "test split."),
    "profile": ("profile", "Count parameters (auxiliary head excluded) and MACs of a genotype's full network."),
    "data": ("data", "Inspect data sources and sampled tasks."),
    "tune": ("tune", "Search meta-hyper-parameters: one full meta-training per trial, scored on held-out tasks."),
    "fewshot": ("fewshot", "Few-shot learning: meta-train a network with MAML on episodes, evaluate it on held-out "
                "classes."),
    "priors": ("priors", "List the shipped meta-priors (use one with `base-dist adapt --prior NAME`)."),
    "demo": ("demo", "Run the whole pipeline; print where the MLflow runs, the figures and the genotype are."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it runs (or shows its own help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        return importlib.import_module(f"base_dist.cli.{SUBCOMMANDS[name][0]}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        width = formatter.width - 6 - max(len(name) for name in SUBCOMMANDS)
        rows = [(name, click.utils.make_default_short_help(summary, width)) for name, (_, summary) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


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
