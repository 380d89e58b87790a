"""Unexpected errors reach the crash dialog, which says where the log is."""

from __future__ import annotations

import logging
import sys

import pytest
from PySide6.QtWidgets import QPushButton

from app.gui.main import CrashReporter, qt_message_handler


def _raise_in_slot():
    raise ValueError("boom with Bearer secret-token-value")


def test_the_handler_logs_the_traceback_and_names_the_log_file(tmp_path, caplog):
    shown = []
    reporter = CrashReporter(tmp_path / "plan-runner.log", show=shown.append)
    try:
        _raise_in_slot()
    except ValueError:
        reporter(*sys.exc_info())
    assert len(shown) == 1
    assert "unexpected error (ValueError)" in shown[0]
    assert str(tmp_path / "plan-runner.log") in shown[0]
    assert "secret-token-value" not in shown[0]
    assert any(
        "Traceback" in record.getMessage() and record.levelno == logging.CRITICAL
        for record in caplog.records
    )


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_reaches_the_excepthook(qtbot, tmp_path, monkeypatch):
    shown = []
    reporter = CrashReporter(tmp_path / "plan-runner.log")
    monkeypatch.setattr(reporter, "show_dialog", shown.append)
    monkeypatch.setattr(sys, "excepthook", reporter)
    button = QPushButton("Crash")
    qtbot.addWidget(button)
    button.clicked.connect(_raise_in_slot)
    button.click()
    assert len(shown) == 1
    assert "ValueError" in shown[0]


def test_qt_messages_go_to_the_qt_logger(caplog):
    from PySide6.QtCore import QMessageLogContext, QtMsgType

    with caplog.at_level(logging.DEBUG, logger="qt"):
        qt_message_handler(QtMsgType.QtWarningMsg, QMessageLogContext(), "a warning")
    assert [(r.name, r.levelno) for r in caplog.records] == [("qt", logging.WARNING)]
    assert "a warning" in caplog.records[0].getMessage()
