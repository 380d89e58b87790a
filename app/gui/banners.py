"""Banners: problems the user should know about before pressing Run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.gui import icons, theme
from app.gui.wrapped_label import WrappedLabel


@dataclass(frozen=True)
class BannerSpec:
    """One banner.

    Attributes:
        key: Tells banners apart (``keyring``, ``token``, ``plain_http``, …).
        tone: ``red``, ``amber``, ``info`` or another :mod:`theme` tone.
        text: What is wrong and what to do, in one or two sentences.
        action_text: The label of the action button, if there is one.
        action: What the button does.
    """

    key: str
    tone: str
    text: str
    action_text: str | None = None
    action: Callable[[], None] | None = None


class Banner(QFrame):
    """A tinted strip with an icon, a message and an optional action."""

    def __init__(self, spec: BannerSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setObjectName("banner")
        self.setAccessibleName(f"Notice: {spec.text}")
        tone = theme.tone(spec.tone, self)
        self.setStyleSheet(
            f"QFrame#banner {{ background: {tone.background}; "
            f"border: 1px solid {tone.border}; border-radius: 6px; }}"
            f"QFrame#banner QLabel {{ background: transparent; border: none; }}"
        )
        glyph = QLabel(self)
        name = "lock" if spec.key == "keyring" else "warning"
        glyph.setPixmap(icons.pixmap(name, 18, tone.accent, self.devicePixelRatioF()))
        glyph.setAlignment(Qt.AlignmentFlag.AlignTop)
        glyph.setContentsMargins(0, 1, 0, 0)

        self.label = WrappedLabel(self)
        self.label.setText(spec.text)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(glyph, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        self.button: QPushButton | None = None
        if spec.action_text and spec.action is not None:
            self.button = QPushButton(spec.action_text, self)
            self.button.setAccessibleName(spec.action_text.rstrip("…."))
            self.button.clicked.connect(spec.action)
            layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignVCenter)


class BannerArea(QWidget):
    """The stack of banners above the form; hidden when there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._banners: list[Banner] = []
        self._specs: tuple[BannerSpec, ...] = ()
        self.setVisible(False)

    def set_banners(self, specs: Sequence[BannerSpec]) -> None:
        """Show exactly ``specs``, in order."""
        shown = tuple((s.key, s.tone, s.text, s.action_text) for s in specs)
        if shown == tuple((s.key, s.tone, s.text, s.action_text) for s in self._specs):
            return
        for banner in self._banners:
            self._layout.removeWidget(banner)
            banner.deleteLater()
        self._banners = [Banner(spec, self) for spec in specs]
        for banner in self._banners:
            self._layout.addWidget(banner)
        self._specs = tuple(specs)
        self.setVisible(bool(specs))

    def shown_keys(self) -> list[str]:
        """Return the keys of the banners shown."""
        return [banner.spec.key for banner in self._banners]

    def banner(self, key: str) -> Banner | None:
        """Return the banner with ``key``, if shown."""
        return next((b for b in self._banners if b.spec.key == key), None)
