"""The one resource loader: icons from the SVG files shipped in ``app.resources``.

The glyph icons are drawn in ``#444444``; they are recoloured by replacing that
colour before rendering, so the same file serves light and dark schemes and
every outcome colour.
"""

from __future__ import annotations

import functools
import importlib.resources

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app.core.outcome import Category

PACKAGE = "app.resources"
GLYPH_COLOUR = "#444444"
APP_ICON = "plan-runner"
UI_ICONS = ("run", "history", "settings", "copy", "status", "lock", "warning")
ICON_SIZES = (16, 20, 24, 32, 48)


def outcome_icon_name(category: Category) -> str:
    """Return the resource name of the icon of an outcome category."""
    return f"outcome-{category.value}"


def all_icon_names() -> list[str]:
    """Return every icon the app uses."""
    return [APP_ICON, *UI_ICONS, *(outcome_icon_name(c) for c in Category)]


@functools.cache
def svg_text(name: str) -> str:
    """Return the SVG source of icon ``name``.

    Raises:
        FileNotFoundError: There is no such icon in the resources.
    """
    resource = importlib.resources.files(PACKAGE).joinpath(f"{name}.svg")
    return resource.read_text(encoding="utf-8")


def renderer(name: str, colour: QColor | str | None = None) -> QSvgRenderer:
    """Return a renderer of icon ``name``, its glyph drawn in ``colour``."""
    text = svg_text(name)
    if colour is not None:
        text = text.replace(GLYPH_COLOUR, QColor(colour).name())
    return QSvgRenderer(QByteArray(text.encode("utf-8")))


def pixmap(
    name: str,
    size: int,
    colour: QColor | str | None = None,
    device_pixel_ratio: float = 1.0,
) -> QPixmap:
    """Render icon ``name`` into a square pixmap of ``size`` logical pixels."""
    svg = renderer(name, colour)
    physical = max(1, round(size * device_pixel_ratio))
    image = QPixmap(physical, physical)
    image.fill(Qt.GlobalColor.transparent)
    if svg.isValid():
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        svg.render(painter, QRectF(0, 0, physical, physical))
        painter.end()
    image.setDevicePixelRatio(device_pixel_ratio)
    return image


def icon(name: str, colour: QColor | str | None = None) -> QIcon:
    """Return icon ``name`` at the usual sizes, its glyph drawn in ``colour``.

    Each icon is rendered once per colour and then shared (a QIcon is a
    cheap, implicitly shared handle): the recent runs and the history ask for
    the same few outcome icons again and again, on the GUI thread. The app
    uses about 30 (icon, colour) pairs over both schemes; the cache keeps 64,
    about 180 KB each.
    """
    return _icon(name, None if colour is None else QColor(colour).name(_HEX_ARGB))


_HEX_ARGB = QColor.NameFormat.HexArgb


@functools.lru_cache(maxsize=64)
def _icon(name: str, colour: str | None) -> QIcon:
    result = QIcon()
    for size in ICON_SIZES:
        for ratio in (1.0, 2.0):
            result.addPixmap(pixmap(name, size, colour, ratio))
    return result


def swatch(colour: QColor | str | None, size: QSize | None = None) -> QIcon:
    """Return a small rounded colour swatch (for profile pickers)."""
    side = size or QSize(14, 14)
    image = QPixmap(side.width() * 2, side.height() * 2)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    fill = QColor(colour) if colour else QColor(0, 0, 0, 0)
    painter.setBrush(fill)
    painter.setPen(QColor(0, 0, 0, 70) if colour else QColor(128, 128, 128))
    painter.drawRoundedRect(QRectF(1, 1, image.width() - 2, image.height() - 2), 6, 6)
    painter.end()
    image.setDevicePixelRatio(2.0)
    return QIcon(image)


def check_icons() -> list[str]:
    """Render every icon once; return what failed, for the self-check."""
    problems = []
    for name in all_icon_names():
        try:
            svg = renderer(name, "#000000")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{name}.svg cannot be read: {error}")
            continue
        if not svg.isValid():
            problems.append(f"{name}.svg is not a valid SVG image")
            continue
        image = pixmap(name, 32, "#000000").toImage()
        if image.isNull() or not _has_ink(image):
            problems.append(f"{name}.svg rendered as an empty image")
    return problems


def _has_ink(image: QImage) -> bool:
    width, height = image.width(), image.height()
    return any(
        image.pixelColor(x, y).alpha() > 0
        for y in range(0, height, 2)
        for x in range(0, width, 2)
    )
