"""IDs are typed as text and checked over the whole Java Long range."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QEvent, QObject, Qt

from app.core.contract import LONG_MAX
from app.core.outcome import Category
from app.gui.id_field import Choice, IdField

PROFILE = "Stage"


@pytest.fixture
def window(gateway, add_profile, open_gui):
    add_profile(PROFILE, gateway.url, default_user=1)
    return open_gui().window


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a plan ID."),
        ("   ", "Enter a plan ID."),
        ("abc", "must be a whole number made of digits only (got 'abc')"),
        ("12a", "digits only"),
        ("-5", "digits only"),
        ("1e3", "digits only"),
        ("٣", "digits only"),
        ("0", "The plan ID must be 1 or more."),
        (str(2**63), f"too large: the gateway accepts at most {LONG_MAX}"),
        ("9" * 40, "too large"),
    ],
)
def test_an_invalid_plan_id_shows_why_under_the_field_and_disables_run(
    window, text, message
):
    window.plan_field.set_text(text)
    assert window.plan_field.value() is None
    assert message in window.plan_field.problem()
    assert message in window.plan_field.message.text()
    assert window.plan_field.message.isVisibleTo(window)
    assert not window.run_button.isEnabled()


@pytest.mark.parametrize("text", ["1", str(2**31), str(LONG_MAX), f"  {LONG_MAX} "])
def test_every_id_up_to_long_max_is_accepted(window, text):
    window.plan_field.set_text(text)
    assert window.plan_field.value() == int(text)
    assert window.plan_field.problem() is None
    assert window.run_button.isEnabled()


def test_an_invalid_user_id_disables_run_too(window):
    window.plan_field.set_text("681")
    assert window.run_button.isEnabled()
    window.user_field.set_text("0")
    assert not window.run_button.isEnabled()
    assert "The user ID must be 1 or more." in window.user_field.message.text()


def test_a_big_id_travels_digit_for_digit(window, gateway, press_run):
    window.plan_field.set_text("9007199254740993")
    result = press_run(window)
    body = gateway.queue_posts[0].body
    assert b'"planId":9007199254740993' in body
    assert json.loads(body)["planId"] == 9007199254740993
    assert result.outcome.category is Category.QUEUED


def test_typing_a_name_from_the_catalogue_picks_its_id(qtbot):
    field = IdField("plan")
    qtbot.addWidget(field)
    field.set_choices(
        [
            Choice(681, "Smoke suite", favourite=True),
            Choice(9007199254740993, "Big-ID plan"),
        ]
    )
    field.set_text("smoke SUITE")
    assert field.value() == 681
    field.set_text("Big-ID plan")
    assert field.value() == 9007199254740993
    field.set_text("681 — Smoke suite")
    assert field.value() == 681
    field.set_text("no such plan")
    assert field.value() is None
    assert "No plan in your list has that name either." in field.problem()


def test_favourites_come_first_and_recent_ids_last(qtbot):
    field = IdField("user")
    qtbot.addWidget(field)
    field.set_choices(
        [
            Choice(2, "Grace"),
            Choice(99, recent=True),
            Choice(1, "Ada", favourite=True),
            Choice(2, recent=True),
        ]
    )
    assert [c.id for c in field.choices()] == [1, 2, 99]
    assert field.combo.itemText(0) == "★ 1 — Ada"
    assert field.combo.itemText(2) == "99  (recent)"


def test_picking_from_the_list_puts_the_id_in_the_field(qtbot):
    field = IdField("plan")
    qtbot.addWidget(field)
    field.set_choices([Choice(681, "Smoke suite"), Choice(42, "Checkout")])
    field.combo.setCurrentIndex(0)
    field.combo.activated.emit(0)
    assert field.text() in {"681", "42"}
    assert field.value() == int(field.text())
    assert field.message.text() in {"Smoke suite", "Checkout"}


def test_the_window_offers_the_profile_catalogue_and_default_user(
    gateway, add_profile, open_gui
):
    from app.core.settings import CatalogueEntry

    add_profile(
        PROFILE,
        gateway.url,
        default_user=7,
        plans=[CatalogueEntry(id=681, name="Smoke suite", favourite=True)],
        users=[CatalogueEntry(id=7, name="Linus")],
    )
    window = open_gui().window
    assert window.user_field.value() == 7
    assert window.user_field.message.text() == "Linus"
    assert [c.name for c in window.plan_field.choices()] == ["Smoke suite"]


def test_an_untouched_empty_field_stays_quiet_until_typed_in(qtbot):
    field = IdField("plan")
    qtbot.addWidget(field)
    field.show()
    assert field.problem() == "Enter a plan ID."
    assert not field.message.isVisible()
    qtbot.keyClicks(field.combo.lineEdit(), "7")
    qtbot.keyClick(field.combo.lineEdit(), Qt.Key.Key_Backspace)
    assert field.message.isVisible()
    assert field.message.text() == "Enter a plan ID."


def test_offering_the_same_choices_again_leaves_the_list_and_the_text_alone(qtbot):
    field = IdField("plan")
    qtbot.addWidget(field)
    choices = [Choice(681, "Smoke suite", favourite=True), Choice(42, recent=True)]
    field.set_choices(choices)
    field.set_text("681")
    changes: list[str] = []
    model = field.combo.model()
    model.modelReset.connect(lambda: changes.append("reset"))
    model.rowsRemoved.connect(lambda *_: changes.append("removed"))
    model.rowsInserted.connect(lambda *_: changes.append("inserted"))

    field.set_choices(list(choices))
    assert changes == []
    assert (field.text(), field.value(), field.message.text()) == (
        "681",
        681,
        "Smoke suite",
    )

    field.set_choices([*choices, Choice(7, recent=True)])
    assert changes
    assert [c.id for c in field.choices()] == [681, 42, 7]
    assert field.text() == "681"


def test_the_message_is_restyled_only_when_its_colour_changes(qtbot):
    field = IdField("plan")
    qtbot.addWidget(field)
    field.show()
    field.set_text("1")
    restyles: list[QEvent.Type] = []

    class Watch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.StyleChange:
                restyles.append(event.type())
            return False

    watch = Watch(field)
    field.message.installEventFilter(watch)
    for text in ("12", "123", "1234"):
        field.set_text(text)
    assert restyles == []

    field.set_text("12a")
    assert restyles
    assert field.problem()
