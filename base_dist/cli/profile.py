"""`base-dist profile` (lands with issue 3)."""

import click

from base_dist.cli.common import config_options, not_implemented


@click.command(name="profile", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@config_options
def command(**kwargs: object) -> None:
    """Not implemented yet (issue 3)."""
    not_implemented("profile", "issue 3")(**kwargs)
