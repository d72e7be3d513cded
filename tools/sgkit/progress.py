"""Progress lines for long work: one line per step, timestamped, to stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_T0 = time.monotonic()


def say(message: str) -> None:
    """Print one progress line, prefixed with the seconds since the kit started."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


@contextmanager
def step(what: str) -> Iterator[None]:
    """Announce a step and report how long it took (or that it failed)."""
    say(f"{what} ...")
    start = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"{what}: failed after {time.monotonic() - start:.1f}s")
        raise
    say(f"{what}: done in {time.monotonic() - start:.1f}s")
