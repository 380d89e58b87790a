"""How much history to keep: a number of days, a number of runs, or everything."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import Retention
from app.gui import icons, theme

LOCKED_TOOLTIP = "Set by your IT department"
MAX_DAYS = 36_500
MAX_RUNS = 100_000_000


class RetentionDialog(QDialog):
    """Edit the history retention.

    Args:
        retention: The retention in force.
        locked: The machine policy locks it: shown, not editable.
    """

    def __init__(
        self, retention: Retention, *, locked: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("History retention — Plan Runner")
        self.days_check, self.days = self._limit(
            "Keep runs of the last", " days", MAX_DAYS, retention.keep_days, 90
        )
        self.runs_check, self.runs = self._limit(
            "Keep at most", " runs", MAX_RUNS, retention.keep_runs, 10_000
        )
        intro = QLabel(
            "Older runs are removed from the history after each run. With neither "
            "limit, every run is kept.",
            self,
        )
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow(self._pair(self.days_check, self.days))
        form.addRow(self._pair(self.runs_check, self.runs))

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Cancel,
            self,
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        if locked:
            layout.addWidget(self._locked_note())
            for widget in (self.days_check, self.days, self.runs_check, self.runs):
                widget.setEnabled(False)
                widget.setToolTip(LOCKED_TOOLTIP)
            buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
        layout.addWidget(buttons)

    def retention(self) -> Retention:
        """Return the retention the fields describe."""
        return Retention(
            keep_days=self.days.value() if self.days_check.isChecked() else None,
            keep_runs=self.runs.value() if self.runs_check.isChecked() else None,
        )

    def _limit(
        self, label: str, suffix: str, maximum: int, value: int | None, default: int
    ) -> tuple[QCheckBox, QSpinBox]:
        check = QCheckBox(label, self)
        check.setAccessibleName(label + suffix)
        spin = QSpinBox(self)
        spin.setRange(1, maximum)
        spin.setSuffix(suffix)
        spin.setAccessibleName(label + suffix)
        spin.setValue(value or default)
        check.setChecked(value is not None)
        spin.setEnabled(value is not None)
        check.toggled.connect(spin.setEnabled)
        return check, spin

    def _pair(self, check: QCheckBox, spin: QSpinBox) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(check)
        row.addWidget(spin)
        row.addStretch(1)
        return row

    def _locked_note(self) -> QWidget:
        note = QWidget(self)
        row = QHBoxLayout(note)
        row.setContentsMargins(0, 0, 0, 0)
        lock = QLabel(note)
        lock.setPixmap(icons.pixmap("lock", 16, theme.glyph_colour(self)))
        row.addWidget(lock)
        row.addWidget(QLabel(LOCKED_TOOLTIP + ": it cannot be changed here.", note))
        row.addStretch(1)
        return note
