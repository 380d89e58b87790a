"""The settings dialog: profiles, their URL and token, locks and the catalogue."""

from __future__ import annotations

import json

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit

from app.core.settings import CatalogueEntry
from app.gui.catalogue import Catalogue, from_csv, to_csv
from app.gui.settings_dialog import LOCKED_TOOLTIP

SECRET = "stage-token-1234567890"


@pytest.fixture
def open_dialog(qtbot):
    def open_(window, profile=None, **kwargs):
        dialog = window.make_settings_dialog(profile, **kwargs)
        if window.current_profile() is not None or profile is not None:
            with qtbot.waitSignal(dialog.connection_loaded, timeout=5000):
                dialog.show()
        else:
            dialog.show()
        return dialog

    return open_


def test_a_new_profile_keeps_url_and_token_in_the_keyring_not_the_file(
    qtbot, open_gui, open_dialog, keyring_backend, paths
):
    window = open_gui().window
    dialog = open_dialog(window)
    dialog.name_edit.setText("Staging")
    dialog.url_edit.setText("https://gw.stage.example.test/api/v2/")
    assert dialog.url_hint.text() == (
        "Runs go to https://gw.stage.example.test/api/v2/queue"
    )
    qtbot.keyClicks(dialog.token_edit, SECRET)
    assert dialog.token_edit.echoMode() == QLineEdit.EchoMode.Password
    assert SECRET not in dialog.token_hint.text()
    assert dialog.save_button.isEnabled()

    with qtbot.waitSignal(dialog.finished, timeout=5000):
        dialog.save_button.click()

    assert keyring_backend.entry("Staging") == {
        "gateway_url": "https://gw.stage.example.test/api/v2",
        "token": SECRET,
    }
    settings_text = paths.settings_file.read_text(encoding="utf-8")
    assert "Staging" in settings_text
    assert SECRET not in settings_text
    assert "gw.stage.example.test" not in settings_text
    qtbot.waitUntil(lambda: window.current_profile_name() == "Staging", timeout=3000)


def test_a_pasted_token_loses_its_bearer_prefix_and_line_break(
    qtbot, open_gui, open_dialog, keyring_backend
):
    window = open_gui().window
    dialog = open_dialog(window)
    QGuiApplication.clipboard().setText(f"Bearer {SECRET}\n")
    dialog.token_edit.setFocus()
    dialog.token_edit.paste()
    assert dialog.token_edit.text() == SECRET
    assert dialog.token_hint.text().startswith("Cleaned:")
    assert SECRET not in dialog.token_hint.text()

    dialog.token_edit.setText(f'  "Authorization: Bearer {SECRET}"\r\n')
    assert dialog.token_edit.text() == SECRET

    dialog.name_edit.setText("Pasted")
    dialog.url_edit.setText("https://gw.example.test")
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        dialog.save_button.click()
    assert keyring_backend.entry("Pasted")["token"] == SECRET
    QGuiApplication.clipboard().clear()


def test_a_broken_token_says_where_without_echoing_it_and_blocks_save(
    open_gui, open_dialog
):
    dialog = open_dialog(open_gui().window)
    dialog.name_edit.setText("Broken")
    dialog.url_edit.setText("https://gw.example.test")
    dialog.token_edit.setText("abc def")
    assert "a space (at position 4 of 7)" in dialog.token_hint.text()
    assert "abc def" not in dialog.token_hint.text()
    assert not dialog.save_button.isEnabled()


def test_the_show_toggle_reveals_the_token_in_the_field_only(open_gui, open_dialog):
    dialog = open_dialog(open_gui().window)
    dialog.token_edit.setText(SECRET)
    dialog.show_token.setChecked(True)
    assert dialog.token_edit.echoMode() == QLineEdit.EchoMode.Normal
    dialog.show_token.setChecked(False)
    assert dialog.token_edit.echoMode() == QLineEdit.EchoMode.Password


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gw.example.test", "needs a scheme"),
        ("ftp://gw.example.test", "must start with https:// or http://"),
        ("https://user:pw@gw.example.test", "Remove the user name and password"),
    ],
)
def test_a_gateway_url_is_checked_as_typed(open_gui, open_dialog, url, message):
    dialog = open_dialog(open_gui().window)
    dialog.name_edit.setText("X")
    dialog.url_edit.setText(url)
    assert message in dialog.url_hint.text()
    assert not dialog.save_button.isEnabled()


def test_the_dialog_says_where_url_and_token_are_stored(open_gui, open_dialog, secrets):
    dialog = open_dialog(open_gui().window)
    assert dialog.stored_in.text() == f"Stored in: {secrets.backend_name}"


