"""A desktop session with a known token through every flow, then a scan of every
file the app wrote, every text it showed and everything it copied: no token."""

from __future__ import annotations

import base64
import logging
import urllib.parse
from collections.abc import Iterator

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

from app.core.history import HistoryFilter
from app.core.logs import setup_logging
from app.sim import Simulator

LEAK_TOKEN = "GuiLeakCanary-4be1c0ffee99-Token.value_z"
PROFILE = "Leaky"
SCENARIOS = (
    "normal",
    "empty401",
    "oauth401",
    "html502",
    "ratelimit",
    "redirect",
    "drop",
    "code_nonzero",
    "echo_token",
)


def token_forms() -> list[str]:
    raw = LEAK_TOKEN.encode()
    forms = {LEAK_TOKEN, urllib.parse.quote(LEAK_TOKEN, safe="")}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        forms.update({encoded, encoded.rstrip("=")})
    return sorted(forms)


def visible_texts(window: QWidget) -> Iterator[str]:
    yield window.windowTitle()
    for widget in [window, *window.findChildren(QWidget)]:
        yield widget.toolTip()
        yield widget.accessibleName()
        yield widget.statusTip()
        yield widget.whatsThis()
        if isinstance(widget, QLabel | QLineEdit):
            yield widget.text()
        if isinstance(widget, QPlainTextEdit | QTextEdit):
            yield widget.toPlainText()


@pytest.fixture
def leaky_gateway() -> Iterator[Simulator]:
    with Simulator(tokens=(LEAK_TOKEN,), slow_seconds=0.5) as sim:
        yield sim


@pytest.fixture
def app_logging(paths, redactor) -> Iterator[None]:
    """The log file and its redaction, as run_app sets them up."""
    handlers = setup_logging(paths.log_file, redactor, level=logging.DEBUG)
    yield
    for handler in handlers:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_no_desktop_flow_leaks_the_token(
    qtbot, leaky_gateway, add_profile, open_gui, press_run, paths, tmp_path, app_logging
):
    add_profile(
        PROFILE, leaky_gateway.url, token=f"Bearer {LEAK_TOKEN}\n", default_user=1
    )
    gui = open_gui()
    window = gui.window
    seen: list[str] = []

    for scenario in SCENARIOS:
        leaky_gateway.set_scenario(scenario)
        window.plan_field.set_text("681")
        result = press_run(window)
        assert result.outcome is not None
        window.result.copy_button.click()
        seen.append(QGuiApplication.clipboard().text())
        seen.extend(visible_texts(window))
    assert len(leaky_gateway.queue_posts) == len(SCENARIOS)
    assert len(gui.history.page(HistoryFilter(), limit=50)) == len(SCENARIOS)

    view = window.history_view
    assert view._export(tmp_path / "runs.csv", HistoryFilter(), False) == len(SCENARIOS)
    assert view._export(tmp_path / "runs.json", HistoryFilter(), True) == len(SCENARIOS)

    assert window.status_panel is None  # built when its tab is first shown
    window.bottom_tabs.setCurrentIndex(1)
    panel = window.status_panel
    with qtbot.waitSignal(panel.status_loaded, timeout=10_000) as status:
        panel.refresh()
    seen.append(repr(status.args[0]))
    with qtbot.waitSignal(panel.doctor_finished, timeout=20_000) as doctor:
        panel.run_doctor()
    seen.append(repr(doctor.args[0]))
    previews: list[dict[str, str]] = []
    panel._on_bundle_ready = previews.append
    panel.save_bundle()
    qtbot.waitUntil(lambda: bool(previews), timeout=20_000)
    assert "manifest.json" in previews[0]
    seen.extend(previews[0].values())
    panel.copy_as_curl()
    assert "$TOKEN" in panel.curl_dialog.text.toPlainText()
    seen.extend(visible_texts(panel.curl_dialog))
    seen.extend(visible_texts(window))
    panel.curl_dialog.close()
    gui.close()

    blobs = {f"shown #{i}": text.encode() for i, text in enumerate(seen) if text}
    for folder in (paths.config_dir.parent, tmp_path):
        for path in folder.rglob("*"):
            if path.is_file():
                blobs[str(path)] = path.read_bytes()
    assert any(name.endswith("plan-runner.log") for name in blobs)
    leaks = [
        f"{name}: {form}"
        for name, blob in blobs.items()
        for form in token_forms()
        if form.encode() in blob
    ]
    assert leaks == []
