"""A word-wrapped label whose text can be selected, measured once per text.

A QLabel with selectable text lays its text out in a text document, and
measuring it is costly: a size hint lays the document out four times or so, a
height for a width twice more, and each of those layouts repaints the label and
whatever shows through behind it. Layouts ask whenever the label's text changes
and whenever anything near it changes size, and a result panel shows the same
few texts run after run.

:class:`WrappedLabel` remembers the measures of its recent texts, and measures
a new one with the document's repaint requests held back: the document ends up
laid out as it was, so there is nothing to repaint.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget
from shiboken6 import Shiboken

REMEMBERED_TEXTS = 8
"""How many recent texts a label keeps the measures of."""

WIDEST_MINIMUM = 320
"""The widest minimum width a label asks for, in pixels.

A word-wrapped label cannot be narrower than its longest word, so one long run
of characters (a URL, a mangled token, a row of x's from a gateway) would widen
the window past the screen. Past this width the rest of such a word is clipped
instead; ordinary words are far narrower, and the text is left as it is, so
what is selected and copied is what was said."""

REMEMBERED_WIDTHS = 16
"""How many widths a text keeps its height for (a window being resized asks
for many; only the latest few matter)."""

TEXT_CONTROL_CLASS = "QWidgetTextControl"
"""The class of the object through which QLabel shows selectable text."""

_LOOKS = (
    QEvent.Type.FontChange,
    QEvent.Type.ApplicationFontChange,
    QEvent.Type.StyleChange,
    QEvent.Type.ContentsRectChange,
)

_T = TypeVar("_T")


@dataclass
class _Measures:
    """What layouts were told about one text."""

    size_hint: QSize | None = None
    minimum_size_hint: QSize | None = None
    heights: dict[int, int] = field(default_factory=dict)


class WrappedLabel(QLabel):
    """A plain-text, word-wrapped label; its text selectable by mouse if asked."""

    def __init__(
        self, parent: QWidget | None = None, *, selectable: bool = True
    ) -> None:
        super().__init__(parent)
        self._measures: OrderedDict[str, _Measures] = OrderedDict()
        self._control: QObject | None = None
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        if selectable:
            self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def sizeHint(self) -> QSize:
        """Return the size the text would like, measured once per text."""
        measures = self._measures_of_text()
        if measures.size_hint is None:
            measures.size_hint = self._quietly(super().sizeHint)
        return QSize(measures.size_hint)

    def minimumSizeHint(self) -> QSize:
        """Return the smallest size that shows the text, measured once per text.

        At most :data:`WIDEST_MINIMUM` wide.
        """
        measures = self._measures_of_text()
        if measures.minimum_size_hint is None:
            hint = self._quietly(super().minimumSizeHint)
            hint.setWidth(min(hint.width(), WIDEST_MINIMUM))
            measures.minimum_size_hint = hint
        return QSize(measures.minimum_size_hint)

    def heightForWidth(self, width: int) -> int:
        """Return the height the text needs at ``width``, measured once."""
        heights = self._measures_of_text().heights
        height = heights.get(width)
        if height is None:
            if len(heights) >= REMEMBERED_WIDTHS:
                heights.clear()
            height = self._quietly(partial(super().heightForWidth, width))
            heights[width] = height
        return height

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Lay the text out for the new size now rather than while painting.

        Laid out during a paint, selectable text asks for a second paint.
        """
        super().resizeEvent(event)
        if self.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse:
            self._quietly(partial(super().heightForWidth, self.width()))

    def changeEvent(self, event: QEvent) -> None:
        """Measure again after a change of font, style or margins."""
        if event.type() in _LOOKS:
            self._measures.clear()
        super().changeEvent(event)

    def _measures_of_text(self) -> _Measures:
        text = self.text()
        measures = self._measures.get(text)
        if measures is None:
            measures = self._measures[text] = _Measures()
            if len(self._measures) > REMEMBERED_TEXTS:
                self._measures.popitem(last=False)
        else:
            self._measures.move_to_end(text)
        return measures

    def _quietly(self, measure: Callable[[], _T]) -> _T:
        # QLabel lays the text out at the width it measures, and back at its
        # own: the text shown is as it was, so its repaint requests are held
        # back.
        control = self._text_control()
        was_blocked = control.blockSignals(True) if control is not None else False
        try:
            return measure()
        finally:
            if control is not None:
                control.blockSignals(was_blocked)

    def _text_control(self) -> QObject | None:
        # Qt's own child object; a label showing text that cannot be selected
        # has none.
        if self._control is not None and Shiboken.isValid(self._control):
            return self._control
        self._control = next(
            (
                child
                for child in self.children()
                if child.metaObject().className() == TEXT_CONTROL_CLASS
            ),
            None,
        )
        return self._control