def test_editing_loads_the_stored_connection_and_renaming_moves_it(
    qtbot, gateway, add_profile, open_gui, open_dialog, keyring_backend
):
    add_profile("Old name", gateway.url, default_user=1)
    window = open_gui().window
    dialog = open_dialog(window, "Old name")
    assert dialog.url_edit.text() == gateway.url
    assert dialog.token_edit.text() == ""
    assert "A token is stored (10 characters" in dialog.token_hint.text()
    dialog.name_edit.setText("New name")
    dialog.critical.setChecked(True)
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        dialog.save_button.click()
    assert keyring_backend.entry("Old name") is None
    assert keyring_backend.entry("New name")["token"] == "demo-token"
    qtbot.waitUntil(lambda: window.current_profile_name() == "New name", timeout=3000)
    assert window.current_profile().critical


def test_remove_token_forgets_the_token_and_keeps_the_url(
    qtbot, gateway, add_profile, open_gui, open_dialog, keyring_backend
):
    add_profile("Stage", gateway.url)
    window = open_gui().window
    dialog = open_dialog(window, "Stage")
    with qtbot.waitSignal(dialog.profiles_changed, timeout=5000):
        dialog.remove_token.click()
    assert keyring_backend.entry("Stage") == {
        "gateway_url": gateway.url,
        "token": None,
    }
    assert dialog.token_hint.text().startswith("No token is stored")
    with qtbot.waitSignal(window.connections_loaded, timeout=5000):
        pass
    assert "token" in window.banners.shown_keys()


def test_a_failed_save_keeps_the_dialog_open_with_the_reason(
    qtbot, open_gui, open_dialog, keyring_backend
):
    def locked(*_args):
        raise RuntimeError("Cannot create an item in a locked collection")

    keyring_backend.set_password = locked
    dialog = open_dialog(open_gui().window)
    dialog.name_edit.setText("Stage")
    dialog.url_edit.setText("https://gw.example.test")
    dialog.token_edit.setText(SECRET)
    with qtbot.waitSignal(dialog.save_failed, timeout=5000) as blocker:
        dialog.save_button.click()
    assert "Unlock the keyring and try again." in blocker.args[0]
    assert SECRET not in blocker.args[0]
    assert dialog.isVisible()
    assert dialog.error.isVisibleTo(dialog)


def test_fields_locked_by_policy_are_disabled_with_a_lock(open_gui, open_dialog, paths):
    paths.policy_file.parent.mkdir(parents=True, exist_ok=True)
    paths.policy_file.write_text(
        json.dumps(
            {
                "profiles": [
                    {
                        "name": "Production",
                        "gateway_url": "https://gw.prod.example.test",
                        "critical": True,
                    }
                ],
                "locked": ["profiles.gateway_url", "profiles.critical"],
            }
        ),
        encoding="utf-8",
    )
    window = open_gui().window
    dialog = open_dialog(window, "Production")
    assert dialog.url_edit.text() == "https://gw.prod.example.test"
    for widget in (dialog.url_edit, dialog.critical, dialog.name_edit):
        assert not widget.isEnabled()
        assert widget.toolTip() == LOCKED_TOOLTIP
    assert dialog._locks["gateway_url"].isVisibleTo(dialog)
    assert dialog.timeout_spin.isEnabled()
    assert dialog.token_edit.isEnabled()


def test_the_catalogue_round_trips_through_csv(tmp_path, qtbot):
    from app.gui.catalogue import CatalogueEditor

    catalogue = Catalogue(
        plans=[
            CatalogueEntry(id=681, name="Smoke suite", favourite=True),
            CatalogueEntry(id=9007199254740993, name='Big, "quoted" plan'),
        ],
        users=[CatalogueEntry(id=1, name="Ada (QA lead)")],
    )
    text = to_csv(catalogue)
    assert text.splitlines()[0] == "kind,id,name,favourite"
    assert from_csv(text) == (catalogue, [])

    editor = CatalogueEditor()
    qtbot.addWidget(editor)
    editor.set_catalogue(catalogue)
    target = tmp_path / "catalogue.csv"
    editor.export_file(str(target))
    editor.set_catalogue(Catalogue())
    editor.import_file(str(target))
    assert editor.catalogue() == catalogue


