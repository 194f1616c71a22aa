"""Errors that reach the user as one line (exit code 2) instead of a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a config field, a file, a dataset name.

    The message is in domain terms (library callers see no CLI flags). ``option`` names the
    command-line option the input came through, when there is one: the CLI prints
    ``--<option>: <message>`` on one line and exits with code 2; ``cli`` is the whole line to print
    instead where the fix is another flag.

    Example:
        >>> raise UserError("config: meta.inner_lr_weights: must be > 0")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: config: meta.inner_lr_weights: must be > 0
        >>> UserError("no checkpoint in runs/x", option="resume").option
        'resume'
    """

    def __init__(self, message: str = "", *, option: str | None = None, cli: str | None = None) -> None:
        super().__init__(message)
        self.option, self.cli = option, cli

    def cli_message(self) -> str:
        """The line the command line prints.

        Example:
            >>> UserError("no checkpoint in runs/x", option="resume").cli_message()
            '--resume: no checkpoint in runs/x'
        """
        if self.cli:
            return self.cli
        return f"--{self.option}: {self}" if self.option else str(self)

