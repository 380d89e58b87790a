"""The result panel takes the colour of the outcome it shows."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtGui import QColor
from samples import sample_outcome

from app.core.outcome import Category, Outcome
from app.gui import theme
from app.gui.result_panel import ResultPanel


def outcome(category: Category) -> Outcome:
    return sample_outcome(datetime(2026, 12, 3, tzinfo=UTC), category=category)


def title_colour(panel: ResultPanel) -> str:
    panel.title.ensurePolished()
    return panel.title.palette().color(panel.title.foregroundRole()).name()


def test_each_outcome_colours_the_panel_with_its_tone(qtbot):
    panel = ResultPanel()
    qtbot.addWidget(panel)
    panel.show()
    for category in (Category.AUTH, Category.QUEUED, Category.UNKNOWN, Category.AUTH):
        panel.show_outcome(outcome(category))
        expected = theme.tone(theme.CATEGORY_TONE[category], panel).accent
        assert title_colour(panel) == QColor(expected).name(), category
    panel.show_busy(681, 1, "127.0.0.1", 0)
    assert title_colour(panel) == QColor(theme.tone("info", panel).accent).name()
