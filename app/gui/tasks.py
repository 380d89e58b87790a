"""The one background-task helper of the GUI.

Network calls, keyring calls and history writes never run on the GUI thread
(DESIGN.md, rule 2). They go through :class:`TaskRunner`, which runs a plain
Python callable on a worker of its own thread pool and reports back on the GUI
thread with signals that carry plain data. Workers never touch widgets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from app.core.errors import PlanRunnerError

log = logging.getLogger(__name__)

MAX_WORKERS = 4


class Task(QObject):
    """One callable on its way through the pool, seen from the GUI thread.

    The task object lives on the GUI thread; its signals are always emitted
    there, after the worker is done.

    Signals:
        finished(object): The callable returned this value.
        failed(object): The callable raised this exception.
    """

    finished = Signal(object)
    failed = Signal(object)
    # Emitted on the worker; queued over to the GUI thread by the connection.
    _completed = Signal(bool, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.done = False
        self._completed.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(bool, object)
    def _deliver(self, ok: bool, payload: object) -> None:
        self.done = True
        if ok:
            self.finished.emit(payload)
        else:
            self.failed.emit(payload)


class _Job(QRunnable):
    """Runs the callable on a worker thread and hands its result to the task."""

    def __init__(self, task: Task, function: Callable[[], Any]) -> None:
        super().__init__()
        self._task = task
        self._function = function

    def run(self) -> None:
        started = time.monotonic()
        try:
            result = self._function()
        except Exception as error:
            if not _is_expected(error):
                log.error(
                    "Background task %r failed unexpectedly",
                    self._task.name,
                    exc_info=error,
                )
            self._task._completed.emit(False, error)
        else:
            self._task._completed.emit(True, result)
        log.debug(
            "Task %r took %.0f ms", self._task.name, (time.monotonic() - started) * 1e3
        )


def _is_expected(error: Exception) -> bool:
    # The core's own errors carry a message for people; anything else is a bug.
    return isinstance(error, PlanRunnerError)


class TaskRunner(QObject):
    """Runs callables on an app-owned thread pool; reports on the GUI thread.

    Create it on the GUI thread. Each :meth:`submit` returns a :class:`Task` whose
    ``finished`` or ``failed`` signal fires once, on the GUI thread.

    Signals:
        busy_changed(bool): Whether any task is running or queued.
    """

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(MAX_WORKERS)
        self._pool.setObjectName("plan-runner-tasks")
        self._active: set[Task] = set()
        self._closed = False

    @property
    def pool(self) -> QThreadPool:
        """The pool the tasks run on (tests check that it is idle)."""
        return self._pool

    @property
    def busy(self) -> bool:
        """Whether a task has not reported back yet."""
        return bool(self._active)

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` was called; no new task starts after it."""
        return self._closed

    def submit(
        self,
        name: str,
        function: Callable[[], Any],
        *,
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[Exception], None] | None = None,
    ) -> Task:
        """Run ``function()`` on a worker.

        Args:
            name: What the task does, for the log.
            function: A callable that touches no widget and returns plain data.
            on_finished: Called on the GUI thread with the return value.
            on_failed: Called on the GUI thread with the exception raised.

        Raises:
            RuntimeError: The runner has been shut down.
        """
        if self._closed:
            raise RuntimeError("The task runner is shut down; no new task can start.")
        task = Task(name, self)
        if on_finished is not None:
            task.finished.connect(on_finished)
        if on_failed is not None:
            task.failed.connect(on_failed)
        task.finished.connect(lambda _result: self._forget(task))
        task.failed.connect(lambda _error: self._forget(task))
        was_busy = self.busy
        self._active.add(task)
        self._pool.start(_Job(task, function))
        if not was_busy:
            self.busy_changed.emit(True)
        return task

    def shutdown(self, timeout_ms: int) -> bool:
        """Refuse new tasks and wait up to ``timeout_ms`` for the running ones.

        Waiting also ends the pool's idle worker threads. Results that arrive
        after this are still delivered when the event loop runs.

        Returns:
            True when every worker ended in time.
        """
        self._closed = True
        finished = self._pool.waitForDone(timeout_ms)
        if not finished:
            log.warning(
                "%d background task(s) still running after %d ms",
                self._pool.activeThreadCount(),
                timeout_ms,
            )
        return finished

    def _forget(self, task: Task) -> None:
        self._active.discard(task)
        task.deleteLater()
        if not self._active:
            self.busy_changed.emit(False)
