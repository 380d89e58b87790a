"""The result panel: what the gateway answered, and what to do next."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.outcome import MESSAGE_CHARS, Category, Outcome, cut, one_line
from app.gui import icons, theme
from app.gui.wrapped_label import WrappedLabel

MAYBE_QUEUED_WARNING = (
    "The plan may have been queued. Check the test system before running it "
    "again: running it now could queue it twice."
)


def _label(parent: QWidget, name: str, *, selectable: bool = True) -> QLabel:
    label = WrappedLabel(parent, selectable=selectable)
    label.setObjectName(name)
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label


def _emphasise(label: QLabel, scale: float = 1.0) -> None:
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)


def describe(what: str, id_: int, name: str | None) -> str:
    """Return ``Plan 681 “Smoke suite”`` or ``Plan 681``."""
    return f"{what} {id_} “{name}”" if name else f"{what} {id_}"


class ResultPanel(QFrame):
    """Shows the state of the last run: none yet, waiting, or its outcome.

    Signals:
        summary_copied(str): The summary was put on the clipboard.
        fix_requested(str): The user wants to fix the profile: ``"token"`` or
            ``"gateway"`` (the part of the settings to open).
    """

    summary_copied = Signal(str)
    fix_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultPanel")
        self.setAccessibleName("Result of the last run")
        self.outcome: Outcome | None = None
        self.state = "empty"
        self._tone = "neutral"
        self._icon = "status"
        self._styled = False
        self._glyphs: dict[tuple[str, str, float], QPixmap] = {}

        head = self._build_head()
        self.body = self._build_body()

        self._layout = layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(10)
        layout.addLayout(head)
        layout.addWidget(self.busy)
        layout.addWidget(self.body)

        self.show_empty()

    def _build_head(self) -> QHBoxLayout:
        self.glyph = QLabel(self)
        self.glyph.setFixedSize(36, 36)
        self.glyph.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.kicker = _label(self, "kicker", selectable=False)
        kicker_font = self.kicker.font()
        kicker_font.setBold(True)
        kicker_font.setPointSizeF(kicker_font.pointSizeF() * 0.85)
        kicker_font.setCapitalization(kicker_font.Capitalization.AllUppercase)
        kicker_font.setLetterSpacing(kicker_font.SpacingType.PercentageSpacing, 106)
        self.kicker.setFont(kicker_font)

        self.title = _label(self, "title")
        _emphasise(self.title, 1.45)
        self.title.setAccessibleName("Outcome")

        self.subject = _label(self, "subject")
        self.answer = _label(self, "answer")

        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setFixedHeight(6)
        self.busy.setAccessibleName("Waiting for the gateway")
        self.busy.setVisible(False)

        text_column = QVBoxLayout()
        text_column.setSpacing(4)
        text_column.addWidget(self.kicker)
        text_column.addWidget(self.title)
        text_column.addSpacing(2)
        text_column.addWidget(self.subject)
        text_column.addWidget(self.answer)

        head = QHBoxLayout()
        head.setSpacing(14)
        head.addWidget(self.glyph, 0, Qt.AlignmentFlag.AlignTop)
        head.addLayout(text_column, 1)
        return head

    def _build_body(self) -> QWidget:
        self.warning = _label(self, "maybeQueued")
        self.warning.setAccessibleName("Warning")
        _emphasise(self.warning)
        self.warning.setContentsMargins(10, 8, 10, 8)
        self.warning.setVisible(False)

        self.next_heading = _label(self, "nextHeading", selectable=False)
        self.next_heading.setText("What to do next")
        _emphasise(self.next_heading)
        self.advice = _label(self, "advice")
        self.advice.setAccessibleName("What to do next")

        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Details for support")
        self.details.setMinimumHeight(120)
        self.details.setVisible(False)
        mono = QGuiApplication.font()
        mono.setFamilies(["DejaVu Sans Mono", "Menlo", "Consolas", "monospace"])
        mono.setPointSizeF(mono.pointSizeF() * 0.92)
        self.details.setFont(mono)

        actions = self._build_actions()

        container = QWidget(self)
        body = QVBoxLayout(container)
        body.setContentsMargins(50, 0, 0, 0)
        body.setSpacing(6)
        body.addWidget(self.warning)
        body.addSpacing(4)
        body.addWidget(self.next_heading)
        body.addWidget(self.advice)
        body.addSpacing(6)
        body.addLayout(actions)
        body.addWidget(self.details)
        return container

    def _build_actions(self) -> QHBoxLayout:
        self.details_button = QToolButton(self)
        self.details_button.setText("Details for support")
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(
            Qt.ToolButtonStyle.ToolButtonTextBesideIcon
        )
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setAutoRaise(True)
        self.details_button.setAccessibleName("Details for support")
        self.details_button.toggled.connect(self._on_details_button_toggled)

        self.copy_button = QPushButton("Cop&y summary", self)
        self.copy_button.setAccessibleName("Copy summary")
        self.copy_button.setToolTip("Copy a plain-text summary for a chat or a ticket")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)

        self.fix_button = QPushButton(self)
        self.fix_button.setVisible(False)
        self.fix_button.clicked.connect(self._on_fix_button_clicked)
        self._fix = ""

        actions = QHBoxLayout()
        actions.setSpacing(8)
        actions.addWidget(self.details_button)
        actions.addStretch(1)
        actions.addWidget(self.fix_button)
        actions.addWidget(self.copy_button)
        return actions

    # States ---------------------------------------------------------------

    def show_empty(self) -> None:
        """Show that nothing was run yet."""
        self.state = "empty"
        self.outcome = None
        with self._changing():
            self.answer.setVisible(False)
            self.busy.setVisible(False)
            self.body.setVisible(False)
            self._set_tone("neutral", "run")
            self.kicker.setText("Ready")
            self.title.setText("No run yet")
            self.subject.setText(
                "Pick an environment, a plan and a user, then press Run (Ctrl+Enter)."
            )

    def show_busy(self, plan_id: int, user_id: int, host: str, elapsed: int) -> None:
        """Show that a run is waiting for the gateway's answer."""
        self.state = "busy"
        with self._changing():
            self.body.setVisible(False)
            self._set_tone("info", "status")
            self.kicker.setText("Waiting for the gateway")
            self.title.setText(f"Sending plan {plan_id} for user {user_id}…")
            self.set_elapsed(host, elapsed)
            self.answer.setText(
                "A sent run cannot be taken back, so there is nothing to cancel: "
                "the answer will show here as soon as it comes."
            )
            self.answer.setVisible(True)
            self.busy.setVisible(True)

    def set_elapsed(self, host: str, elapsed: int) -> None:
        """Update the waiting time shown."""
        self.subject.setText(f"To {host} · {elapsed} s")

    def show_not_sent(
        self, title: str, message: str, kicker: str = "Nothing was sent"
    ) -> None:
        """Show why a run was not sent (setup problems, refusals)."""
        self.state = "not_sent"
        self.outcome = None
        with self._changing():
            self.answer.setVisible(False)
            self.busy.setVisible(False)
            self.body.setVisible(False)
            self._set_tone("red", "warning")
            self.kicker.setText(kicker)
            self.title.setText(title)
            self.subject.setText(message)

    def show_outcome(
        self,
        outcome: Outcome,
        *,
        plan_name: str | None = None,
        user_name: str | None = None,
        history_problem: str | None = None,
    ) -> None:
        """Show an outcome: title, facts, advice and details for support."""
        self.state = "outcome"
        self.outcome = outcome
        category = outcome.category
        maybe = category is Category.UNKNOWN
        advice = outcome.advice
        if history_problem:
            advice = f"{advice}\n\n{history_problem}"
        where = f"  ·  {outcome.profile}" if outcome.profile else ""
        with self._changing():
            self.busy.setVisible(False)
            self._set_tone(
                theme.CATEGORY_TONE[category], icons.outcome_icon_name(category)
            )
            self.kicker.setText(theme.CATEGORY_LABEL[category])
            self.title.setText(outcome.title)
            self.subject.setText(
                f"{describe('Plan', outcome.plan_id, plan_name)}  ·  "
                f"{describe('User', outcome.user_id, user_name)}{where}"
            )
            self.answer.setText(_answer_line(outcome))
            self.warning.setText(MAYBE_QUEUED_WARNING if maybe else "")
            if maybe:
                self._tone_warning()
            self.warning.setVisible(maybe)
            self.advice.setText(advice)
            self.details.setPlainText(_details(outcome))
            self._offer_fix(outcome)
            self.answer.setVisible(True)
            self.body.setVisible(True)

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Change what the panel shows, then lay it out once, at its new size.

        A new state changes the panel's height. Showing a widget makes Qt lay
        out its parents at once, from the panel up, each at the size it has:
        the labels are first stretched or squeezed into the panel's old height,
        then laid out again once the panel has its new one, and the window may
        paint in between. With the panel's layout off during the change, the
        panel is first given its new height by the layout holding it, then its
        content is laid out once.
        """
        self._layout.setEnabled(False)
        try:
            yield
        finally:
            self._layout.setEnabled(True)
            self.updateGeometry()
            holder = self.parentWidget()
            if holder is not None and holder.isVisible():
                holder_layout = holder.layout()
                if holder_layout is not None:
                    holder_layout.activate()
            self._layout.activate()

    def _offer_fix(self, outcome: Outcome) -> None:
        fix, text = "", ""
        if outcome.category is Category.AUTH:
            fix, text = "token", "Set to&ken…"
        elif outcome.category is Category.REDIRECTED or (
            outcome.category is Category.INVALID and outcome.http_status in (404, 405)
        ):
            fix, text = "gateway", "Check the gate&way URL…"
        self._fix = fix
        self.fix_button.setText(text)
        self.fix_button.setAccessibleName(text.replace("&", "").rstrip("…"))
        self.fix_button.setVisible(bool(fix) and outcome.profile is not None)

    # Reading it back (tests, accessibility) --------------------------------

    @property
    def category(self) -> Category | None:
        """The category shown, if an outcome is shown."""
        return self.outcome.category if self.outcome else None

    def title_text(self) -> str:
        """Return the title shown."""
        return self.title.text()

    # Slots ----------------------------------------------------------------

    def _on_details_button_toggled(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )

    def _on_fix_button_clicked(self) -> None:
        if self._fix:
            self.fix_requested.emit(self._fix)

    def _on_copy_button_clicked(self) -> None:
        if self.outcome is None:
            return
        summary = self.outcome.summary()
        QGuiApplication.clipboard().setText(summary)
        self.copy_button.setText("Copied")
        self.summary_copied.emit(summary)

    # Looks ----------------------------------------------------------------

    def _set_tone(self, tone_name: str, icon_name: str) -> None:
        self.copy_button.setText("Cop&y summary")
        if (tone_name, icon_name) == (self._tone, self._icon) and self._styled:
            return
        self._tone = tone_name
        self._icon = icon_name
        if self._styled:
            self._apply_tone()
        else:
            self.restyle()

    def restyle(self) -> None:
        """Build the style sheet of every tone (also after a scheme change).

        The sheet is set once per scheme. A run switches the ``tone`` property
        of the panel, which restyles the panel alone rather than everything in
        it, and sets the colour of the kicker and the title in their palettes,
        which restyles nothing.
        """
        muted = theme.muted_text(self).name()
        rules = [
            "QFrame#resultPanel QLabel { background: transparent; border: none; }",
            f"QLabel#answer {{ color: {muted}; }}",
        ]
        for name in theme.TONE_NAMES:
            tone = theme.tone(name, self)
            rules += [
                f'QFrame#resultPanel[tone="{name}"] {{ background: {tone.background}; '
                f"border: 1px solid {tone.border}; "
                f"border-left: 5px solid {tone.accent}; border-radius: 8px; }}",
                f'QFrame#resultPanel QLabel#maybeQueued[tone="{name}"] '
                f"{{ background: {tone.accent}; color: {tone.background}; "
                "border-radius: 5px; }",
            ]
        self.setStyleSheet("\n".join(rules))
        self._glyphs.clear()
        self._apply_tone()

    def _apply_tone(self) -> None:
        self._styled = True
        _switch_tone(self, self._tone)
        accent = QColor(theme.tone(self._tone, self).accent)
        for label in (self.kicker, self.title):
            palette = label.palette()
            palette.setColor(QPalette.ColorRole.WindowText, accent)
            label.setPalette(palette)
        self.glyph.setPixmap(self._glyph(self._icon, accent))

    def _tone_warning(self) -> None:
        # Only the maybe-queued outcome shows the warning: it is restyled when
        # shown, not at every change of tone.
        if self.warning.property("tone") != self._tone:
            _switch_tone(self.warning, self._tone)

    def _glyph(self, name: str, colour: QColor) -> QPixmap:
        key = (name, colour.name(), self.devicePixelRatioF())
        glyph = self._glyphs.get(key)
        if glyph is None:
            glyph = icons.pixmap(name, 32, colour, key[2])
            self._glyphs[key] = glyph
        return glyph


def _switch_tone(widget: QWidget, tone: str) -> None:
    """Set ``widget``'s ``tone`` property and restyle it for the new value."""
    widget.setProperty("tone", tone)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _answer_line(outcome: Outcome) -> str:
    parts = [
        "no answer" if outcome.http_status is None else f"HTTP {outcome.http_status}"
    ]
    if outcome.code is not None:
        parts.append(f"code {outcome.code}")
    if outcome.message:
        # One line here; the details show the message as the outcome keeps it.
        parts.append(f"“{one_line(outcome.message)}”")
    parts.append(f"{outcome.duration_ms} ms")
    return "Gateway answer: " + " · ".join(parts)


def _details(outcome: Outcome) -> str:
    lines = [
        outcome.support,
        "",
        f"outcome: {outcome.category.value} "
        f"(may be queued: {outcome.category.may_be_queued})",
        f"gateway: {outcome.gateway_url}",
        f"profile: {outcome.profile or '(none)'}",
        f"plan: {outcome.plan_id}",
        f"user: {outcome.user_id}",
        f"started: {outcome.started_at.isoformat(timespec='seconds')}",
        f"duration: {outcome.duration_ms} ms",
    ]
    if outcome.message:
        # Cut again in case the outcome was not decoded (cutting is idempotent).
        lines.append(f"message: {cut(outcome.message, MESSAGE_CHARS)}")
    lines.extend(f"{key}: {value}" for key, value in outcome.facts.items())
    return "\n".join(lines)
