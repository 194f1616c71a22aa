"""Errors that reach the user as one line (exit code 2) instead of a traceback."""

from __future__ import annotations

import os
import sys
import traceback


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



def pop_debug_flag(args: list[str]) -> tuple[bool, list[str]]:
    """``(debug, args without --debug)``: ``--debug`` anywhere, or ``BASE_DIST_DEBUG=1``, keeps tracebacks.

    Example:
        >>> pop_debug_flag(["adapt", "--debug", "--prior", "x"])[1]
        ['adapt', '--prior', 'x']
    """
    debug = "--debug" in args or os.environ.get("BASE_DIST_DEBUG") == "1"
    return debug, [a for a in args if a != "--debug"]


def refuse(prog: str, message: str, debug: bool) -> int:
    """Print bad input's one line (after the traceback when debugging) to stderr; return exit code 2.

    Call it inside the ``except`` block, where the traceback is the current exception's.
    """
    if debug:
        traceback.print_exc()
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
