"""History retention: set in a dialog, locked by policy, applied after each run."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog

from app.core.history import HistoryFilter
from app.core.settings import Retention
from app.gui.retention_dialog import RetentionDialog

PROFILE = "Stage"


def test_the_dialog_reads_and_returns_both_limits(qtbot):
    dialog = RetentionDialog(Retention(keep_days=14), locked=False)
    qtbot.addWidget(dialog)
    assert dialog.days_check.isChecked()
    assert dialog.days.value() == 14
    assert not dialog.runs.isEnabled()
    dialog.runs_check.setChecked(True)
    dialog.runs.setValue(3)
    dialog.days_check.setChecked(False)
    assert dialog.retention() == Retention(keep_runs=3)


def test_a_locked_retention_cannot_be_edited(qtbot):
    dialog = RetentionDialog(Retention(keep_days=7), locked=True)
    qtbot.addWidget(dialog)
    assert not dialog.days.isEnabled()
    assert not dialog.days_check.isEnabled()
    assert "IT department" in dialog.days.toolTip()


def test_runs_beyond_the_retention_leave_the_history(
    qtbot, gateway, add_profile, open_gui, press_run, monkeypatch
):
    add_profile(PROFILE, gateway.url, default_user=1)
    gui = open_gui()
    window = gui.window

    def accept(dialog):
        dialog.runs_check.setChecked(True)
        dialog.runs.setValue(2)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(RetentionDialog, "exec", accept)
    window._on_retention_requested()
    assert gui.workspace.retention() == Retention(keep_runs=2)
    for plan in ("681", "1", "2"):
        window.plan_field.set_text(plan)
        press_run(window)
    rows = gui.history.page(HistoryFilter(), limit=10)
    assert [row.plan_id for row in rows] == [2, 1]
