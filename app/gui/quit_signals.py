"""Quit the desktop app cleanly on SIGTERM, SIGHUP and SIGINT.

A logout, ``kill`` or Ctrl+C in the terminal that started the app should close
the window as its close button does: a run in flight is cancelled and recorded
in the history, the window's state is saved. Python runs its signal handlers
only between bytecodes, which never happens while Qt's event loop waits in C++;
so the C-level handler writes the signal's number to a socket
(:func:`signal.set_wakeup_fd`) and a ``QSocketNotifier`` on the other end
wakes the event loop, which then calls back on the GUI thread.

While the app loads, :class:`app.core.signals.QuitNotes` notes
signals instead.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

from PySide6.QtCore import QSocketNotifier

from app.core.signals import watched_quit_signals


class QuitOnSignals:
    """Calls ``on_signal(number)`` on the GUI thread when a quit signal arrives.

    Make it on the main thread (only it may set signal handlers), once the
    QApplication exists, and :meth:`close` it when the event loop is done:
    that puts back the handlers and the wake-up descriptor it replaced. A
    signal that arrives before the event loop runs is acted on once it does.
    """

    def __init__(
        self,
        on_signal: Callable[[int], None],
        signals: tuple[int, ...] | None = None,
    ) -> None:
        if signals is None:
            signals = watched_quit_signals()
        self._on_signal = on_signal
        self._signals = set(signals)
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(
            self._writer.fileno(), warn_on_full_buffer=False
        )
        self._previous: dict[int, Any] = {
            number: signal.signal(number, _note_only) for number in signals
        }
        self._notifier = QSocketNotifier(
            self._reader.fileno(), QSocketNotifier.Type.Read
        )
        self._notifier.activated.connect(self._read)

    def _read(self) -> None:
        try:
            received = self._reader.recv(64)
        except BlockingIOError:
            return
        for number in received:
            if number in self._signals:
                self._on_signal(number)

    def close(self) -> None:
        """Put back the handlers and the wake-up descriptor this replaced."""
        self._notifier.setEnabled(False)
        self._notifier.deleteLater()
        for number, handler in self._previous.items():
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(number, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._reader.close()
        self._writer.close()


def _note_only(_number: int, _frame: FrameType | None) -> None:
    """Python's half of the handler: nothing; the wake-up byte does the work."""
