"""Banners say what stands between the user and a run, and offer the fix."""

from __future__ import annotations

from app.core.secrets import SessionStore

PROFILE = "Stage"
REASON = (
    "No keyring is available: on Linux, start a Secret Service (GNOME Keyring or "
    "KWallet) in your desktop session."
)


def test_an_unavailable_keyring_shows_its_reason_and_session_only(open_gui, redactor):
    window = open_gui(SessionStore(redactor, REASON)).window
    banner = window.banners.banner("keyring")
    assert banner is not None
    assert banner.isVisibleTo(window)
    assert REASON in banner.label.text()
    assert "Tokens are kept for this session only" in banner.label.text()
    assert window.store_label.text() == "Tokens: memory (this session only)"


def test_a_missing_token_shows_a_banner_with_set_token(
    qtbot, gateway, add_profile, open_gui, monkeypatch
):
    add_profile(PROFILE, gateway.url, token=None)
    window = open_gui().window
    banner = window.banners.banner("token")
    assert banner is not None
    assert banner.isVisibleTo(window)
    assert f"No token is stored for {PROFILE!r}" in banner.label.text()
    assert banner.button is not None
    assert banner.button.text() == "Set token…"

    opened = []
    monkeypatch.setattr(
        window,
        "open_settings",
        lambda name=None, focus=None: opened.append((name, focus)),
    )
    # The banner's action was bound when it was made; rebuild to use the patch.
    window.banners.set_banners([])
    window._update_banners()
    window.banners.banner("token").button.click()
    assert opened == [(PROFILE, "token")]


def test_a_plain_http_gateway_allowed_by_the_profile_still_warns(
    gateway, add_profile, open_gui
):
    add_profile(PROFILE, "http://10.1.2.3:8080", allow_plain_http=True)
    window = open_gui().window
    banner = window.banners.banner("plain_http")
    assert banner is not None
    assert "sends your token unencrypted" in banner.label.text()


def test_an_unreadable_settings_file_is_reported(paths, open_gui):
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text("{not json", encoding="utf-8")
    window = open_gui().window
    texts = [
        window.banners.banner(key).label.text() for key in window.banners.shown_keys()
    ]
    assert any("is not valid JSON" in text for text in texts)
    assert "no_profile" in window.banners.shown_keys()


def test_no_profile_yet_offers_to_add_one_and_disables_run(open_gui):
    window = open_gui().window
    banner = window.banners.banner("no_profile")
    assert banner is not None
    assert banner.button.text() == "Add environment…"
    assert not window.run_button.isEnabled()


def test_a_healthy_profile_shows_no_banner(gateway, add_profile, open_gui):
    add_profile(PROFILE, gateway.url)
    window = open_gui().window
    assert window.banners.shown_keys() == []
    assert not window.banners.isVisibleTo(window)


def test_a_keyring_that_cannot_be_read_offers_to_try_again(
    qtbot, gateway, add_profile, open_gui, keyring_backend
):
    add_profile(PROFILE, gateway.url)
    real_get = keyring_backend.get_password

    def locked(*_args):
        raise RuntimeError("The collection is locked")

    keyring_backend.get_password = locked
    window = open_gui().window
    banner = window.banners.banner("keyring_read")
    assert banner is not None
    assert "Unlock the keyring and try again." in banner.label.text()
    assert f"{PROFILE}  —  keyring not readable" == window.profile_combo.itemText(0)

    keyring_backend.get_password = real_get
    with qtbot.waitSignal(window.connections_loaded, timeout=5000):
        banner.button.click()
    assert window.banners.shown_keys() == []
