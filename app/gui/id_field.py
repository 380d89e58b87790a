"""The ID field: a plan or user ID, typed or picked by name, checked as typed.

IDs are Java ``Long`` values (1 .. 2^63-1), beyond what Qt's integer spin boxes
and validators hold, so the field is text checked by the core's
:func:`~app.core.contract.id_problem`, never a number widget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.contract import id_problem, parse_id
from app.core.errors import InputError
from app.gui import theme

SEPARATOR = " — "
# What the drop-down list shows: "★ 681 — Smoke suite" or "42  (recent)".
_PICKED = re.compile(r"^\s*(?:★\s*)?([0-9]+)(?:\s+—\s+.*|\s+\(recent\))$")
MAX_TEXT = 200


@dataclass(frozen=True)
class Choice:
    """A plan or user the field offers.

    Attributes:
        id: The ID.
        name: The name from the profile's catalogue ("" when none).
        favourite: Listed first.
        recent: Used recently (from the history or this session).
    """

    id: int
    name: str = ""
    favourite: bool = False
    recent: bool = False

    @property
    def label(self) -> str:
        """The text shown in the drop-down list."""
        star = "★ " if self.favourite else ""
        name = f"{SEPARATOR}{self.name}" if self.name else ""
        recent = "  (recent)" if self.recent and not self.name else ""
        return f"{star}{self.id}{name}{recent}"


def order_choices(choices: Iterable[Choice]) -> list[Choice]:
    """Return choices without duplicate IDs: favourites, named, then recent."""
    seen: set[int] = set()
    unique = []
    for choice in choices:
        if choice.id not in seen:
            seen.add(choice.id)
            unique.append(choice)
    return sorted(
        unique,
        key=lambda c: (not c.favourite, not c.name, c.name.lower() if c.name else ""),
    )


class IdField(QWidget):
    """An editable ID picker with its message underneath.

    Args:
        what: ``"plan"`` or ``"user"``, for messages.
        optional: An empty field is valid (its value is None).

    Signals:
        value_changed(object): The ID now typed (an int), or None when invalid.
    """

    value_changed = Signal(object)

    def __init__(
        self, what: str, parent: QWidget | None = None, *, optional: bool = False
    ) -> None:
        super().__init__(parent)
        self.what = what
        self.optional = optional
        self._choices: list[Choice] = []
        self._value: int | None = None
        self._problem: str | None = None
        self._name = ""
        # An empty field says "Enter a … ID" only once someone has typed in it.
        self._touched = False

        self.combo = QComboBox(self)
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setMaxVisibleItems(14)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.combo.setMinimumContentsLength(18)
        self.combo.setAccessibleName(f"{what.capitalize()} ID or name")
        line = self.combo.lineEdit()
        line.setMaxLength(MAX_TEXT)
        line.setPlaceholderText(f"{what.capitalize()} ID, or a name from your list")
        line.setClearButtonEnabled(True)

        completer = QCompleter(self.combo.model(), self.combo)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.combo.setCompleter(completer)

        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.message.setAccessibleName(f"{what.capitalize()} ID message")
        font = self.message.font()
        font.setPointSizeF(font.pointSizeF() * 0.92)
        self.message.setFont(font)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.combo)
        layout.addWidget(self.message)

        self.combo.editTextChanged.connect(self._on_combo_edit_text_changed)
        line.textEdited.connect(self._on_line_text_edited)
        self.combo.activated.connect(self._on_combo_activated)
        completer.activated.connect(self._on_completer_activated)
        self._check(self.combo.currentText())

    # The public face -----------------------------------------------------

    def value(self) -> int | None:
        """Return the ID typed or picked, or None while the text is not one."""
        return self._value

    def problem(self) -> str | None:
        """Return what is wrong with the text, or None."""
        return self._problem

    def is_valid(self) -> bool:
        """Whether the text is an ID (or empty, when the field is optional)."""
        return self._problem is None

    def name(self) -> str:
        """Return the catalogue name of the current ID ("" when it has none)."""
        return self._name

    def text(self) -> str:
        """Return the text as typed."""
        return self.combo.currentText()

    def set_text(self, text: str) -> None:
        """Replace the text, as if typed."""
        self._touched = True
        self.combo.setEditText(text)
        self._show_message()

    def set_value(self, value: int | None) -> None:
        """Show ``value`` (or nothing)."""
        self.combo.setEditText("" if value is None else str(value))

    def choices(self) -> list[Choice]:
        """Return the choices offered, in their order."""
        return list(self._choices)

    def set_choices(self, choices: Iterable[Choice]) -> None:
        """Offer ``choices`` in the drop-down list; the text stays as it is."""
        ordered = order_choices(choices)
        if ordered == self._choices and self.combo.count() == len(ordered):
            # The window offers the choices again after every run, mostly the
            # same: refilling the list would repaint the field for nothing.
            return
        text = self.combo.currentText()
        self._choices = ordered
        self.combo.blockSignals(True)
        self.combo.clear()
        for choice in self._choices:
            self.combo.addItem(choice.label, str(choice.id))
        self.combo.setCurrentIndex(-1)
        self.combo.setEditText(text)
        self.combo.blockSignals(False)
        self._check(text)

    def setFocus(self) -> None:
        """Focus the text."""
        self.combo.setFocus()

    # Checking ------------------------------------------------------------

    def resolve(self, text: str) -> tuple[int | None, str | None]:
        """Return the ID ``text`` means, or None and why it means none."""
        cleaned = text.strip()
        if not cleaned and self.optional:
            return None, None
        picked = _PICKED.match(cleaned)
        if picked:
            cleaned = picked.group(1)
        if cleaned.isascii() and cleaned.isdigit():
            problem = id_problem(cleaned, self.what)
            return (None, problem) if problem else (parse_id(cleaned, self.what), None)
        named = [c for c in self._choices if c.name and _same(c.name, cleaned)]
        ids = {c.id for c in named}
        if len(ids) == 1:
            return named[0].id, None
        if len(ids) > 1:
            return None, (
                f"Several {self.what}s in your list are called {cleaned!r}: "
                "type the ID."
            )
        try:
            parse_id(cleaned, self.what)
        except InputError as error:
            message = str(error)
        else:  # pragma: no cover - digits were handled above
            message = ""
        if cleaned and any(c.name for c in self._choices):
            message += f" No {self.what} in your list has that name either."
        return None, message

    def _check(self, text: str) -> None:
        value, problem = self.resolve(text)
        self._value, self._problem = value, problem
        self._name = next(
            (c.name for c in self._choices if c.id == value and c.name), ""
        )
        self._show_message()
        self.value_changed.emit(value)

    def _show_message(self) -> None:
        quiet = not self._touched and not self.combo.currentText().strip()
        if self._problem and quiet:
            self.message.setText("")
            colour = theme.muted_text(self).name()
        elif self._problem:
            colour = theme.tone("red", self).accent
            self.message.setText(self._problem)
            self.combo.setProperty("invalid", True)
        else:
            colour = theme.muted_text(self).name()
            typed = self.combo.currentText().strip()
            shows_id = typed.isdigit()
            if self._name and shows_id:
                self.message.setText(self._name)
            elif self._name:
                self.message.setText(f"{self.what.capitalize()} {self._value}")
            else:
                self.message.setText("")
            self.combo.setProperty("invalid", False)
        sheet = f"color: {colour};"
        if self.message.styleSheet() != sheet:
            self.message.setStyleSheet(sheet)
        self.message.setVisible(bool(self.message.text()))
        self.combo.setAccessibleDescription(self.message.text())

    # Slots ---------------------------------------------------------------

    def _on_combo_edit_text_changed(self, text: str) -> None:
        self._check(text)

    def _on_line_text_edited(self, _text: str) -> None:
        if not self._touched:
            self._touched = True
            self._show_message()

    def _on_combo_activated(self, index: int) -> None:
        if 0 <= index < len(self._choices):
            self.combo.setEditText(str(self._choices[index].id))

    def _on_completer_activated(self, text: str) -> None:
        picked = _PICKED.match(text)
        if picked:
            # The completer writes its text after this signal; replace it after.
            digits = picked.group(1)
            QTimer.singleShot(0, self, lambda: self.combo.setEditText(digits))


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