def test_a_csv_import_skips_bad_rows_and_says_which():
    text = (
        "kind,id,name,favourite\n"
        "plan,42,Checkout,yes\n"
        "plan,0,Zero,no\n"
        "robot,1,Bender,no\n"
        f"user,{2**63},Too big,no\n"
        "user,7,Linus,maybe\n"
        "user,2,Grace,\n"
    )
    catalogue, problems = from_csv(text)
    assert [(e.id, e.name, e.favourite) for e in catalogue.plans] == [
        (42, "Checkout", True)
    ]
    assert [(e.id, e.name) for e in catalogue.users] == [(2, "Grace")]
    assert [p.split(":")[0] for p in problems] == [
        "Line 3",
        "Line 4",
        "Line 5",
        "Line 6",
    ]


def test_removing_a_profile_forgets_its_secrets(
    qtbot, gateway, add_profile, open_gui, open_dialog, keyring_backend, monkeypatch
):
    from PySide6.QtWidgets import QMessageBox

    add_profile("Stage", gateway.url)
    add_profile("Keep", gateway.url)
    window = open_gui().window
    dialog = open_dialog(window, "Stage")
    monkeypatch.setattr(
        QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes
    )
    with qtbot.waitSignal(dialog.profiles_changed, timeout=5000):
        dialog.remove_button.click()
    assert keyring_backend.entry("Stage") is None
    assert keyring_backend.entry("Keep") is not None
    qtbot.waitUntil(lambda: window.profile_combo.count() == 1, timeout=3000)
    assert window.current_profile_name() == "Keep"


@pytest.mark.parametrize(
    ("choice", "expected_token"), [("remove", None), ("keep", "demo-token")]
)
def test_a_new_gateway_origin_asks_before_the_token_goes_there(
    qtbot,
    gateway,
    add_profile,
    open_gui,
    open_dialog,
    keyring_backend,
    choice,
    expected_token,
):
    add_profile("Stage", gateway.url)
    dialog = open_dialog(open_gui().window, "Stage")
    asked = []
    dialog.ask_token_move = lambda *args: asked.append(args) or choice
    dialog.url_edit.setText("https://gw.prod.example.test/api")
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        dialog.save_button.click()
    old_origin = gateway.url.rstrip("/")
    assert asked == [("Stage", old_origin, "https://gw.prod.example.test")]
    assert keyring_backend.entry("Stage") == {
        "gateway_url": "https://gw.prod.example.test/api",
        "token": expected_token,
    }


def test_cancelling_the_token_question_saves_nothing(
    qtbot, gateway, add_profile, open_gui, open_dialog, keyring_backend
):
    add_profile("Stage", gateway.url)
    dialog = open_dialog(open_gui().window, "Stage")
    dialog.ask_token_move = lambda *args: None
    dialog.url_edit.setText("https://gw.prod.example.test/api")
    dialog.save_button.click()
    qtbot.wait(100)
    assert dialog.isVisible()
    assert keyring_backend.entry("Stage") == {
        "gateway_url": gateway.url,
        "token": "demo-token",
    }


@pytest.mark.parametrize("change", ["same origin", "new token"])
def test_no_question_when_the_token_stays_with_its_gateway(
    qtbot, gateway, add_profile, open_gui, open_dialog, keyring_backend, change
):
    add_profile("Stage", gateway.url)
    dialog = open_dialog(open_gui().window, "Stage")
    dialog.ask_token_move = lambda *args: pytest.fail(f"asked {args}")
    if change == "same origin":
        dialog.url_edit.setText(gateway.url.rstrip("/") + "/v2")
    else:
        dialog.url_edit.setText("https://gw.prod.example.test/api")
        qtbot.keyClicks(dialog.token_edit, SECRET)
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        dialog.save_button.click()
    entry = keyring_backend.entry("Stage")
    assert entry["token"] == ("demo-token" if change == "same origin" else SECRET)


def test_a_new_profile_cannot_take_the_name_of_one_that_exists(
    qtbot, gateway, add_profile, open_gui, open_dialog, keyring_backend
):
    add_profile("Stage", gateway.url, critical=True)
    window = open_gui().window
    dialog = open_dialog(window)
    dialog.ask_token_move = lambda *args: pytest.fail(f"asked {args}")
    dialog.add_button.click()
    window_profile = window.current_profile()
    dialog.name_edit.setText("Stage")
    dialog.url_edit.setText("https://evil.example.net")
    with qtbot.waitSignal(dialog.save_failed, timeout=5000) as failed:
        dialog.save_button.click()
    assert failed.args[0] == "A profile called 'Stage' exists already."
    assert dialog.isVisible()
    assert keyring_backend.entry("Stage") == {
        "gateway_url": gateway.url,
        "token": "demo-token",
    }
    assert window_profile.critical
