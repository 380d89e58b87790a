"""The result panel takes the colour of the outcome it shows, and stays in bounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget
from samples import sample_outcome

from app.core.exchange import Answer, Exchange
from app.core.outcome import MESSAGE_CHARS, Category, Outcome, RunContext, decode
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


class Events(QObject):
    """Counts the events of some types a widget gets."""

    def __init__(self, widget: QWidget, *types: QEvent.Type) -> None:
        super().__init__(widget)
        self.types = types
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in self.types:
            self.count += 1
        return False


def panel_in_a_column(qtbot: Any) -> tuple[QWidget, ResultPanel]:
    # As in the window: the panel above a stretch, in a column that lays it out.
    column = QWidget()
    layout = QVBoxLayout(column)
    panel = ResultPanel(column)
    layout.addWidget(panel)
    layout.addStretch(1)
    qtbot.addWidget(column)
    column.resize(900, 600)
    column.show()
    qtbot.waitExposed(column)
    return column, panel


def test_a_new_state_lays_out_the_labels_once_at_the_panels_new_height(qtbot):
    column, panel = panel_in_a_column(qtbot)
    panel.show_outcome(outcome(Category.QUEUED))
    qtbot.wait(20)
    resized = Events(panel.title, QEvent.Type.Resize)

    for _ in range(2):
        panel.show_busy(681, 1, "127.0.0.1", 0)
        qtbot.wait(20)
        panel.show_outcome(outcome(Category.QUEUED))
        qtbot.wait(20)

    # The title keeps its one line: it is never stretched into the panel's old
    # height, nor squeezed, on the way.
    assert resized.count == 0
    assert column.isVisible()


def test_the_maybe_queued_warning_takes_the_colours_of_its_tone(qtbot):
    panel = ResultPanel()
    qtbot.addWidget(panel)
    panel.show()
    for category in (
        Category.QUEUED,
        Category.UNKNOWN,
        Category.AUTH,
        Category.UNKNOWN,
    ):
        panel.show_outcome(outcome(category))

    warning = panel.warning
    warning.ensurePolished()
    assert warning.isVisible()
    text = warning.palette().color(warning.foregroundRole()).name()
    assert text == QColor(theme.tone("amber", panel).background).name()


HUGE = 2_000_000
NARROW_WINDOW = 600


def rejected_with(message: str) -> Outcome:
    body = json.dumps({"data": None, "result": {"code": 12345, "message": message}})
    context = RunContext(
        plan_id=681,
        user_id=1,
        queue_url="http://127.0.0.1:1/queue",
        host="127.0.0.1",
        profile="demo",
        started_at=datetime(2026, 12, 3, tzinfo=UTC),
    )
    answer = Answer(200, {"content-type": "application/json"}, body.encode())
    return decode(Exchange(answer, None, 1, 5), context)


@pytest.mark.parametrize(
    "message", ["gateway words " * (HUGE // 14), "x" * HUGE], ids=["words", "one word"]
)
def test_a_huge_message_shows_as_one_short_line_and_a_cut_detail(qtbot, message):
    column, panel = panel_in_a_column(qtbot)

    panel.show_outcome(rejected_with(message))
    panel.details_button.setChecked(True)
    qtbot.wait(20)

    assert len(panel.answer.text()) < 400
    assert len(panel.advice.text()) < 800
    details = panel.details.toPlainText()
    assert len(details) < MESSAGE_CHARS + 3000
    assert "message: " + message[:100] in details
    assert "more characters)" in details
    # One unbroken run of characters does not stretch the window off the screen.
    assert panel.minimumSizeHint().width() < NARROW_WINDOW
    assert column.width() == 900


def test_the_panel_cuts_a_message_that_was_not_decoded(qtbot):
    panel = ResultPanel()
    qtbot.addWidget(panel)
    huge = sample_outcome(
        datetime(2026, 12, 3, tzinfo=UTC),
        category=Category.REJECTED,
        message="y" * HUGE,
    )

    panel.show_outcome(huge)

    assert len(panel.answer.text()) < 400
    assert len(panel.details.toPlainText()) < MESSAGE_CHARS + 1000


def test_a_long_url_is_shown_and_copied_as_it_is_without_widening_the_panel(qtbot):
    column, panel = panel_in_a_column(qtbot)
    url = "https://gw.example.test/" + "segment" * 60
    title = f"Nothing answers at {url} (HTTP 404)"

    panel.show_outcome(
        sample_outcome(
            datetime(2026, 12, 3, tzinfo=UTC), category=Category.INVALID, title=title
        )
    )
    qtbot.wait(20)

    # Selected and copied, the text is what was said: nothing invisible in it.
    panel.title.setSelection(0, len(title))
    assert panel.title.selectedText() == title
    assert panel.title_text() == title
    assert panel.minimumSizeHint().width() < NARROW_WINDOW
    assert column.width() == 900
