"""The status panel: a profile's facts, the connectivity doctor, bundles and curl.

Support staff open it to see, without the token ever showing, what a profile is
set up with, to check step by step whether the gateway can be reached, to save
a redacted diagnostic bundle, and to copy a run as a curl command. Every check
runs off the GUI thread through the app's task helper.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core import diagnostics
from app.core.diagnostics import DoctorStep, QueueCall, Verdict
from app.core.errors import InputError, PlanRunnerError, SetupError
from app.core.paths import AppPaths
from app.core.redact import Redactor
from app.core.urls import GatewayUrl
from app.core.workspace import Workspace
from app.gui import icons, theme

log = logging.getLogger(__name__)

VERDICT_LOOK = {
    Verdict.OK: ("outcome-queued", "green", "OK"),
    Verdict.WARNING: ("warning", "amber", "Warning"),
    Verdict.FAILED: ("outcome-network", "red", "Failed"),
    Verdict.SKIPPED: ("outcome-unknown", "neutral", "Skipped"),
}
"""Icon, tone and word of each doctor verdict (the word is for screen readers too)."""

REAL_COMMAND_WARNING = (
    "The copied command will hold your token in plain text. Anyone who sees it "
    "can queue plans as you until the token expires.\n\n"
    "Paste it only into your own terminal, never into a ticket, a chat or an "
    "e-mail. Copy it with the real token?"
)


class Submit(Protocol):
    """Runs a callable off the GUI thread and reports back on it.

    :meth:`app.gui.tasks.TaskRunner.submit` is one.
    """

    def __call__(
        self,
        name: str,
        function: Callable[[], Any],
        *,
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[Exception], None] | None = None,
    ) -> object:
        """Run ``function()`` on a worker; call back on the GUI thread."""
        ...


def _value_label(parent: QWidget, name: str) -> QLabel:
    label = QLabel("…", parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
    return label


def _html_escape(text: str) -> str:
    return html.escape(text, quote=False)


def _problems_html(problems: list[dict[str, str]]) -> str:
    """Return the problems as paragraphs, each fix indented under its problem.

    Rich text, so that a fix that wraps stays indented; every text is escaped
    (messages name URLs and hosts people typed).
    """
    if not problems:
        return "No problems found."
    parts = []
    for problem in problems:
        word = "Problem" if problem["severity"] == "error" else "Warning"
        parts.append(
            f'<p style="margin:0">{word}: {_html_escape(problem["message"])}</p>'
        )
        if problem.get("remedy"):
            parts.append(
                '<p style="margin:0 0 4px 18px">'
                f"Fix: {_html_escape(problem['remedy'])}</p>"
            )
    return "".join(parts)


class StatusPanel(QWidget):
    """Shows a profile's status and runs the doctor, bundles and curl.

    Args:
        workspace: Profiles, secrets and policy.
        paths: Where the logs and the history are (for bundles).
        redactor: The app's redactor; bundles and the doctor's findings are
            redacted with it.
        submit: Runs work off the GUI thread (``TaskRunner.submit``).
        history: The open history store, or None to read the file for bundles.
        clock: The current time in UTC.
        extra_facts: Facts for bundles that only the GUI knows; the Qt version
            and platform are added here.
        parent: The parent widget.

    Signals:
        status_loaded(object): The status report (a dict) of the profile arrived.
        doctor_finished(object): The doctor's steps (a list of DoctorStep).
        bundle_saved(str): A bundle was written to this path.
        message_posted(str): A short message for the window's status line.
    """

    status_loaded = Signal(object)
    doctor_finished = Signal(object)
    bundle_saved = Signal(str)
    message_posted = Signal(str)

    def __init__(
        self,
        workspace: Workspace,
        paths: AppPaths,
        redactor: Redactor,
        submit: Submit,
        *,
        history: diagnostics.HistoryPages | None = None,
        clock: Callable[[], datetime] | None = None,
        extra_facts: Mapping[str, object] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.paths = paths
        self.redactor = redactor
        self.submit = submit
        self.history = history
        self.clock = clock or (lambda: datetime.now(UTC))
        self.extra_facts = {**_qt_facts(), **(extra_facts or {})}
        self.profile_name: str | None = None
        self.report: dict[str, Any] | None = None
        self.steps: list[DoctorStep] = []
        self.last_run: QueueCall | None = None
        self.preview_dialog: BundlePreviewDialog | None = None
        self.curl_dialog: CurlDialog | None = None
        self._busy: set[str] = set()
        self.setObjectName("statusPanel")
        self.setAccessibleName("Status and diagnostics")
        self._build()
        self._update_buttons()

    # Building ---------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)

        header = QHBoxLayout()
        self.heading = QLabel("No profile", self)
        self.heading.setObjectName("statusHeading")
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        header.addWidget(self.heading, 1)
        self.refresh_button = self._button("&Refresh", "Refresh the status")
        self.refresh_button.clicked.connect(self.refresh)
        header.addWidget(self.refresh_button)
        layout.addLayout(header)

        form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        for key, title in (
            ("gateway", "Gateway"),
            ("token", "Token"),
            ("claims", "Token claims"),
            ("expiry", "Expiry"),
            ("keyring", "Keyring"),
            ("proxy", "Proxy"),
            ("tls", "TLS trust"),
        ):
            label = _value_label(self, f"status_{key}")
            label.setAccessibleName(title)
            self.fields[key] = label
            form.addRow(f"{title}:", label)
        layout.addLayout(form)

        self.problems = _value_label(self, "statusProblems")
        self.problems.setAccessibleName("Problems found")
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.setText("")
        layout.addWidget(self.problems)

        actions = QHBoxLayout()
        self.doctor_button = self._button("Run &doctor", "Run the connectivity doctor")
        self.doctor_button.clicked.connect(self.run_doctor)
        self.bundle_button = self._button(
            "Save diagnostic &bundle…", "Save a diagnostic bundle"
        )
        self.bundle_button.clicked.connect(self.save_bundle)
        self.curl_button = self._button("Copy as &curl…", "Copy the last run as curl")
        self.curl_button.clicked.connect(self._on_curl_button_clicked)
        for button in (self.doctor_button, self.bundle_button, self.curl_button):
            actions.addWidget(button)
        actions.addStretch(1)
        layout.addLayout(actions)

        self.doctor_state = _value_label(self, "doctorState")
        self.doctor_state.setAccessibleName("Doctor state")
        self.doctor_state.setText(
            "The doctor checks DNS, proxy, TCP, TLS and HTTP towards the gateway. "
            "It never sends a run."
        )
        layout.addWidget(self.doctor_state)

        self.steps_view = QTreeWidget(self)
        self.steps_view.setObjectName("doctorSteps")
        self.steps_view.setAccessibleName("Doctor steps")
        self.steps_view.setHeaderLabels(["Step", "Result"])
        self.steps_view.setRootIsDecorated(True)
        self.steps_view.setWordWrap(True)
        self.steps_view.setUniformRowHeights(False)
        self.steps_view.setColumnWidth(0, 150)
        layout.addWidget(self.steps_view, 1)

    def _button(self, text: str, accessible: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setAccessibleName(accessible)
        return button

    # Public slots -------------------------------------------------------------

    def set_profile(self, name: str | None) -> None:
        """Show the status of the profile called ``name`` (None for none)."""
        if name == self.profile_name and self.report is not None:
            return
        self.profile_name = name
        self.report = None
        self.steps = []
        self.steps_view.clear()
        self.heading.setText(f"Profile {name}" if name else "No profile")
        self.refresh()

    def set_last_run(self, run: QueueCall | None) -> None:
        """Remember the last run (an Outcome or a history row) for curl."""
        self.last_run = run
        self._update_buttons()

    def refresh(self) -> None:
        """Load the status facts again, off the GUI thread."""
        name = self.profile_name
        if name is None:
            self._show_report(None)
            return
        workspace, now = self.workspace, self.clock()
        self._start(
            "status",
            lambda: diagnostics.status_report(workspace, name, now),
            self._on_status_loaded,
        )
        for label in self.fields.values():
            label.setText("…")

    def run_doctor(self) -> None:
        """Run the connectivity doctor for the profile, off the GUI thread."""
        name = self.profile_name
        if name is None:
            return
        workspace, redactor = self.workspace, self.redactor

        def work() -> tuple[GatewayUrl, list[DoctorStep]]:
            profile = workspace.profile(name)
            gateway = workspace.gateway(name)
            steps = diagnostics.run_doctor(
                gateway,
                workspace.client_settings(profile),
                redactor=redactor,
                proxy_source=diagnostics.proxy_source(workspace, profile),
            )
            return gateway, steps

        self.steps_view.clear()
        self.doctor_state.setText("Checking… (each step gives up after a few seconds)")
        self._start("doctor", work, self._on_doctor_finished)

    def save_bundle(self) -> None:
        """Build the bundle off the GUI thread, then show it before saving."""
        workspace, paths, redactor = self.workspace, self.paths, self.redactor
        name, steps, history = self.profile_name, list(self.steps), self.history
        now, facts = self.clock(), dict(self.extra_facts)
        self.message_posted.emit("Preparing the diagnostic bundle…")
        self._start(
            "bundle",
            lambda: diagnostics.bundle_preview(
                workspace,
                paths,
                redactor,
                now=now,
                profile_name=name,
                doctor_steps=steps or None,
                history=history,
                extra_facts=facts,
            ),
            self._on_bundle_ready,
        )

    def copy_as_curl(self, run: QueueCall | None = None) -> None:
        """Show the curl command of ``run`` (default: the last run), redacted."""
        run = run or self.last_run
        if run is None:
            return
        try:
            command = diagnostics.curl_command(run)
        except InputError as error:
            self.message_posted.emit(str(error))
            return
        profile = getattr(run, "profile", None)
        dialog = CurlDialog(
            command, real_token_available=profile is not None, parent=self
        )
        dialog.real_token_requested.connect(lambda: self._copy_with_token(run, profile))
        dialog.copied.connect(self.message_posted)
        self.curl_dialog = dialog
        dialog.open()

    def _on_curl_button_clicked(self) -> None:
        self.copy_as_curl()

    # Task results ---------------------------------------------------------------

    def _on_status_loaded(self, report: dict[str, Any]) -> None:
        if report.get("profile") != self.profile_name:
            return  # the profile changed while the status loaded
        self._show_report(report)
        self.status_loaded.emit(report)

    def _show_report(self, report: dict[str, Any] | None) -> None:
        self.report = report
        if report is None:
            for label in self.fields.values():
                label.setText("—")
            self.problems.setText("Choose a profile to see its status.")
            return
        for key, text in _field_texts(report).items():
            self.fields[key].setText(text)
        self.problems.setText(_problems_html(report.get("problems", [])))
        tone_name = {"ok": "green", "ok, with warnings": "amber"}.get(
            report["verdict"], "red"
        )
        colour = theme.tone(tone_name, self).accent
        self.problems.setStyleSheet(f"QLabel {{ color: {colour}; }}")

    def _on_doctor_finished(self, result: tuple[GatewayUrl, list[DoctorStep]]) -> None:
        gateway, steps = result
        self.steps = steps
        self._show_steps(steps)
        code = diagnostics.doctor_exit_code(steps)
        verdict = {0: "reachable", 6: "a network problem"}.get(code, "a setup problem")
        self.doctor_state.setText(f"Doctor for {gateway.base}: {verdict}.")
        self.doctor_finished.emit(steps)

    def _show_steps(self, steps: Sequence[DoctorStep]) -> None:
        self.steps_view.clear()
        for step in steps:
            icon_name, tone_name, word = VERDICT_LOOK[step.verdict]
            item = QTreeWidgetItem([step.name, f"{word}: {step.detail}"])
            item.setIcon(0, icons.icon(icon_name, theme.tone(tone_name, self).accent))
            item.setData(0, Qt.ItemDataRole.UserRole, step.verdict.value)
            item.setData(0, Qt.ItemDataRole.AccessibleTextRole, f"{step.name}: {word}")
            if step.remedy and step.verdict is not Verdict.OK:
                item.addChild(QTreeWidgetItem(["", f"Fix: {step.remedy}"]))
            self.steps_view.addTopLevelItem(item)
            item.setExpanded(True)
        self.steps_view.resizeColumnToContents(0)

    def _on_bundle_ready(self, preview: dict[str, str]) -> None:
        dialog = BundlePreviewDialog(preview, parent=self)
        dialog.save_requested.connect(lambda: self._choose_bundle_path(dialog))
        self.preview_dialog = dialog
        dialog.open()

    def _choose_bundle_path(self, dialog: BundlePreviewDialog) -> None:
        suggested = Path.home() / (
            f"plan-runner-diagnostics-{self.clock():%Y%m%d-%H%M%S}.zip"
        )
        path, _ = QFileDialog.getSaveFileName(
            dialog, "Save diagnostic bundle", str(suggested), "Zip archives (*.zip)"
        )
        if not path:
            return
        if not path.lower().endswith(".zip"):
            path += ".zip"
        preview = dialog.preview
        dialog.accept()
        target = Path(path)
        self._start(
            "save bundle",
            lambda: diagnostics.write_bundle(target, preview),
            lambda _manifest: self._on_bundle_saved(target),
        )

    def _on_bundle_saved(self, path: Path) -> None:
        self.message_posted.emit(f"Diagnostic bundle saved to {path}")
        self.bundle_saved.emit(str(path))

    def _copy_with_token(self, run: QueueCall, profile: str | None) -> None:
        if profile is None:
            return
        answer = QMessageBox.question(
            self.curl_dialog or self,
            "Copy with the real token?",
            REAL_COMMAND_WARNING,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        workspace = self.workspace

        def load() -> str:
            token = workspace.connection(profile).token
            if not token:
                raise SetupError(f"No token is stored for profile {profile!r}.")
            return diagnostics.curl_command(run, token=token)

        self._start("curl with token", load, self._on_real_command)

    def _on_real_command(self, command: str) -> None:
        QGuiApplication.clipboard().setText(command)
        self.message_posted.emit(
            "Copied the curl command with the real token. Paste it only into your "
            "own terminal."
        )
        if self.curl_dialog is not None:
            self.curl_dialog.accept()

    # Plumbing ---------------------------------------------------------------

    def _start(
        self, kind: str, function: Callable[[], Any], done: Callable[[Any], None]
    ) -> None:
        if kind in self._busy:
            return
        self._busy.add(kind)
        self._update_buttons()

        def finished(result: Any) -> None:
            self._finish(kind)
            done(result)

        def failed(error: Exception) -> None:
            self._finish(kind)
            self._on_failed(kind, error)

        self.submit(
            f"status panel: {kind}", function, on_finished=finished, on_failed=failed
        )

    def _finish(self, kind: str) -> None:
        self._busy.discard(kind)
        self._update_buttons()

    def _on_failed(self, kind: str, error: Exception) -> None:
        text = (
            str(error)
            if isinstance(error, PlanRunnerError)
            else f"An unexpected error stopped this ({type(error).__name__}); "
            f"the log has the details: {self.paths.log_file}"
        )
        text = self.redactor.redact(text)
        if kind == "doctor":
            self.doctor_state.setText(f"The doctor could not run: {text}")
        elif kind == "status":
            self.problems.setText(
                _html_escape(f"The status could not be loaded: {text}")
            )
        self.message_posted.emit(text)

    def _update_buttons(self) -> None:
        has_profile = self.profile_name is not None
        self.refresh_button.setEnabled(has_profile and "status" not in self._busy)
        self.doctor_button.setEnabled(has_profile and "doctor" not in self._busy)
        self.bundle_button.setEnabled(
            not {"bundle", "save bundle"} & self._busy and "doctor" not in self._busy
        )
        self.curl_button.setEnabled(self.last_run is not None)


def _field_texts(report: Mapping[str, Any]) -> dict[str, str]:
    gateway = report.get("gateway")
    if gateway is None:
        gateway_text = "none set"
    elif gateway.get("problem"):
        gateway_text = f"{gateway['url']} (invalid: {gateway['problem']})"
    else:
        gateway_text = f"{gateway['url']}\nRuns go to {gateway['queue_url']}"
    token = report["token"]
    if token.get("length") is None:
        token_text, claims, expiry = "none stored", "—", "—"
    else:
        source = str(token["source"])
        where = source if source.startswith("the ") else f"stored in {source}"
        token_text = f"{where}; {token['length']} characters, {token['fingerprint']}"
        if token.get("is_jwt"):
            claims = (
                "; ".join(
                    f"{key} {token[key]}"
                    for key in ("issuer", "subject", "audience")
                    if token.get(key)
                )
                or "a JWT without issuer, subject or audience"
            )
        else:
            claims = "not a JWT"
        if token.get("problem"):
            claims += f" ({token['problem']})"
        expiry = str(token["expiry"])
        if token.get("issued"):
            expiry = f"{expiry}; {token['issued']}"
    keyring = report["keyring"]
    tls = report["tls"]
    tls_text = str(tls["mode"])
    if tls.get("extra_ca_file"):
        state = "readable" if tls.get("extra_ca_readable") else "NOT readable"
        tls_text += f": {tls['extra_ca_file']} ({state})"
    return {
        "gateway": gateway_text,
        "token": token_text,
        "claims": claims,
        "expiry": expiry,
        "keyring": str(keyring["backend"])
        + (
            ""
            if keyring["persistent"] or "session only" in str(keyring["backend"])
            else " (this session only)"
        ),
        "proxy": str(report["proxy"]["detail"]),
        "tls": tls_text,
    }


def _qt_facts() -> dict[str, object]:
    import PySide6  # noqa: PLC0415
    from PySide6.QtCore import qVersion  # noqa: PLC0415

    return {
        "face": "desktop app",
        "qt": qVersion(),
        "pyside6": PySide6.__version__,
        "qt_platform": QGuiApplication.platformName(),
    }


class BundlePreviewDialog(QDialog):
    """Lists the files of a bundle and shows each one before it is saved.

    Signals:
        save_requested(): The person pressed Save….
    """

    save_requested = Signal()

    def __init__(
        self, preview: Mapping[str, str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.preview = dict(preview)
        self.setWindowTitle("Diagnostic bundle: preview")
        self.setAccessibleName("Diagnostic bundle preview")
        self.resize(860, 560)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "This is everything the bundle holds. Tokens have been removed; look it "
            "over before attaching it to a support ticket.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        splitter = QSplitter(self)
        self.files = QListWidget(splitter)
        self.files.setAccessibleName("Files in the bundle")
        self.files.addItems(list(self.preview))
        self.text = QPlainTextEdit(splitter)
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Content of the selected file")
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        splitter.setStretchFactor(1, 3)
        layout.addWidget(splitter, 1)
        self.files.currentTextChanged.connect(self._on_files_current_text_changed)

        buttons = QDialogButtonBox(self)
        self.save_button = buttons.addButton(
            "&Save…", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.save_button.setAccessibleName("Save the bundle")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        self.save_button.clicked.connect(self.save_requested)
        cancel.clicked.connect(self.reject)
        layout.addWidget(buttons)
        if self.preview:
            self.files.setCurrentRow(0)

    def _on_files_current_text_changed(self, name: str) -> None:
        self.text.setPlainText(self.preview.get(name, ""))


class CurlDialog(QDialog):
    """Shows a run as a curl command, with a ``$TOKEN`` placeholder.

    Signals:
        copied(str): The redacted command was copied; a message for the window.
        real_token_requested(): The person asked for the command with the token.
    """

    copied = Signal(str)
    real_token_requested = Signal()

    def __init__(
        self,
        command: str,
        *,
        real_token_available: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.command = command
        self.setWindowTitle("Copy as curl")
        self.setAccessibleName("Copy as curl")
        self.resize(720, 260)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Repeats the run from a terminal (bash, zsh, Git Bash). Set TOKEN first, "
            "for example: read -rs TOKEN",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.text = QPlainTextEdit(command, self)
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Curl command")
        layout.addWidget(self.text, 1)

        buttons = QDialogButtonBox(self)
        self.copy_button = buttons.addButton(
            "&Copy", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.copy_button.setAccessibleName("Copy the command without the token")
        self.real_button = buttons.addButton(
            "Copy with &real token…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.real_button.setAccessibleName("Copy the command with the real token")
        self.real_button.setEnabled(real_token_available)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setAccessibleName("Close")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.real_button.clicked.connect(self.real_token_requested)
        close.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.command)
        self.copied.emit("Copied the curl command (the token is $TOKEN).")
