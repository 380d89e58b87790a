"""The history view: pages fetched as scrolled, filters, and the row actions."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, QEvent, QModelIndex, QObject, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QTableView,
    QTabWidget,
    QWidget,
)
from samples import sample_outcome

from app.core.history import HistoryFilter, HistoryRow, HistoryStore
from app.core.outcome import Category, Outcome
from app.gui import history_view
from app.gui.history_view import (
    COL_OUTCOME,
    COL_PLAN,
    COL_TITLE,
    PAGE_SIZE,
    HistoryView,
)

LONG_MAX = 2**63 - 1
NOW = datetime.now(UTC).replace(microsecond=0)


def outcome(**changes: object) -> Outcome:
    return sample_outcome(NOW, **changes)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    opened = HistoryStore.open(tmp_path / "history.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def make_view(qtbot: Any, store: HistoryStore) -> Any:
    def make() -> HistoryView:
        view = HistoryView(store)
        qtbot.addWidget(view)
        view.resize(1200, 500)
        view.show()
        qtbot.waitExposed(view)
        return view

    return make


@pytest.fixture
def varied(store: HistoryStore) -> dict[str, int]:
    return {
        "old": store.record(
            outcome(started_at=NOW - timedelta(days=20)), plan_name="Nightly"
        ),
        "long": store.record(
            outcome(plan_id=LONG_MAX, started_at=NOW - timedelta(days=3)),
            plan_name="Smoke",
        ),
        "other_user": store.record(
            outcome(user_id=LONG_MAX, started_at=NOW - timedelta(days=2)),
            user_name="Grace",
        ),
        "auth": store.record(
            outcome(
                category=Category.AUTH,
                title="The token was refused",
                http_status=401,
                code=1000,
                started_at=NOW - timedelta(hours=5),
            )
        ),
        "eu": store.record(
            outcome(profile="qa-eu", started_at=NOW - timedelta(minutes=3))
        ),
    }


def shown_ids(view: HistoryView) -> list[int]:
    model = view.history_model
    return [model.row_at(n).id for n in range(model.rowCount())]  # type: ignore[union-attr]


def wait_for_ids(qtbot: Any, view: HistoryView, expected: list[int]) -> None:
    qtbot.waitUntil(lambda: shown_ids(view) == expected, timeout=3000)


def fill(store: HistoryStore, count: int) -> list[int]:
    return [
        store.record(outcome(plan_id=n + 1, started_at=NOW - timedelta(seconds=n)))
        for n in range(count)
    ]


def select(view: HistoryView, row_id: int) -> None:
    position = view.history_model.position_of(row_id)
    assert position is not None
    view.table.selectRow(position)


def scrolled_to_the_cap(
    qtbot: Any, store: HistoryStore, make_view: Any, monkeypatch: Any
) -> tuple[HistoryView, list[int]]:
    """A view of 2 pages of runs that may hold 1¼: scrolled until it holds all it may."""
    monkeypatch.setattr(history_view, "MAX_ROWS", PAGE_SIZE + 50)
    made = fill(store, 2 * PAGE_SIZE)
    view = make_view()
    view.table.scrollToBottom()
    qtbot.waitUntil(
        lambda: view.history_model.rowCount() == PAGE_SIZE + 50, timeout=3000
    )
    return view, made


# --- paging --------------------------------------------------------------------------


def test_model_fetches_one_page_at_a_time_as_the_table_scrolls(
    qtbot: Any, store: HistoryStore, make_view: Any
) -> None:
    made = fill(store, 2 * PAGE_SIZE + 50)
    view = make_view()
    model = view.history_model

    assert model.rowCount() == PAGE_SIZE
    assert model.canFetchMore(QModelIndex())
    assert view.status_label.text() == f"{PAGE_SIZE} of {len(made)} runs shown"

    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() == 2 * PAGE_SIZE, timeout=3000)
    model.fetchMore(QModelIndex())

    assert model.rowCount() == len(made)
    assert not model.canFetchMore(QModelIndex())
    assert shown_ids(view) == made  # newest first, each run once
    assert view.status_label.text() == f"{len(made)} runs"


def test_the_table_holds_at_most_max_rows_and_says_how_to_see_older_runs(
    qtbot: Any, store: HistoryStore, make_view: Any, monkeypatch: Any
) -> None:
    # Each fetched run costs the table memory: scrolling through a million
    # runs must not hold them all.
    view, made = scrolled_to_the_cap(qtbot, store, make_view, monkeypatch)
    model = view.history_model
    model.fetchMore(QModelIndex())

    assert model.rowCount() == PAGE_SIZE + 50
    assert shown_ids(view) == made[: PAGE_SIZE + 50]
    assert model.capped
    assert not model.canFetchMore(QModelIndex())
    assert view.status_label.text() == (
        f"The newest {PAGE_SIZE + 50} of {len(made)} runs are listed; "
        "set the dates or a filter to see older ones"
    )


def test_a_history_of_exactly_max_rows_is_all_shown(
    qtbot: Any, store: HistoryStore, make_view: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(history_view, "MAX_ROWS", PAGE_SIZE + 50)
    made = fill(store, PAGE_SIZE + 50)
    view = make_view()
    model = view.history_model

    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() == len(made), timeout=3000)

    assert not model.capped
    assert model.exhausted
    assert view.status_label.text() == f"{len(made)} runs"


def test_cells_show_long_ids_names_and_outcome_colour(
    store: HistoryStore, make_view: Any, varied: dict[str, int]
) -> None:
    view = make_view()
    model = view.history_model
    long_row = model.position_of(varied["long"])
    auth_row = model.position_of(varied["auth"])

    assert model.index(long_row, COL_PLAN).data() == f"{LONG_MAX} “Smoke”"
    assert model.index(auth_row, COL_OUTCOME).data() == "Not signed in"
    queued_colour = model.index(long_row, COL_OUTCOME).data(
        Qt.ItemDataRole.ForegroundRole
    )
    auth_colour = model.index(auth_row, COL_OUTCOME).data(
        Qt.ItemDataRole.ForegroundRole
    )
    assert queued_colour is not None
    assert queued_colour != auth_colour
    assert (
        not model.index(auth_row, COL_OUTCOME)
        .data(Qt.ItemDataRole.DecorationRole)
        .isNull()
    )


# --- filters -------------------------------------------------------------------------


def test_each_filter_narrows_the_rows(
    qtbot: Any, store: HistoryStore, make_view: Any, varied: dict[str, int]
) -> None:
    view = make_view()
    everything = [varied[k] for k in ("eu", "auth", "other_user", "long", "old")]
    assert shown_ids(view) == everything

    view.profile_combo.setCurrentIndex(view.profile_combo.findData("qa-eu"))
    assert shown_ids(view) == [varied["eu"]]
    view.profile_combo.setCurrentIndex(0)

    qtbot.keyClicks(view.plan_field, str(LONG_MAX))
    wait_for_ids(qtbot, view, [varied["long"]])
    view.plan_field.clear()
    qtbot.keyClicks(view.user_field, str(LONG_MAX))
    qtbot.keyClick(view.user_field, Qt.Key.Key_Return)
    assert shown_ids(view) == [varied["other_user"]]
    view.user_field.clear()
    qtbot.keyClick(view.user_field, Qt.Key.Key_Return)
    assert shown_ids(view) == everything

    view.outcome_combo.setCurrentIndex(view.outcome_combo.findData(Category.AUTH))
    assert shown_ids(view) == [varied["auth"]]
    view.outcome_combo.setCurrentIndex(0)

    qtbot.keyClicks(view.text_field, "grace")
    wait_for_ids(qtbot, view, [varied["other_user"]])
    view.text_field.clear()
    qtbot.keyClick(view.text_field, Qt.Key.Key_Return)

    today = QDate.currentDate()
    view.from_date.setDate(today.addDays(-4))
    view.from_check.setChecked(True)
    assert shown_ids(view) == [varied[k] for k in ("eu", "auth", "other_user", "long")]
    view.to_date.setDate(today.addDays(-2))
    view.to_check.setChecked(True)
    assert shown_ids(view) == [varied["other_user"], varied["long"]]
    assert view.status_label.text() == "2 runs (filtered)"


def test_bad_ids_are_explained_as_typed_and_leave_the_rows_alone(
    qtbot: Any, make_view: Any, varied: dict[str, int]
) -> None:
    view = make_view()
    before = shown_ids(view)

    qtbot.keyClicks(view.plan_field, "12x")
    qtbot.waitUntil(view.problem_label.isVisible, timeout=3000)
    assert "whole number" in view.problem_label.text()
    assert shown_ids(view) == before
    assert view.filters() is None

    view.plan_field.clear()
    qtbot.keyClicks(view.plan_field, str(LONG_MAX + 1))
    qtbot.waitUntil(lambda: "too large" in view.problem_label.text(), timeout=3000)
    assert shown_ids(view) == before

    view.plan_field.clear()
    qtbot.keyClicks(view.plan_field, str(LONG_MAX))
    wait_for_ids(qtbot, view, [varied["long"]])
    assert not view.problem_label.isVisible()
    assert view.filters() == HistoryFilter(plan_id=LONG_MAX)


# --- actions -------------------------------------------------------------------------


def test_run_again_emits_the_row_with_its_long_ids(
    qtbot: Any, make_view: Any, varied: dict[str, int]
) -> None:
    view = make_view()
    assert not view.run_again_button.isEnabled()
    select(view, varied["long"])
    assert view.run_again_button.isEnabled()

    with qtbot.waitSignal(view.rerun_requested, timeout=2000) as blocker:
        view.run_again_button.click()

    row = blocker.args[0]
    assert isinstance(row, HistoryRow)
    assert row.id == varied["long"]
    assert row.plan_id == LONG_MAX

    with qtbot.waitSignal(view.rerun_requested, timeout=2000) as blocker:
        view.table.setFocus()
        qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert blocker.args[0].id == varied["long"]


def test_copy_summary_puts_the_summary_on_the_clipboard(
    make_view: Any, varied: dict[str, int]
) -> None:
    view = make_view()
    select(view, varied["auth"])

    view.copy_button.click()

    text = QGuiApplication.clipboard().text()
    assert text.startswith("The token was refused\n")
    assert "HTTP 401, code 1000" in text


def test_delete_asks_first_then_removes_the_run(
    monkeypatch: pytest.MonkeyPatch,
    store: HistoryStore,
    make_view: Any,
    varied: dict[str, int],
) -> None:
    view = make_view()
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def question(_parent: Any, title: str, *_args: Any) -> Any:
        asked.append(title)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    select(view, varied["auth"])

    view.delete_button.click()
    assert store.get(varied["auth"]) is not None
    assert varied["auth"] in shown_ids(view)

    view.delete_button.click()
    assert asked == ["Delete this run?", "Delete this run?"]
    assert store.get(varied["auth"]) is None
    assert varied["auth"] not in shown_ids(view)
    assert len(shown_ids(view)) == 4
    assert view.status_label.text() == "4 runs"
    assert view.selected_row() is not None  # the next run is selected


def test_clear_all_asks_then_empties_the_history(
    monkeypatch: pytest.MonkeyPatch,
    store: HistoryStore,
    make_view: Any,
    varied: dict[str, int],
) -> None:
    view = make_view()
    monkeypatch.setattr(
        QMessageBox, "question", lambda *_a: QMessageBox.StandardButton.Yes
    )

    view.clear_button.click()

    assert store.count(HistoryFilter()) == 0
    assert shown_ids(view) == []
    assert "Deleted 5 runs" in view.status_label.text()


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_export_writes_the_filtered_runs(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make_view: Any,
    varied: dict[str, int],
    suffix: str,
) -> None:
    view = make_view()
    view.outcome_combo.setCurrentIndex(view.outcome_combo.findData(Category.QUEUED))
    target = tmp_path / f"export{suffix}"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(target), "")
    )

    view.export_button.click()

    expected = [varied[k] for k in ("eu", "other_user", "long", "old")]
    if suffix == ".csv":
        with target.open(encoding="utf-8-sig", newline="") as stream:
            rows = list(csv.DictReader(stream))
        assert [int(row["id"]) for row in rows] == expected
        assert rows[2]["plan_id"] == str(LONG_MAX)
    else:
        document = json.loads(target.read_text(encoding="utf-8"))
        assert [item["id"] for item in document] == expected
        assert document[2]["plan_id"] == LONG_MAX
    assert not target.with_name(target.name + ".partial").exists()
    assert f"Exported 4 runs to {target}" in view.status_label.text()


def exported_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "history.sqlite3" not in p.name)


def test_export_cancelled_in_the_file_dialog_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_view: Any
) -> None:
    view = make_view()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: ("", ""))
    view.export_button.click()
    assert exported_files(tmp_path) == []


def test_export_cancelled_while_writing_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    store: HistoryStore,
    make_view: Any,
) -> None:
    fill(store, 30)
    view = make_view()
    monkeypatch.setattr(history_view, "EXPORT_STEP", 10)
    monkeypatch.setattr(QProgressDialog, "wasCanceled", lambda _self: True)
    target = tmp_path / "export.json"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(target), "")
    )

    view.export_button.click()

    assert exported_files(tmp_path) == []
    assert "Exported" not in view.status_label.text()


def test_export_without_a_suffix_follows_the_chosen_type(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    store: HistoryStore,
    make_view: Any,
) -> None:
    fill(store, 25)
    view = make_view()
    monkeypatch.setattr(history_view, "EXPORT_STEP", 10)
    monkeypatch.setattr(
        QFileDialog,
        "getSaveFileName",
        lambda *_a, **_k: (str(tmp_path / "runs"), "JSON (*.json)"),
    )

    view.export_button.click()

    assert exported_files(tmp_path) == ["runs.json"]
    assert len(json.loads((tmp_path / "runs.json").read_text("utf-8"))) == 25


def test_refresh_shows_a_new_run_and_keeps_the_selection(
    store: HistoryStore, make_view: Any, varied: dict[str, int]
) -> None:
    view = make_view()
    select(view, varied["long"])

    added = store.record(outcome(profile="perf"))
    view.refresh()

    assert shown_ids(view)[0] == added
    assert view.selected_row() is not None
    assert view.selected_row().id == varied["long"]  # type: ignore[union-attr]
    assert view.profile_combo.findData("perf") > 0


def test_a_run_keeps_the_selection_of_a_run_far_below_the_first_page(
    qtbot: Any, store: HistoryStore, make_view: Any
) -> None:
    # Copy summary, Run again and Delete act on the selected run: after a run
    # it must still be the one the person picked.
    made = fill(store, 2 * PAGE_SIZE + 50)
    view = make_view()
    model = view.history_model
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    picked = made[PAGE_SIZE + 40]
    select(view, picked)

    added = store.record(outcome(started_at=NOW + timedelta(seconds=1)))
    view.refresh()

    assert shown_ids(view) == [added, *made]
    assert view.selected_row() is not None
    assert view.selected_row().id == picked  # type: ignore[union-attr]
    assert view.status_label.text() == f"{len(made) + 1} runs"


def test_a_selected_run_let_go_at_the_cap_leaves_nothing_selected(
    qtbot: Any, store: HistoryStore, make_view: Any, monkeypatch: Any
) -> None:
    view, made = scrolled_to_the_cap(qtbot, store, make_view, monkeypatch)
    model = view.history_model
    select(view, made[PAGE_SIZE + 49])  # the oldest run held

    added = store.record(outcome(started_at=NOW + timedelta(seconds=1)))
    view.refresh()

    assert shown_ids(view) == [added, *made[: PAGE_SIZE + 49]]
    assert model.capped
    assert view.selected_row() is None
    assert not view.delete_action.isEnabled()


def test_every_control_has_an_accessible_name(make_view: Any) -> None:
    view = make_view()
    kinds = (QLineEdit, QComboBox, QPushButton, QCheckBox, QDateEdit, QTableView)
    controls = [
        widget
        for kind in kinds
        for widget in view.findChildren(kind)
        if widget.parent() is view
    ]
    assert len(controls) >= 14
    assert [w for w in controls if not w.accessibleName()] == []


def test_a_run_whose_time_cannot_be_read_shows_unknown(qtbot, tmp_path):
    import sqlite3

    from app.core.history import HistoryStore
    from app.gui.history_view import HistoryView

    path = tmp_path / "history.sqlite3"
    with HistoryStore.open(path) as store:
        store.record(outcome())
    connection = sqlite3.connect(path)
    connection.execute("UPDATE runs SET started_at = 'abc'")
    connection.commit()
    connection.close()
    with HistoryStore.open(path) as store:
        view = HistoryView(store)
        qtbot.addWidget(view)
        index = view.history_model.index(0, 0)
        assert view.history_model.data(index) == "unknown"


def test_columns_fit_the_newest_run_after_a_refresh(qtbot, tmp_path):
    from app.core.history import HistoryStore
    from app.gui.history_view import COL_TITLE, HistoryView

    with HistoryStore.open(tmp_path / "history.sqlite3") as store:
        view = HistoryView(store)
        qtbot.addWidget(view)
        view.show()
        store.record(
            outcome(profile="a rather long profile name"), plan_name="Smoke suite"
        )
        view.refresh()
        for column in range(view.history_model.columnCount()):
            if column != COL_TITLE:
                assert view.table.columnWidth(column) >= view.table.sizeHintForColumn(
                    column
                ), column


# --- after a run: little work on the GUI thread --------------------------------------


class Worker:
    """A stand-in for ``TaskRunner.submit``: runs the jobs when told to."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, Any, Any]] = []

    def __call__(
        self,
        name: str,
        function: Any,
        *,
        on_finished: Any = None,
        on_failed: Any = None,
    ) -> None:
        self.jobs.append((function, on_finished, on_failed))

    def finish(self) -> None:
        while self.jobs:
            function, on_finished, on_failed = self.jobs.pop(0)
            try:
                result = function()
            except Exception as error:  # noqa: BLE001 - handed on like TaskRunner
                on_failed(error)
            else:
                on_finished(result)


