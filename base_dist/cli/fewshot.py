"""`base-dist fewshot` (lands with the few-shot issue)."""

import click

from base_dist.cli.common import config_options, not_implemented


@click.command(name="fewshot")
@config_options
def command(**kwargs: object) -> None:
    """Not implemented yet (the few-shot issue)."""
    not_implemented("fewshot", "the few-shot issue")(**kwargs)
