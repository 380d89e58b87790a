"""The status panel: facts, the doctor, the bundle preview and copy as curl.

The fixtures (private home, in-memory keyring, simulator, task runner, leak
checks) come from the GUI tests' conftest.
"""

import json
import zipfile
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton

from app.core.diagnostics import Verdict
from app.core.outcome import Category, Outcome
from app.core.settings import Profile
from app.core.workspace import Workspace
from app.gui.status_panel import StatusPanel

pytestmark = pytest.mark.gui

NOW = datetime.now(UTC).replace(microsecond=0)
TOKEN = jwt.encode(
    {
        "iss": "https://login.example.test",
        "sub": "qa-anna",
        "iat": int((NOW - timedelta(hours=4)).timestamp()),
        "exp": int((NOW - timedelta(hours=3)).timestamp()),
    },
    "k" * 32,
    algorithm="HS256",
)
WAIT_MS = 10_000


@pytest.fixture
def workspace(paths, keyring_store, redactor, gateway):
    workspace = Workspace.open(paths, redactor, keyring_store)
    workspace.save_profile(Profile(name="stage"), gateway_url=gateway.url, token=TOKEN)
    return workspace


@pytest.fixture
def panel(qtbot, workspace, paths, redactor, tasks, monkeypatch):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    widget = StatusPanel(workspace, paths, redactor, tasks.submit, clock=lambda: NOW)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.status_loaded, timeout=WAIT_MS):
        widget.set_profile("stage")
    return widget


def outcome(gateway):
    return Outcome(
        category=Category.AUTH,
        title="Not signed in",
        advice="",
        support="",
        plan_id=9223372036854775807,
        user_id=1,
        profile="stage",
        gateway_url=gateway.url + "/queue",
        http_status=401,
        code=1000,
        message=None,
        started_at=NOW,
        duration_ms=3,
    )


def test_the_status_shows_token_facts_never_the_token(panel, gateway):
    texts = {key: label.text() for key, label in panel.fields.items()}
    assert texts["gateway"].startswith(gateway.url)
    assert f"{len(TOKEN)} characters, sha256:" in texts["token"]
    assert texts["claims"] == "issuer https://login.example.test; subject qa-anna"
    assert texts["expiry"] == "expired 3 h ago; issued 4 h ago"
    assert texts["proxy"] == "No proxy: connects directly."
    assert texts["tls"] == "OS trust store"
    assert "Problem: The token of profile 'stage' expired 3 h ago" in (
        panel.problems.text()
    )
    shown = " ".join(texts.values()) + panel.problems.text()
    assert TOKEN not in shown
    assert panel.report["exit_code"] == 3


def test_every_control_has_an_accessible_name(panel):
    buttons = panel.findChildren(QPushButton)
    assert len(buttons) == 4
    for button in buttons:
        assert button.accessibleName(), button.text()
    assert panel.steps_view.accessibleName() == "Doctor steps"
    for label in panel.fields.values():
        assert label.accessibleName()


def test_the_doctor_runs_off_the_gui_thread_and_shows_each_step(qtbot, panel, gateway):
    with qtbot.waitSignal(panel.doctor_finished, timeout=WAIT_MS) as blocker:
        panel.doctor_button.click()
        assert not panel.doctor_button.isEnabled()  # busy while it runs
    steps = blocker.args[0]
    assert [s.name for s in steps] == [
        "DNS",
        "Proxy",
        "TCP connect",
        "TLS handshake",
        "HTTP",
    ]
    view = panel.steps_view
    assert view.topLevelItemCount() == 5
    http = view.topLevelItem(4)
    assert http.text(0) == "HTTP"
    assert http.text(1).startswith("OK: A GET of")
    assert http.data(0, 0x0100) == Verdict.OK.value  # Qt.UserRole
    assert view.topLevelItem(3).text(1).startswith("Skipped:")
    assert not http.icon(0).isNull()
    assert panel.doctor_state.text() == f"Doctor for {gateway.url}: reachable."
    assert panel.doctor_button.isEnabled()
    assert gateway.queue_posts == []