class Events(QObject):
    """Counts the events of one type a widget gets."""

    def __init__(self, widget: QWidget, kind: QEvent.Type) -> None:
        super().__init__(widget)
        self.kind = kind
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == self.kind:
            self.count += 1
        return False


def test_a_refresh_after_a_run_inserts_its_row_rather_than_reloading(
    store: HistoryStore, make_view: Any, varied: dict[str, int]
) -> None:
    view = make_view()
    select(view, varied["long"])
    model = view.history_model
    changes: list[object] = []
    model.modelReset.connect(lambda: changes.append("reset"))
    model.rowsInserted.connect(
        lambda _parent, first, last: changes.append((first, last))
    )

    added = store.record(outcome(profile="perf"))
    view.refresh()

    assert changes == [(0, 0)]
    assert shown_ids(view)[:2] == [added, varied["eu"]]
    assert view.selected_row().id == varied["long"]  # type: ignore[union-attr]
    assert view.status_label.text() == "6 runs"


def test_a_refresh_shows_runs_removed_behind_the_views_back(
    store: HistoryStore, make_view: Any, varied: dict[str, int]
) -> None:
    view = make_view()

    # The retention keeps the newest runs: the oldest goes as a new one comes.
    added = store.record(outcome(profile="perf"))
    store.prune(None, 5)
    view.refresh()
    kept = [added, *(varied[k] for k in ("eu", "auth", "other_user", "long"))]
    assert shown_ids(view) == kept
    assert view.status_label.text() == "5 runs"

    store.delete(varied["auth"])  # as another process would
    view.refresh()
    assert shown_ids(view) == [i for i in kept if i != varied["auth"]]
    assert view.status_label.text() == "4 runs"


