"""The whole flow through the window against the simulator, one outcome at a time."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.history import HistoryFilter, HistoryStore
from app.core.outcome import Category
from app.gui.result_panel import MAYBE_QUEUED_WARNING

PROFILE = "Stage"


@dataclass(frozen=True)
class Case:
    scenario: str
    expected: Category
    title: str
    plan: str = "681"
    user: str = "1"
    token: str = "demo-token"
    closed_port: bool = False
    read_timeout: float = 5.0
    posts: int = 1


CASES = {
    "queued": Case("normal", Category.QUEUED, "Plan 681 was queued for user 1"),
    "rejected_plan": Case(
        "normal", Category.REJECTED, "Plan 999 was not found", plan="999"
    ),
    "rejected_user": Case(
        "normal", Category.REJECTED, "User 99 was not found", user="99"
    ),
    "auth_empty401": Case("empty401", Category.AUTH, "Your token has expired"),
    "auth_wrong_token": Case(
        "normal",
        Category.AUTH,
        "The gateway did not accept your token",
        token="wrong-token",
    ),
    "invalid_notfound": Case("notfound", Category.INVALID, "Nothing answers at"),
    "rate_limited": Case("ratelimit", Category.RATE_LIMITED, "The gateway is busy"),
    "redirected": Case(
        "redirect", Category.REDIRECTED, "The gateway redirected the run (HTTP 302)"
    ),
    "gateway_html502": Case(
        "html502", Category.GATEWAY, "The gateway is unreachable behind its proxy"
    ),
    "network_closed_port": Case(
        "normal",
        Category.NETWORK,
        "Cannot connect to 127.0.0.1",
        closed_port=True,
        posts=0,
    ),
    "unknown_drop": Case(
        "drop", Category.UNKNOWN, "The connection dropped before the gateway answered"
    ),
    "unknown_read_timeout": Case(
        "slow", Category.UNKNOWN, "No answer within 1 s", read_timeout=1.0
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_outcome_reaches_the_result_panel_after_exactly_one_post(
    case, qtbot, gateway, closed_port_url, add_profile, open_gui, press_run
):
    url = closed_port_url if case.closed_port else gateway.url
    add_profile(PROFILE, url, token=case.token, read_timeout=case.read_timeout)
    gateway.set_scenario(case.scenario)
    window = open_gui().window

    window.plan_field.set_text(case.plan)
    window.user_field.set_text(case.user)
    result = press_run(window)

    assert result.outcome.category is case.expected
    assert window.result.category is case.expected
    assert window.result.title_text().startswith(case.title)
    assert window.result.kicker.text()
    assert len(gateway.queue_posts) == case.posts
    if case.posts:
        body = json.loads(gateway.queue_posts[0].body)
        assert body == {"planId": int(case.plan), "userId": int(case.user)}
    shows_warning = case.expected is Category.UNKNOWN
    assert window.result.warning.isVisibleTo(window) is shows_warning
    if shows_warning:
        assert window.result.warning.text() == MAYBE_QUEUED_WARNING
    assert window.run_button.isEnabled()


def test_fifty_presses_and_shortcuts_during_a_slow_run_send_one_post(
    qtbot, gateway, add_profile, open_gui
):
    add_profile(PROFILE, gateway.url, default_user=1)
    gateway.set_scenario("slow")
    window = open_gui().window
    window.plan_field.set_text("681")
    assert window.user_field.value() == 1

    with qtbot.waitSignal(window.run_finished, timeout=8000):
        for _ in range(50):
            qtbot.mouseClick(window.run_button, Qt.MouseButton.LeftButton)
            qtbot.keyClick(
                window.plan_field.combo,
                Qt.Key.Key_Return,
                Qt.KeyboardModifier.ControlModifier,
            )
        qtbot.waitUntil(lambda: len(gateway.queue_posts) == 1, timeout=5000)
        assert not window.run_button.isEnabled()
        assert window.result.state == "busy"
        # The guard is in the code, not only in the disabled button.
        window.run_button.setEnabled(True)
        for _ in range(50):
            window.run_button.click()
            qtbot.keyClick(
                window, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier
            )

    assert len(gateway.queue_posts) == 1
    assert window.result.category is Category.QUEUED


def test_ctrl_enter_runs_the_form_with_the_default_user(
    qtbot, gateway, add_profile, open_gui
):
    add_profile(PROFILE, gateway.url, default_user=1)
    window = open_gui().window
    window.plan_field.set_text("42")
    with qtbot.waitSignal(window.run_finished, timeout=5000):
        qtbot.keyClick(
            window.user_field.combo,
            Qt.Key.Key_Return,
            Qt.KeyboardModifier.ControlModifier,
        )
    assert json.loads(gateway.queue_posts[0].body) == {"planId": 42, "userId": 1}


def test_the_wait_shows_elapsed_seconds_and_offers_no_cancel(
    qtbot, gateway, add_profile, open_gui
):
    add_profile(PROFILE, gateway.url, default_user=1)
    gateway.set_scenario("slow")
    window = open_gui().window
    window.plan_field.set_text("681")
    with qtbot.waitSignal(window.run_finished, timeout=8000):
        window.run_button.click()
        qtbot.waitUntil(lambda: window.result.state == "busy", timeout=3000)
        assert window.result.busy.isVisibleTo(window)
        qtbot.waitUntil(lambda: "1 s" in window.result.subject.text(), timeout=3000)
        buttons = [
            b.text().lower() for b in window.findChildren(type(window.run_button))
        ]
        assert not any("cancel" in text for text in buttons)
    assert not window.result.busy.isVisibleTo(window)


def test_quitting_mid_request_cancels_and_records_unknown_within_three_seconds(
    qtbot, gateway, add_profile, open_gui, paths
):
    add_profile(PROFILE, gateway.url, read_timeout=60, default_user=1)
    gateway.set_scenario("hang")
    gui = open_gui()
    window = gui.window
    window.plan_field.set_text("681")
    window.run_button.click()
    qtbot.waitUntil(lambda: len(gateway.queue_posts) == 1, timeout=5000)
    qtbot.waitUntil(lambda: window.result.state == "busy", timeout=3000)

    started = time.monotonic()
    window.close()
    gui.close()
    assert time.monotonic() - started < 3.0

    qtbot.waitUntil(lambda: window.last_result is not None, timeout=2000)
    assert window.last_result.outcome.category is Category.UNKNOWN
    with HistoryStore.open(paths.history_file) as history:
        rows = history.page(HistoryFilter(), limit=5)
    assert [row.outcome for row in rows] == [Category.UNKNOWN]
    assert rows[0].plan_id == 681
    assert "cancelled" in rows[0].title
    assert window.tasks.pool.activeThreadCount() == 0
    assert len(gateway.queue_posts) == 1


def test_a_critical_profile_asks_naming_the_host_and_no_sends_nothing(
    qtbot, gateway, add_profile, open_gui, monkeypatch
):
    add_profile(PROFILE, gateway.url, critical=True, default_user=1)
    asked = []

    def answer_no(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer_no)
    window = open_gui().window
    window.plan_field.set_text("681")
    with qtbot.waitSignal(window.run_refused, timeout=5000):
        window.run_button.click()
    assert len(asked) == 1
    assert asked[0].startswith("Queue plan 681 for user 1 on 127.0.0.1?")
    assert gateway.queue_posts == []
    assert window.result.state == "not_sent"

    monkeypatch.setattr(
        QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes
    )
    with qtbot.waitSignal(window.run_finished, timeout=5000):
        window.run_button.click()
    assert len(gateway.queue_posts) == 1


def _expired_jwt(hours_ago: float) -> str:
    import jwt

    claims = {"sub": "qa", "exp": int(time.time() - hours_ago * 3600)}
    return jwt.encode(claims, "not-a-real-signing-key-of-32-bytes!", algorithm="HS256")


def test_an_expired_token_asks_before_sending(
    qtbot, gateway, add_profile, open_gui, monkeypatch
):
    add_profile(PROFILE, gateway.url, token=_expired_jwt(3), default_user=1)
    asked = []

    def answer_no(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer_no)
    window = open_gui().window
    assert "token_expired" in window.banners.shown_keys()
    window.plan_field.set_text("681")
    with qtbot.waitSignal(window.run_refused, timeout=5000):
        window.run_button.click()
    assert asked[0].startswith("Your token expired 3 h ago; send anyway?")
    assert gateway.queue_posts == []

    monkeypatch.setattr(
        QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes
    )
    with qtbot.waitSignal(window.run_finished, timeout=5000) as blocker:
        window.run_button.click()
    assert len(gateway.queue_posts) == 1
    assert blocker.args[0].outcome.category is Category.AUTH


def test_plain_http_to_a_remote_host_is_refused_with_the_core_message(
    qtbot, add_profile, open_gui
):
    add_profile(PROFILE, "http://gateway.example.test/api", default_user=1)
    window = open_gui().window
    assert "plain_http" in window.banners.shown_keys()
    window.plan_field.set_text("681")
    with qtbot.waitSignal(window.run_refused, timeout=5000) as blocker:
        window.run_button.click()
    assert (
        "will not send your token unencrypted to gateway.example.test"
        in (blocker.args[0])
    )
    assert window.result.state == "not_sent"
    assert window.last_result is None


def test_a_missing_token_refuses_the_run_and_says_how_to_fix_it(
    qtbot, gateway, add_profile, open_gui
):
    add_profile(PROFILE, gateway.url, token=None, default_user=1)
    window = open_gui().window
    window.plan_field.set_text("681")
    with qtbot.waitSignal(window.run_refused, timeout=5000) as blocker:
        window.run_button.click()
    assert "No token is stored" in blocker.args[0]
    assert gateway.queue_posts == []


def test_run_again_fills_the_form_and_sends_nothing(
    qtbot, gateway, add_profile, open_gui, press_run
):
    add_profile(PROFILE, gateway.url)
    add_profile("Other", gateway.url)
    gui = open_gui()
    window = gui.window
    window.select_profile(PROFILE)
    window.plan_field.set_text("42")
    window.user_field.set_text("7")
    press_run(window)
    window.select_profile("Other")
    window.plan_field.set_text("")

    if window.recent_runs is not None:
        assert not window.recent_runs.rerun_button.isEnabled()
        window.recent_runs.list.setCurrentRow(0)
        window.recent_runs.rerun_button.click()
    else:
        newest = gui.history.page(HistoryFilter(), limit=1)[0]
        window.history_view.rerun_requested.emit(newest)
    qtbot.wait(50)
    assert window.current_profile_name() == PROFILE
    assert window.plan_field.value() == 42
    assert window.user_field.value() == 7
    assert len(gateway.queue_posts) == 1
    assert not window.running


def test_copy_summary_puts_the_outcome_summary_on_the_clipboard(
    qtbot, gateway, add_profile, open_gui, press_run
):
    from PySide6.QtGui import QGuiApplication

    add_profile(PROFILE, gateway.url, default_user=1)
    window = open_gui().window
    window.plan_field.set_text("681")
    result = press_run(window)
    window.result.copy_button.click()
    assert QGuiApplication.clipboard().text() == result.outcome.summary()
    assert "demo-token" not in QGuiApplication.clipboard().text()
    QGuiApplication.clipboard().clear()


def test_an_auth_outcome_offers_to_set_the_token(
    qtbot, gateway, add_profile, open_gui, press_run, monkeypatch
):
    add_profile(PROFILE, gateway.url, default_user=1, token="wrong-token")
    window = open_gui().window
    opened = []
    monkeypatch.setattr(
        window,
        "open_settings",
        lambda name=None, focus=None: opened.append((name, focus)),
    )
    window.plan_field.set_text("681")
    press_run(window)
    assert window.result.fix_button.isVisibleTo(window)
    window.result.fix_button.click()
    assert opened == [(PROFILE, "token")]


def test_a_run_finished_in_the_background_notifies(
    qtbot, gateway, add_profile, open_gui, press_run, monkeypatch
):
    add_profile(PROFILE, gateway.url, default_user=1)
    window = open_gui().window
    notified = []
    monkeypatch.setattr(window, "isActiveWindow", lambda: False)
    monkeypatch.setattr(window.notifier, "notify", lambda *args: notified.append(args))
    window.plan_field.set_text("681")
    press_run(window)
    assert notified == [
        ("Plan Runner: Queued", "Plan 681 was queued for user 1", False)
    ]


def test_the_profile_picker_shows_host_colour_and_title(gateway, add_profile, open_gui):
    add_profile(PROFILE, gateway.url, colour="#cf3b3b")
    add_profile("Prod", "https://gw.prod.example.test/api", critical=True)
    window = open_gui().window
    labels = [
        window.profile_combo.itemText(i) for i in range(window.profile_combo.count())
    ]
    assert f"{PROFILE}  —  127.0.0.1:{gateway.port}" in labels
    assert "Prod  —  gw.prod.example.test" in labels
    window.select_profile(PROFILE)
    # The app's name comes last: Qt appends the display name to a title that
    # does not already end with it, which named the app twice on X11.
    assert window.windowTitle() == f"{PROFILE} — Plan Runner"
    assert "#cf3b3b" in window.band.styleSheet()
    window.select_profile("Prod")
    assert "Asks before each run" in window.profile_hint.text()
    assert "demo-token" not in window.windowTitle()


def test_about_names_version_folders_and_keyring(open_gui, paths, secrets):
    from app import __version__

    window = open_gui().window
    text = window.about_text()
    assert __version__ in text
    assert str(paths.config_dir) in text
    assert str(paths.data_dir) in text
    assert secrets.backend_name in text


def test_without_a_history_the_session_list_offers_run_again(
    qtbot, gateway, add_profile, open_gui, press_run, paths
):
    add_profile(PROFILE, gateway.url, default_user=1)
    paths.data_dir.parent.mkdir(parents=True, exist_ok=True)
    paths.data_dir.write_text("not a folder", encoding="utf-8")
    gui = open_gui()
    window = gui.window
    assert gui.history is None
    notices = [key for key in window.banners.shown_keys() if key.startswith("notice")]
    assert notices
    assert "not recorded" in window.banners.banner(notices[0]).label.text()
    assert window.recent_runs is not None

    window.plan_field.set_text("42")
    press_run(window)
    window.plan_field.set_text("")
    window.recent_runs.list.setCurrentRow(0)
    window.recent_runs.rerun_button.click()
    assert window.plan_field.value() == 42
    assert len(gateway.queue_posts) == 1


def test_tab_never_stops_on_the_form_s_scroll_area(
    qtbot, gateway, add_profile, open_gui
):
    add_profile(PROFILE, gateway.url)
    window = open_gui().window
    window.activateWindow()
    window.profile_combo.setFocus()
    area = window.splitter.widget(0)
    visited = []
    for _ in range(25):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget())
    # Tab still reaches the fields (the plan's editor sits inside its field).
    assert any(
        w is window.plan_field or window.plan_field.isAncestorOf(w)
        for w in visited
        if w is not None
    )
    assert area not in visited
