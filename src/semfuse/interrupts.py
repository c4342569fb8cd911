"""Stopping cleanly: Ctrl-C and SIGTERM end a command with a one-line summary of what was done and what is left.

:func:`sigterm_as_interrupt` makes SIGTERM (``kill PID``, a scheduler's time limit) raise :class:`KeyboardInterrupt`
like Ctrl-C, so both unwind through the same code: temporary files are removed by
:func:`semfuse.files.atomic_write`, and the command line prints the interruption's message instead of a traceback.
:func:`summarise_interruption` gives a batch loop that message (``12 of 40 pairs done, 28 left; ...``).
"""

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _raise_interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`KeyboardInterrupt` in the main thread; the previous handler is
    restored after it (nothing changes outside the main thread, where handlers cannot be set)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def summarise_interruption(done: Callable[[], int], total: int, what: str, advice: str) -> Iterator[None]:
    """Re-raise a :class:`KeyboardInterrupt` from the block with the message ``DONE of TOTAL WHAT done, LEFT left;
    ADVICE``; ``done()`` is read when the interruption arrives.

    Example:
        >>> try:
        ...     with summarise_interruption(lambda: 3, 10, "pairs", "rerun with --skip-existing"):
        ...         raise KeyboardInterrupt
        ... except KeyboardInterrupt as interruption:  # doctest cannot expect a KeyboardInterrupt
        ...     print(interruption)
        3 of 10 pairs done, 7 left; rerun with --skip-existing
    """
    try:
        yield
    except KeyboardInterrupt:
        count = done()
        raise KeyboardInterrupt(f"{count} of {total} {what} done, {total - count} left; {advice}") from None
