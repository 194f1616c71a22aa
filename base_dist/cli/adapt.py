"""`base-dist adapt` (lands with issue 5)."""

import click

from base_dist.cli.common import config_options, not_implemented


@click.command(name="adapt", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@config_options
def command(**kwargs: object) -> None:
    """Not implemented yet (issue 5)."""
    not_implemented("adapt", "issue 5")(**kwargs)
