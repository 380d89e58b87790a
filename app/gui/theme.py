"""Colours of the GUI: the outcome palette for light and dark schemes."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from app.core.outcome import Category


@dataclass(frozen=True)
class Tone:
    """The colours of one kind of message.

    Attributes:
        accent: Icon, stripe and title colour (readable on ``background``).
        background: A soft fill behind the message.
        border: The outline of the message box.
    """

    accent: str
    background: str
    border: str


# Each tone is checked for at least 4.5:1 contrast of accent on background.
_LIGHT = {
    "green": Tone("#17693a", "#eaf6ee", "#b6dcc3"),
    "amber": Tone("#7a5200", "#fff5d6", "#ecd28a"),
    "orange": Tone("#9a4100", "#fff0e3", "#f0c6a2"),
    "red": Tone("#a8201a", "#fdeeed", "#efbcb8"),
    "neutral": Tone("#3d4a57", "#f1f3f5", "#d5dae0"),
    "info": Tone("#1f5c99", "#eaf2fb", "#b9d0ea"),
}
_DARK = {
    "green": Tone("#6fd69a", "#17301f", "#2f5c3f"),
    "amber": Tone("#f3c55a", "#34290f", "#6b5421"),
    "orange": Tone("#f7a26a", "#3a2414", "#6e4426"),
    "red": Tone("#f58a84", "#3a1c1b", "#6e3431"),
    "neutral": Tone("#c5ced8", "#262b31", "#414a54"),
    "info": Tone("#8cbdf0", "#182a3d", "#2f4d6e"),
}

TONE_NAMES = tuple(_LIGHT)
"""Every tone a result can take."""

CATEGORY_TONE = {
    Category.QUEUED: "green",
    Category.UNKNOWN: "amber",
    Category.REJECTED: "orange",
    Category.INVALID: "orange",
    Category.REDIRECTED: "orange",
    Category.RATE_LIMITED: "orange",
    Category.AUTH: "red",
    Category.GATEWAY: "red",
    Category.NETWORK: "red",
}

CATEGORY_LABEL = {
    Category.QUEUED: "Queued",
    Category.UNKNOWN: "Maybe queued",
    Category.REJECTED: "Rejected",
    Category.INVALID: "Invalid request",
    Category.REDIRECTED: "Redirected",
    Category.RATE_LIMITED: "Rate limited",
    Category.AUTH: "Not signed in",
    Category.GATEWAY: "Gateway error",
    Category.NETWORK: "Not sent",
}


def is_dark(widget: QWidget | None = None) -> bool:
    """Whether the dark colour scheme is in use."""
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    palette = widget.palette() if widget is not None else QApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def tone(name: str, widget: QWidget | None = None) -> Tone:
    """Return the tone called ``name`` for the scheme in use."""
    return (_DARK if is_dark(widget) else _LIGHT)[name]


def category_tone(category: Category, widget: QWidget | None = None) -> Tone:
    """Return the tone of an outcome category for the scheme in use."""
    return tone(CATEGORY_TONE[category], widget)


def muted_text(widget: QWidget) -> QColor:
    """Return a secondary text colour that stays readable."""
    palette = widget.palette()
    text = palette.color(QPalette.ColorRole.WindowText)
    window = palette.color(QPalette.ColorRole.Window)
    return QColor(
        round(text.red() * 0.62 + window.red() * 0.38),
        round(text.green() * 0.62 + window.green() * 0.38),
        round(text.blue() * 0.62 + window.blue() * 0.38),
    )


def glyph_colour(widget: QWidget | None = None) -> QColor:
    """Return the colour plain UI icons are drawn in."""
    palette = widget.palette() if widget is not None else QApplication.palette()
    return palette.color(QPalette.ColorRole.WindowText)


def dark_palette() -> QPalette:
    """Return a calm dark palette for the Fusion style."""
    palette = QPalette()
    window, base, text = QColor("#202327"), QColor("#17191c"), QColor("#e6e8eb")
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor("#24282d"),
        QPalette.ColorRole.ToolTipBase: QColor("#2b3036"),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor("#8a929b"),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#2a2e33"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor("#ff6b6b"),
        QPalette.ColorRole.Highlight: QColor("#3b82c4"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Link: QColor("#8cbdf0"),
        QPalette.ColorRole.Mid: QColor("#3a4047"),
        QPalette.ColorRole.Dark: QColor("#121416"),
        QPalette.ColorRole.Light: QColor("#3a4047"),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    disabled = QColor("#6c737b")
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_scheme(app: QApplication) -> None:
    """Use Fusion, following the platform's light or dark scheme."""
    app.setStyle("Fusion")
    if QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark:
        app.setPalette(dark_palette())
    else:
        app.setPalette(app.style().standardPalette())
