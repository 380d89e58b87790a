"""The runs of this session, for when the full history view is not available."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.outcome import Category, Outcome
from app.gui import icons, theme
from app.gui.result_panel import describe

MAX_ROWS = 50
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 1
"""The :class:`Category` value of an item's run, to colour its icon for the scheme."""


@dataclass(frozen=True)
class Rerun:
    """What "Run again" puts back into the form (the shape of a history row)."""

    plan_id: int
    user_id: int
    profile: str | None


class RecentRuns(QWidget):
    """A list of this session's runs with "Run again".

    Signals:
        rerun_requested(object): A :class:`Rerun` to put into the form.
    """

    rerun_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Recent runs")
        self.list.setAlternatingRowColors(True)
        self.list.itemActivated.connect(self._on_list_item_activated)
        self.list.currentRowChanged.connect(self._on_list_current_row_changed)

        self.empty = QLabel("Runs of this session appear here.", self)

        self.rerun_button = QPushButton("Run &again", self)
        self.rerun_button.setAccessibleName("Run again")
        self.rerun_button.setToolTip(
            "Put this run's profile, plan and user into the form (nothing is sent)"
        )
        self.rerun_button.setEnabled(False)
        self.rerun_button.clicked.connect(self._on_rerun_button_clicked)

        buttons = QHBoxLayout()
        buttons.addWidget(self.empty)
        buttons.addStretch(1)
        buttons.addWidget(self.rerun_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._apply_colours()

    def add(
        self, outcome: Outcome, plan_name: str | None, user_name: str | None
    ) -> None:
        """Put an outcome at the top of the list."""
        when = outcome.started_at.astimezone().strftime("%H:%M:%S")
        parts = [
            describe("Plan", outcome.plan_id, plan_name),
            describe("User", outcome.user_id, user_name),
        ]
        if outcome.profile:
            parts.append(outcome.profile)
        label = theme.CATEGORY_LABEL[outcome.category]
        text = f"{when}   {label}  —  {'  ·  '.join(parts)}"
        item = QListWidgetItem(text)
        item.setData(CATEGORY_ROLE, outcome.category.value)
        item.setIcon(self._icon(outcome.category))
        item.setToolTip(outcome.title)
        item.setData(
            Qt.ItemDataRole.UserRole,
            Rerun(outcome.plan_id, outcome.user_id, outcome.profile),
        )
        self.list.insertItem(0, item)
        while self.list.count() > MAX_ROWS:
            self.list.takeItem(self.list.count() - 1)
        self.empty.setVisible(False)

    def changeEvent(self, event: QEvent) -> None:
        """Recolour the icons and the hint when the scheme changes."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._apply_colours()

    def _apply_colours(self) -> None:
        self.empty.setStyleSheet(f"color: {theme.muted_text(self).name()};")
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setIcon(self._icon(Category(item.data(CATEGORY_ROLE))))

    def _icon(self, category: Category) -> QIcon:
        tone = theme.category_tone(category, self)
        return icons.icon(icons.outcome_icon_name(category), tone.accent)

    def _on_list_current_row_changed(self, row: int) -> None:
        self.rerun_button.setEnabled(row >= 0)

    def _on_list_item_activated(self, item: QListWidgetItem) -> None:
        self.rerun_requested.emit(item.data(Qt.ItemDataRole.UserRole))

    def _on_rerun_button_clicked(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.rerun_requested.emit(item.data(Qt.ItemDataRole.UserRole))
