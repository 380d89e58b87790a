"""Selectable word-wrapped labels measure their text without repainting."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.gui.wrapped_label import WrappedLabel

SHORT = "Plan 681 was queued"
LONG = "The gateway did not answer within 30 s, so the plan may have been queued. " * 3


class Paints(QObject):
    """Counts the paint events a widget gets."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def shown(qtbot: Any, label: QLabel) -> QWidget:
    holder = QWidget()
    QVBoxLayout(holder).addWidget(label)
    qtbot.addWidget(holder)
    holder.resize(500, 200)
    holder.show()
    qtbot.waitExposed(holder)
    return holder


def reference(text: str, font: Any) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setFont(font)
    return label


def test_measuring_the_text_at_other_widths_does_not_repaint_the_label(qtbot):
    label = WrappedLabel()
    label.setText(LONG)
    holder = shown(qtbot, label)
    qtbot.wait(20)
    paints = Paints(label)

    for width in (120, 333, 640):
        label.heightForWidth(width)
    qtbot.wait(20)

    assert paints.count == 0
    assert holder.isVisible()


def test_a_resized_label_is_painted_once(qtbot):
    label = WrappedLabel()
    label.setText(LONG)
    holder = shown(qtbot, label)
    qtbot.wait(20)
    paints = Paints(label)

    holder.resize(420, 200)
    qtbot.waitUntil(lambda: paints.count > 0, timeout=1000)
    qtbot.wait(20)

    assert paints.count == 1


def test_the_measures_follow_the_text_and_the_font(qtbot):
    label = WrappedLabel()
    holder = shown(qtbot, label)
    for text in (SHORT, LONG, SHORT, LONG):
        label.setText(text)
        expected = reference(text, label.font())
        assert label.sizeHint() == expected.sizeHint(), text
        assert label.minimumSizeHint() == expected.minimumSizeHint(), text
        for width in (90, 300, 480):
            assert label.heightForWidth(width) == expected.heightForWidth(width)

    label.setText(SHORT)
    small = label.heightForWidth(300)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    label.setFont(font)
    assert label.heightForWidth(300) == reference(SHORT, font).heightForWidth(300)
    assert label.heightForWidth(300) > small
    assert holder.isVisible()