def test_the_bundle_is_previewed_then_saved_without_the_token(
    qtbot, panel, tmp_path, monkeypatch
):
    target = tmp_path / "support" / "bundle"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "")
    )
    panel.bundle_button.click()
    qtbot.waitUntil(lambda: panel.preview_dialog is not None, timeout=WAIT_MS)
    dialog = panel.preview_dialog
    names = [dialog.files.item(i).text() for i in range(dialog.files.count())]
    assert names[0] == "summary.txt"
    assert "manifest.json" in names
    assert "Profile      stage" in dialog.text.toPlainText()
    dialog.files.setCurrentRow(names.index("status.json"))
    assert json.loads(dialog.text.toPlainText())["stage"]["token"]["expired"] is True

    with qtbot.waitSignal(panel.bundle_saved, timeout=WAIT_MS) as blocker:
        dialog.save_button.click()
    saved = tmp_path / "support" / "bundle.zip"
    assert blocker.args == [str(saved)]
    with zipfile.ZipFile(saved) as bundle:
        contents = {name: bundle.read(name).decode() for name in bundle.namelist()}
    assert contents == dialog.preview
    assert all(TOKEN not in text for text in contents.values())
    assert json.loads(contents["about.json"])["qt_platform"] == "offscreen"


def test_copy_as_curl_is_redacted_and_the_real_token_needs_a_yes(
    qtbot, panel, gateway, monkeypatch
):
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("before")
    assert not panel.curl_button.isEnabled()
    panel.set_last_run(outcome(gateway))
    assert panel.curl_button.isEnabled()
    panel.curl_button.click()
    dialog = panel.curl_dialog
    assert dialog is not None
    command = dialog.text.toPlainText()
    assert '"Authorization: Bearer $TOKEN"' in command
    assert "9223372036854775807" in command
    assert TOKEN not in command
    dialog.copy_button.click()
    assert clipboard.text() == command

    answers = []

    def answer(reply):
        def ask(*args, **kwargs):
            answers.append(args[2])
            return reply

        return ask

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    dialog.real_button.click()
    qtbot.wait(100)
    assert clipboard.text() == command
    assert "plain text" in answers[0]

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(panel.message_posted, timeout=WAIT_MS):
        dialog.real_button.click()
    qtbot.waitUntil(lambda: TOKEN in clipboard.text(), timeout=WAIT_MS)
    assert f"'Authorization: Bearer {TOKEN}'" in clipboard.text()
    assert TOKEN not in dialog.text.toPlainText()
    clipboard.clear()


def test_problems_are_escaped_and_each_fix_sits_under_its_problem():
    from app.gui.status_panel import _problems_html

    text = _problems_html(
        [
            {
                "severity": "error",
                "message": "Host <b>evil</b> & co",
                "remedy": "Do <i>x</i>",
            },
            {"severity": "warning", "message": "Slow"},
        ]
    )
    assert "Problem: Host &lt;b&gt;evil&lt;/b&gt; &amp; co" in text
    assert "<b>" not in text
    assert "<i>" not in text
    assert text.index("Fix: Do &lt;i&gt;x&lt;/i&gt;") < text.index("Warning: Slow")
    assert _problems_html([]) == "No problems found."


def test_the_status_tab_is_built_when_first_shown_with_the_profile_and_last_run(
    qtbot, gateway, add_profile, open_gui, press_run
):
    add_profile("stage", gateway.url, default_user=1)
    window = open_gui().window
    window.plan_field.set_text("681")
    result = press_run(window)
    assert window.status_panel is None
    assert window.bottom_tabs.tabText(1) == "&Status"

    with qtbot.waitSignal(window.bottom_tabs.currentChanged):
        window.bottom_tabs.setCurrentIndex(1)
    panel = window.status_panel
    assert panel is not None
    assert panel.isVisible()
    assert panel.profile_name == "stage"
    assert panel.last_run == result.outcome
    window.bottom_tabs.setCurrentIndex(0)
    window.bottom_tabs.setCurrentIndex(1)
    assert window.status_panel is panel  # built once
    second = press_run(window)
    assert panel.last_run == second.outcome