def test_after_a_run_a_big_history_is_counted_on_the_worker(
    qtbot: Any, store: HistoryStore
) -> None:
    made = len(fill(store, PAGE_SIZE + 50))
    worker = Worker()
    view = HistoryView(store, submit=worker)
    qtbot.addWidget(view)
    assert view.status_label.text() == f"{PAGE_SIZE} of {made} runs shown"
    counted: list[HistoryFilter] = []
    count = store.count
    store.count = lambda filters, **kw: counted.append(filters) or count(filters, **kw)  # type: ignore[method-assign]

    store.record(outcome())
    view.refresh()
    assert counted == []  # not on the GUI thread
    assert view.status_label.text() == f"{PAGE_SIZE + 1} of {made + 1} runs shown"

    # Another run while the count is on its way: that count is stale.
    store.record(outcome())
    view.refresh()
    assert len(worker.jobs) == 1
    assert view.status_label.text() == f"{PAGE_SIZE + 2} of {made + 2} runs shown"

    # The worker's count also sees runs the retention removed.
    store.prune(None, PAGE_SIZE + 10)
    worker.finish()
    assert len(counted) == 2
    assert view.status_label.text() == f"{PAGE_SIZE + 2} of {PAGE_SIZE + 10} runs shown"


def test_a_new_status_does_not_lay_out_the_tabs_holding_the_view(
    qtbot: Any, store: HistoryStore
) -> None:
    fill(store, 12)
    tabs = QTabWidget()
    view = HistoryView(store)
    tabs.addTab(view, "History")
    qtbot.addWidget(tabs)
    tabs.resize(1200, 500)
    tabs.show()
    qtbot.waitExposed(tabs)
    qtbot.wait(20)
    laid_out = Events(tabs, QEvent.Type.LayoutRequest)

    store.record(outcome())
    view.refresh()
    qtbot.wait(20)

    assert view.status_label.text() == "13 runs"
    assert laid_out.count == 0  # a tab widget repaints all it holds when laid out


