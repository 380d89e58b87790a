"""The signals that ask Plan Runner to stop, and noting them while it loads.

SIGTERM (``kill``, a logout), SIGHUP (a closed terminal) and SIGINT (Ctrl+C)
all mean "stop now". A signal the process was started with ignored (``nohup``)
stays ignored: whoever started it asked for that.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

QUIT_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGHUP", "SIGTERM")
    if hasattr(signal, name)
)
"""In the order their handlers are set: SIGTERM's last (a test waits for it)."""


def watched_quit_signals() -> tuple[int, ...]:
    """Return the quit signals this process was not started ignoring."""
    return tuple(
        number for number in QUIT_SIGNALS if signal.getsignal(number) != signal.SIG_IGN
    )


class QuitNotes:
    """Notes quit signals instead of acting on them, until released.

    For the moments while the program loads: a signal raised inside an import
    (Ctrl+C's KeyboardInterrupt) can leave a library half set up, and PySide6
    then aborts the process; ``kill`` would end it before it could clean up.
    Use as a context manager; :meth:`release` (or the end of the ``with``)
    puts back the handlers it replaced.

    Attributes:
        noted: The signals that arrived, in order.
    """

    def __init__(self) -> None:
        self.noted: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> QuitNotes:
        self._previous = {
            number: signal.signal(number, self._note)
            for number in watched_quit_signals()
        }
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    @property
    def exit_code(self) -> int | None:
        """128 + the first signal's number, as a shell reports it; None if none."""
        return 128 + self.noted[0] if self.noted else None

    def release(self) -> None:
        """Put back the handlers this replaced (once)."""
        previous, self._previous = self._previous, {}
        for number, handler in previous.items():
            signal.signal(number, handler)

    def _note(self, number: int, _frame: FrameType | None) -> None:
        self.noted.append(number)
