"""A heartbeat on the GUI thread: a 1 ms timer whose gaps show every stall.

Imported by bench_responsiveness.py. Run as a script it is that bench's baseline:
a bare QMainWindow idling with the same heartbeat, which shows the timer's own
jitter on this machine::

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/heartbeat.py --seconds 10

It prints one JSON line: the number of gaps, the longest and the 99th percentile.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from typing import Any

from benchlib import seconds
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

INTERVAL_MS = 1


class Heartbeat(QObject):
    """Ticks every ``interval_ms`` on the GUI thread and keeps the gaps (ms)."""

    def __init__(self, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__()
        self.gaps: list[float] = []
        self.ends: list[float] = []  # when each gap ended, s since start()
        self.started = 0.0
        self.last = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self.gaps = []
        self.ends = []
        self.started = self.last = time.perf_counter()
        self._timer.start()

    def stop(self) -> dict[str, float]:
        self._timer.stop()
        self._on_timer_timeout()  # the gap up to now counts too
        return summary(self.gaps, self.ends)

    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self.last) * 1000)
        self.ends.append(now - self.started)
        self.last = now


class StallSampler:
    """Samples the GUI thread's Python stack while the heartbeat is late.

    A diagnosis aid, off by default: its thread takes the GIL every few
    milliseconds, which itself adds a little jitter.
    """

    def __init__(self, heartbeat: Heartbeat, late_ms: float = 8.0) -> None:
        self._heartbeat = heartbeat
        self._late = late_ms / 1000
        self._gui = threading.main_thread().ident
        self._stop = threading.Event()
        self.stacks: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            if time.perf_counter() - self._heartbeat.last < self._late:
                continue
            frame = sys._current_frames().get(self._gui)
            if frame is None:
                continue
            entries = traceback.extract_stack(frame)[-8:]
            self.stacks[
                " <- ".join(
                    f"{e.filename.rsplit('/', 2)[-1]}:{e.lineno} {e.name}"
                    for e in reversed(entries)
                )
            ] += 1


def summary(gaps: list[float], ends: list[float] | None = None) -> dict[str, Any]:
    """Count the gaps; the longest, the 99th percentile, and when the worst ended."""
    ordered = sorted(gaps)
    if not ordered:
        return {"ticks": 0, "max_ms": float("nan"), "p99_ms": float("nan")}
    rank = max(0, round(0.99 * len(ordered)) - 1)
    worst = sorted(range(len(gaps)), key=lambda i: -gaps[i])[:3]
    return {
        "ticks": len(ordered),
        "max_ms": ordered[-1],
        "p99_ms": ordered[rank],
        "over_16ms": sum(1 for g in ordered if g > 16),
        "worst": [
            (round(gaps[i], 1), round(ends[i], 3) if ends else None) for i in worst
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=seconds, required=True)
    args = parser.parse_args()
    # Nothing to clean up: SIGINT ends it at once, as SIGTERM does (in a Qt
    # slot, Python's KeyboardInterrupt would be printed and dropped).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.resize(940, 860)
    window.show()
    heartbeat = Heartbeat()
    result: dict[str, Any] = {}

    def finish() -> None:
        result.update(heartbeat.stop())
        app.quit()

    QTimer.singleShot(200, heartbeat.start)  # after the window's first paint
    QTimer.singleShot(200 + round(args.seconds * 1000), finish)
    app.exec()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
