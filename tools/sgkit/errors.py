"""The one error type the kit raises for problems a user can fix."""

from __future__ import annotations


class KitError(Exception):
    """A problem the user can act on: what went wrong and how to fix it.

    Tasks print ``str(error)`` and exit non-zero; they never print a traceback
    for a KitError.
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}\n  fix: {fix}")