def test_a_status_that_needs_more_room_still_asks_for_it(
    qtbot: Any, make_view: Any
) -> None:
    view = make_view()
    before = view.minimumSizeHint().width()
    view.status_label.setText("A status far longer than any the view shows. " * 12)
    qtbot.waitUntil(lambda: view.minimumSizeHint().width() > before, timeout=1000)


def test_a_refresh_leaves_the_profile_list_and_the_filter_fields_alone(
    qtbot: Any, store: HistoryStore, make_view: Any, varied: dict[str, int]
) -> None:
    view = make_view()
    changes: list[str] = []
    combo = view.profile_combo.model()
    combo.modelReset.connect(lambda: changes.append("reset"))
    combo.rowsRemoved.connect(lambda *_: changes.append("removed"))
    combo.rowsInserted.connect(lambda *_: changes.append("inserted"))
    restyled = [
        Events(widget, QEvent.Type.StyleChange)
        for widget in (view.problem_label, view.plan_field, view.user_field)
    ]

    store.record(outcome(profile="qa-eu"))
    view.refresh()
    assert changes == []
    assert [events.count for events in restyled] == [0, 0, 0]

    store.record(outcome(profile="perf"))
    view.refresh()
    assert view.profile_combo.findData("perf") > 0


def test_a_row_kept_with_a_huge_message_has_a_short_tooltip(
    store: HistoryStore, make_view: Any
) -> None:
    # Rows kept before gateway texts were capped can hold 200 kB in each text.
    huge = "words of the gateway " * 10_000
    made = store.record(outcome(message=huge, title=huge, advice=huge))
    view = make_view()
    model = view.history_model

    tooltip = model.index(model.position_of(made), COL_TITLE).data(
        Qt.ItemDataRole.ToolTipRole
    )

    assert "The gateway said: words of the gateway" in tooltip
    assert "more characters" in tooltip
    assert len(tooltip) < 2000
