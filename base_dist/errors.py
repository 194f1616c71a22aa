"""Errors that reach the user as one line (exit code 2) instead of a traceback."""


class UserError(Exception):
    """Bad input from the user: a config field, a file, a dataset name.

    The CLI prints ``str(err)`` on one line and exits with code 2.

    Example:
        >>> raise UserError("config: meta.inner_lr_weights: must be > 0")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: config: meta.inner_lr_weights: must be > 0
    """


class NotImplementedYet(UserError):
    """A subcommand whose issue has not landed: it says so and exits 2, never pretends to work."""
