"""The history of runs in the desktop app: filter, page through, act on a run.

The table reads the history a page at a time (keyset pagination through
:meth:`~app.core.history.HistoryStore.page`), so a history of a million runs
opens at once and holds only the pages scrolled to, up to :data:`MAX_ROWS`.
Reads and the quick deletes run on the GUI thread: each is one indexed query.
Counting the matching runs reads a whole index; after a run it goes to a
worker when the view has one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QGuiApplication,
    QIcon,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.contract import id_problem
from app.core.errors import HistoryError
from app.core.history import (
    UNKNOWN_TIME,
    Cursor,
    HistoryFilter,
    HistoryRow,
    HistoryStore,
    export_csv,
    export_json,
    iter_rows,
)
from app.core.outcome import Category, cut, one_line
from app.gui import icons, theme

if TYPE_CHECKING:
    from app.gui.status_panel import Submit

log = logging.getLogger(__name__)

FIT_ROWS = 20
"""How many of the newest rows the column widths are fitted to."""

REMEMBERED_WIDTHS = 512
"""How many measured cell widths the view keeps (see ``_width_wanted``)."""

PAGE_SIZE = 200
MAX_ROWS = 10_000
"""The most runs the table holds (about 1.5 KB each): scrolling stops there,
and the status line says to narrow the dates or the filters for older runs."""
FILTER_DELAY_MS = 300
EXPORT_STEP = 1000
TOOLTIP_CHARS = 600
"""The most of a row's title or advice a tooltip shows."""


@dataclass(frozen=True)
class _Column:
    title: str
    align_right: bool = False


COLUMNS = (
    _Column("Started"),
    _Column("Profile"),
    _Column("Plan"),
    _Column("User"),
    _Column("Outcome"),
    _Column("HTTP", align_right=True),
    _Column("Code", align_right=True),
    _Column("Title"),
    _Column("Duration", align_right=True),
)
(
    COL_STARTED,
    COL_PROFILE,
    COL_PLAN,
    COL_USER,
    COL_OUTCOME,
    COL_HTTP,
    COL_CODE,
    COL_TITLE,
    COL_DURATION,
) = range(len(COLUMNS))

ROW_ROLE = Qt.ItemDataRole.UserRole
"""The :class:`HistoryRow` of a model index."""


class HistoryModel(QAbstractTableModel):
    """The runs that match a filter, newest first, fetched a page at a time.

    Signals:
        load_failed(str): Reading the history failed; the message is for people.
    """

    load_failed = Signal(str)

    def __init__(
        self,
        store: HistoryStore,
        parent: QWidget | None = None,
        page_size: int = PAGE_SIZE,
        max_rows: int | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._page_size = page_size
        self._max_rows = MAX_ROWS if max_rows is None else max_rows
        self._filters = HistoryFilter()
        self._rows: list[HistoryRow] = []
        self._exhausted = True
        self._colours: dict[Category, QColor] = {}
        self._icons: dict[Category, QIcon] = {}

    @property
    def filters(self) -> HistoryFilter:
        """The filter in force."""
        return self._filters

    @property
    def exhausted(self) -> bool:
        """Whether every matching run has been fetched."""
        return self._exhausted

    @property
    def capped(self) -> bool:
        """Whether the table holds all it may, with older matching runs left out."""
        return not self._exhausted and len(self._rows) >= self._max_rows

    def set_filters(self, filters: HistoryFilter) -> None:
        """Show the runs that match ``filters``, from the newest."""
        self._filters = filters
        self.reload()

    def reload(self) -> None:
        """Drop the fetched pages and read the first one again."""
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self._rows = self._read_page(None)
        self.endResetModel()

    def refresh(self) -> int | None:
        """Read the first page again; return how many runs are new at its top.

        After a run, the first page is mostly the runs shown with the new one
        before them. Then the new runs are inserted and every row below stays
        (unless the first page holds every run left: rows below it are gone
        from the file), so the table keeps its selection and scroll position
        however far down they are; past the rows the table may hold, the
        oldest are let go. Otherwise (runs deleted in between, for instance)
        the model is reset, and None is returned.
        """
        shown = [row.id for row in self._rows]
        exhausted = self._exhausted
        self._exhausted = False
        page = self._read_page(None)
        read = [row.id for row in page]
        added = read.index(shown[0]) if shown and shown[0] in read else None
        if added is None or read[added:] != shown[: len(read) - added]:
            self.beginResetModel()
            self._rows = page
            self.endResetModel()
            return None
        kept = len(read) - added
        if kept < len(self._rows):
            if self._exhausted:
                # The page holds every run left: those held below it are gone
                # (the retention, or another process, removed them).
                self.beginRemoveRows(QModelIndex(), kept, len(self._rows) - 1)
                del self._rows[kept:]
                self.endRemoveRows()
            else:
                # The rows below the first page still follow it.
                self._exhausted = exhausted
        if added:
            self.beginInsertRows(QModelIndex(), 0, added - 1)
            self._rows[:0] = page[:added]
            self.endInsertRows()
        if len(self._rows) > self._max_rows:
            self.beginRemoveRows(QModelIndex(), self._max_rows, len(self._rows) - 1)
            del self._rows[self._max_rows :]
            self.endRemoveRows()
            self._exhausted = False
        return added

    def set_colours(self, colours: dict[Category, QColor]) -> None:
        """Set the colour of each outcome's text and icon (for the scheme in use)."""
        self._colours = colours
        self._icons = {
            category: icons.icon(icons.outcome_icon_name(category), colour)
            for category, colour in colours.items()
        }
        if self._rows:
            self.dataChanged.emit(
                self.index(0, COL_OUTCOME),
                self.index(len(self._rows) - 1, COL_OUTCOME),
            )

    def row_at(self, row: int) -> HistoryRow | None:
        """Return the run shown in ``row``, if any."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def position_of(self, row_id: int) -> int | None:
        """Return the model row of the run with ID ``row_id``, if fetched."""
        for position, row in enumerate(self._rows):
            if row.id == row_id:
                return position
        return None

    def remove_run(self, row_id: int) -> None:
        """Drop one run from the fetched rows (after it was deleted)."""
        position = self.position_of(row_id)
        if position is None:
            return
        self.beginRemoveRows(QModelIndex(), position, position)
        del self._rows[position]
        self.endRemoveRows()

    # Qt's model interface -----------------------------------------------------

    def rowCount(
        self, parent: QModelIndex | QPersistentModelIndex | None = None
    ) -> int:
        """Return how many runs have been fetched so far."""
        if parent is not None and parent.isValid():
            return 0
        return len(self._rows)

    def columnCount(
        self, parent: QModelIndex | QPersistentModelIndex | None = None
    ) -> int:
        """Return the number of columns."""
        if parent is not None and parent.isValid():
            return 0
        return len(COLUMNS)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        """Return the column titles."""
        if orientation is not Qt.Orientation.Horizontal or not 0 <= section < len(
            COLUMNS
        ):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _alignment(COLUMNS[section])
        return None

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        """Return what a cell shows."""
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell_text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _cell_tooltip(row, column)
        if role == ROW_ROLE:
            return row
        if column == COL_OUTCOME:
            colour = self._colours.get(row.outcome)
            if role == Qt.ItemDataRole.ForegroundRole and colour is not None:
                return colour
            if role == Qt.ItemDataRole.DecorationRole:
                return self._icons.get(row.outcome)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _alignment(COLUMNS[column])
        return None

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        """Return whether more matching runs are left to fetch, and room for them."""
        return not parent.isValid() and not self._exhausted and not self.capped

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        """Fetch the next page of runs, no further than the table may hold."""
        if not self.canFetchMore(parent):
            return
        limit = min(self._page_size, self._max_rows - len(self._rows))
        page = self._read_page(self._rows[-1].cursor if self._rows else None, limit)
        if page:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self._rows.extend(page)
            self.endInsertRows()

    def _read_page(
        self, before: Cursor | None, limit: int | None = None
    ) -> list[HistoryRow]:
        limit = limit or self._page_size
        try:
            # One run more than asked for tells whether older runs are left.
            page = self._store.page(self._filters, before=before, limit=limit + 1)
        except HistoryError as error:
            log.warning("Could not read the history: %s", error)
            self._exhausted = True
            self.load_failed.emit(str(error))
            return []
        if len(page) <= limit:
            self._exhausted = True
        return page[:limit]


class _StatusSlot(QWidget):
    """Holds the status line, so that a new status does not lay out the tab.

    A label whose text changes asks every layout up to the window to be redone,
    and the tab widget holding the view repaints everything in it when asked.
    The status changes after every run, mostly to a text just as wide. The slot
    has no layout: it places the label itself and passes a change of the
    label's size hints on only when there is one.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self._hints = (QSize(), QSize())

    def sizeHint(self) -> QSize:
        """Return the label's size hint."""
        self._hints = (self.label.sizeHint(), self.label.minimumSizeHint())
        return self._hints[0]

    def minimumSizeHint(self) -> QSize:
        """Return the label's minimum size hint."""
        self._hints = (self.label.sizeHint(), self.label.minimumSizeHint())
        return self._hints[1]

    def event(self, event: QEvent) -> bool:
        """Pass the label's new size hints on, when they are new."""
        if event.type() == QEvent.Type.LayoutRequest:
            hints = (self.label.sizeHint(), self.label.minimumSizeHint())
            if hints != self._hints:
                self.updateGeometry()
            return True
        return super().event(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Give the label the whole slot."""
        super().resizeEvent(event)
        self.label.setGeometry(self.rect())


class HistoryView(QWidget):
    """Every recorded run, with filters and the actions a person needs.

    The view does not own the store: whoever opened it closes it.

    Args:
        store: The history to show.
        parent: The parent widget.
        submit: Runs work off the GUI thread (``TaskRunner.submit``). Given,
            the runs are counted there after each run; without it, on the GUI
            thread.

    Signals:
        rerun_requested(object): The user wants to run a :class:`HistoryRow`
            again; the receiver puts it into the run form. An ``object``
            signal, because IDs go beyond the 32-bit ``int`` of Qt signals.
    """

    rerun_requested = Signal(object)

    def __init__(
        self,
        store: HistoryStore,
        parent: QWidget | None = None,
        *,
        submit: Submit | None = None,
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("History of runs")
        self._store = store
        self._submit = submit
        self._total: int | None = None
        self._total_version = 0
        self._widths: dict[tuple[bool, int, str], int] = {}
        self._counting = False
        self._count_again = False
        self.history_model = HistoryModel(store, self)
        self.history_model.load_failed.connect(self._on_history_model_load_failed)

        self._filter_timer = QTimer(self)
        self._filter_timer.setObjectName("historyFilterDelay")
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self._on_filter_timer_timeout)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(self._build_filters())
        self.problem_label = QLabel(self)
        self.problem_label.setAccessibleName("Filter problem")
        self.problem_label.setWordWrap(True)
        self.problem_label.hide()
        layout.addWidget(self.problem_label)
        layout.addWidget(self._build_table(), 1)
        layout.addLayout(self._build_actions())

        self._apply_colours()
        self._fill_profiles()
        self._apply_filters(force=True)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(
            COL_TITLE, QHeaderView.ResizeMode.Stretch
        )
        self._update_actions()

    # Building ----------------------------------------------------------------

    def _build_filters(self) -> QVBoxLayout:
        # Two rows: who and what ran, then text and dates; one row overlaps on
        # a window of ordinary width.
        row = QHBoxLayout()
        second = QHBoxLayout()

        self.profile_combo = QComboBox(self)
        self.profile_combo.setAccessibleName("Profile filter")
        self.profile_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToContents
        )
        self.profile_combo.currentIndexChanged.connect(
            self._on_profile_combo_current_index_changed
        )
        self._add_labelled(row, "Profi&le", self.profile_combo)

        self.plan_field = self._id_field("Plan ID filter", "any plan")
        self._add_labelled(row, "Pla&n", self.plan_field)
        self.user_field = self._id_field("User ID filter", "any user")
        self._add_labelled(row, "User &ID", self.user_field)

        self.outcome_combo = QComboBox(self)
        self.outcome_combo.setAccessibleName("Outcome filter")
        self.outcome_combo.addItem("All outcomes", None)
        for category in Category:
            self.outcome_combo.addItem(theme.CATEGORY_LABEL[category], category)
        self.outcome_combo.currentIndexChanged.connect(
            self._on_outcome_combo_current_index_changed
        )
        self._add_labelled(row, "Outco&me", self.outcome_combo)
        row.addStretch(1)

        self.text_field = QLineEdit(self)
        self.text_field.setAccessibleName("Text filter")
        self.text_field.setPlaceholderText("title, message, names, URL")
        self.text_field.setClearButtonEnabled(True)
        self.text_field.setMaxLength(200)
        self.text_field.textEdited.connect(self._on_filter_field_edited)
        self.text_field.returnPressed.connect(self._on_filter_timer_timeout)
        self._add_labelled(second, "&Text", self.text_field, stretch=2)

        today = QDate.currentDate()
        self.from_check = QCheckBox("Fr&om", self)
        self.from_check.setAccessibleName("Filter from a date")
        self.from_date = self._date_edit("From date", today.addDays(-7))
        self.to_check = QCheckBox("To", self)
        self.to_check.setAccessibleName("Filter up to a date")
        self.to_date = self._date_edit("To date (included)", today)
        for check, edit in (
            (self.from_check, self.from_date),
            (self.to_check, self.to_date),
        ):
            check.toggled.connect(edit.setEnabled)
            check.toggled.connect(self._on_date_filter_changed)
            edit.dateChanged.connect(self._on_date_filter_changed)
            second.addWidget(check)
            second.addWidget(edit)
        rows = QVBoxLayout()
        rows.addLayout(row)
        rows.addLayout(second)
        return rows

    def _add_labelled(
        self, row: QHBoxLayout, text: str, widget: QWidget, stretch: int = 0
    ) -> None:
        label = QLabel(text, self)
        label.setBuddy(widget)
        row.addWidget(label)
        row.addWidget(widget, stretch)

    def _id_field(self, name: str, placeholder: str) -> QLineEdit:
        # Plain text checked by the core: IDs reach 2^63-1, beyond Qt's int
        # validators and spin boxes.
        field = QLineEdit(self)
        field.setAccessibleName(name)
        field.setPlaceholderText(placeholder)
        field.setMaxLength(40)
        field.textEdited.connect(self._on_filter_field_edited)
        field.returnPressed.connect(self._on_filter_timer_timeout)
        return field

    def _date_edit(self, name: str, initial: QDate) -> QDateEdit:
        edit = QDateEdit(initial, self)
        edit.setAccessibleName(name)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setEnabled(False)
        return edit

    def _build_table(self) -> QTableView:
        self.table = QTableView(self)
        self.table.setAccessibleName("Runs")
        self.table.setModel(self.history_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setSortingEnabled(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(
            self.table.fontMetrics().height() + 10
        )
        self.table.horizontalHeader().setHighlightSections(False)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.table.activated.connect(self._on_table_activated)
        self.table.selectionModel().selectionChanged.connect(
            self._on_table_selection_changed
        )
        self.history_model.modelReset.connect(self._on_history_model_reset)
        self.history_model.rowsInserted.connect(self._on_history_model_rows_changed)
        self.history_model.rowsRemoved.connect(self._on_history_model_rows_removed)
        return self.table

    def _build_actions(self) -> QHBoxLayout:
        self.run_again_action = self._action(
            "Run a&gain", self._on_run_again_triggered, QKeySequence("Ctrl+Shift+R")
        )
        self.copy_action = self._action(
            "&Copy summary",
            self._on_copy_triggered,
            QKeySequence(QKeySequence.StandardKey.Copy),
            icon="copy",
        )
        self.delete_action = self._action(
            "&Delete…",
            self._on_delete_triggered,
            QKeySequence(QKeySequence.StandardKey.Delete),
        )
        separator = QAction(self)
        separator.setSeparator(True)
        self.table.addAction(separator)
        self.export_action = self._action("E&xport…", self._on_export_triggered)
        self.clear_action = self._action("Clear &all…", self._on_clear_triggered)

        row = QHBoxLayout()
        status = _StatusSlot(self)
        self.status_label = status.label
        self.status_label.setAccessibleName("History status")
        row.addWidget(status, 1)
        buttons = []
        for action, name in (
            (self.run_again_action, "Run again"),
            (self.copy_action, "Copy summary"),
            (self.delete_action, "Delete run"),
            (self.export_action, "Export history"),
            (self.clear_action, "Clear all history"),
        ):
            button = QPushButton(action.text(), self)
            button.setAccessibleName(name)
            button.setToolTip(action.toolTip())
            button.clicked.connect(action.trigger)
            row.addWidget(button)
            buttons.append(button)
        (
            self.run_again_button,
            self.copy_button,
            self.delete_button,
            self.export_button,
            self.clear_button,
        ) = buttons
        return row

    def _action(
        self,
        text: str,
        slot: Any,
        shortcut: QKeySequence | None = None,
        icon: str | None = None,
    ) -> QAction:
        action = QAction(text, self.table)
        if shortcut is not None:
            # Only while the table has focus: Ctrl+C in the text filter copies
            # the text, Delete there deletes a character.
            action.setShortcut(shortcut)
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.setToolTip(
                f"{text.replace('&', '').rstrip('…')} "
                f"({shortcut.toString(QKeySequence.SequenceFormat.NativeText)})"
            )
        if icon is not None:
            action.setIcon(icons.icon(icon, theme.glyph_colour(self)))
        action.triggered.connect(slot)
        self.table.addAction(action)
        return action

    # Public ------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the history again (after a run), keeping the selected run."""
        selected = self.selected_row()
        self._fill_profiles()
        filters, problems = self._read_fields()
        self._show_problems(problems)
        if filters is None:
            return
        if filters != self.history_model.filters:
            self.history_model.set_filters(filters)
        else:
            known = self._known_total()
            added = self.history_model.refresh()
            if added is not None:
                self._count_added(added, known)
        # After a run only the newest row is new: fit the columns to it alone.
        self._fit_columns(1)
        if selected is not None:
            self._select(selected.id)
            if self.history_model.position_of(selected.id) is None:
                # Qt moved the selection to a neighbour; acting on it would
                # act on another run.
                self.table.clearSelection()
                self._update_actions()

    def filters(self) -> HistoryFilter | None:
        """Return the filter the fields describe, or None while one is invalid."""
        filters, _problems = self._read_fields()
        return filters

    def selected_row(self) -> HistoryRow | None:
        """Return the run that is selected, if any."""
        index = self.table.currentIndex()
        if not index.isValid() or not self.table.selectionModel().isSelected(
            index.siblingAtColumn(0)
        ):
            return None
        return self.history_model.row_at(index.row())

    # Slots -------------------------------------------------------------------

    def _on_filter_field_edited(self, _text: str) -> None:
        self._filter_timer.start()

    def _on_filter_timer_timeout(self) -> None:
        self._filter_timer.stop()
        self._apply_filters()

    def _on_profile_combo_current_index_changed(self, _index: int) -> None:
        self._apply_filters()

    def _on_outcome_combo_current_index_changed(self, _index: int) -> None:
        self._apply_filters()

    def _on_date_filter_changed(self, *_args: object) -> None:
        self._apply_filters()

    def _on_table_activated(self, index: QModelIndex) -> None:
        row = self.history_model.row_at(index.row())
        if row is not None:
            self.rerun_requested.emit(row)

    def _on_table_selection_changed(self, *_args: object) -> None:
        self._update_actions()

    def _on_history_model_reset(self) -> None:
        self._set_total(self._count())
        self._update_status()
        self._update_actions()

    def _on_history_model_rows_changed(self, *_args: object) -> None:
        self._update_status()
        self._update_actions()

    def _on_history_model_rows_removed(self, *_args: object) -> None:
        self._update_status()
        self._update_actions()

    def _on_history_model_load_failed(self, message: str) -> None:
        self._show_problems([message])

    def _on_run_again_triggered(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.rerun_requested.emit(row)

    def _on_copy_triggered(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        QGuiApplication.clipboard().setText(row.summary())
        self.status_label.setText("Summary copied to the clipboard.")

    def _on_delete_triggered(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete this run?",
            f"Delete the run of plan {row.plan_id} for user {row.user_id} started "
            f"{row.started_text} from the history? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        position = self.table.currentIndex().row()
        try:
            self._store.delete(row.id)
        except HistoryError as error:
            self._show_error("The run could not be deleted", str(error))
            return
        if self._total is not None:
            self._set_total(self._total - 1)
        self.history_model.remove_run(row.id)
        self._select_position(min(position, self.history_model.rowCount() - 1))

    def _on_clear_triggered(self) -> None:
        answer = QMessageBox.question(
            self,
            "Clear the whole history?",
            "Delete every recorded run, whatever the filters show? This cannot be "
            "undone. Export the history first if you may need it.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            removed = self._store.clear()
        except HistoryError as error:
            self._show_error("The history could not be cleared", str(error))
            return
        self.refresh()
        self.status_label.setText(f"Deleted {removed:,} runs.")

    def _on_export_triggered(self) -> None:
        filters = self.filters()
        if filters is None:
            return
        name, chosen = QFileDialog.getSaveFileName(
            self,
            "Export the runs shown",
            str(Path.home() / f"plan-runner-history-{date.today().isoformat()}.csv"),
            "CSV for spreadsheets (*.csv);;JSON (*.json)",
        )
        if not name:
            return
        path = Path(name)
        as_json = path.suffix.lower() == ".json" or (
            not path.suffix and "json" in chosen.lower()
        )
        if not path.suffix:
            path = path.with_suffix(".json" if as_json else ".csv")
        try:
            written = self._export(path, filters, as_json)
        except (OSError, HistoryError) as error:
            self._show_error("The history could not be exported", str(error))
            return
        if written is not None:
            self.status_label.setText(f"Exported {written:,} runs to {path}.")

    # Helpers -----------------------------------------------------------------

    def _export(self, path: Path, filters: HistoryFilter, as_json: bool) -> int | None:
        """Write the matching runs to ``path``; None when the user cancelled.

        The rows are read page by page while a progress dialog keeps the window
        responsive; a cancelled export leaves no file behind.
        """
        progress = QProgressDialog("Exporting the history…", "Cancel", 0, 0, self)
        progress.setWindowTitle("Export")
        progress.setAccessibleName("Export progress")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(500)
        cancelled = False

        def rows() -> Any:
            nonlocal cancelled
            for count, row in enumerate(iter_rows(self._store, filters), 1):
                if count % EXPORT_STEP == 0:
                    progress.setLabelText(f"Exported {count:,} runs…")
                    progress.setValue(0)
                    if progress.wasCanceled():
                        cancelled = True
                        return
                yield row

        partial = path.with_name(path.name + ".partial")
        try:
            if as_json:
                with partial.open("w", encoding="utf-8") as stream:
                    written = export_json(rows(), stream)
            else:
                # utf-8-sig: spreadsheets then read the names and messages as
                # UTF-8 rather than the system's legacy code page.
                with partial.open("w", encoding="utf-8-sig", newline="") as stream:
                    written = export_csv(rows(), stream)
            if cancelled:
                partial.unlink(missing_ok=True)
                return None
            partial.replace(path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            progress.reset()
            progress.deleteLater()
        log.info("Exported %s runs of the history to %s", written, path)
        return written

    def _apply_filters(self, *, force: bool = False, fit_rows: int = FIT_ROWS) -> None:
        filters, problems = self._read_fields()
        self._show_problems(problems)
        if filters is None:
            return
        if not force and filters == self.history_model.filters:
            return
        self.history_model.set_filters(filters)
        self._fit_columns(fit_rows)

    def _fit_columns(self, fit_rows: int) -> None:
        # Columns grow to fit the newest rows, never shrink, so a width the user
        # widened is kept; the title takes what is left. Only the first rows are
        # measured: measuring every loaded row would stall the window after runs.
        rows = min(self.history_model.rowCount(), fit_rows)
        if rows == 0:
            return
        header = self.table.horizontalHeader()
        widened = False
        for column in range(self.history_model.columnCount()):
            if column == COL_TITLE:
                continue
            wanted = self._width_wanted(-1, column)
            for row in range(rows):
                wanted = max(wanted, self._width_wanted(row, column))
            if wanted > self.table.columnWidth(column):
                self.table.setColumnWidth(column, wanted)
                widened = True
        stretch = QHeaderView.ResizeMode.Stretch
        # Setting the mode again lays out and repaints the header and the rows.
        if widened or header.sectionResizeMode(COL_TITLE) != stretch:
            header.setSectionResizeMode(COL_TITLE, stretch)

    def _width_wanted(self, row: int, column: int) -> int:
        """Return the width a cell wants (row -1: the column's title).

        Widths are remembered by text: a new run mostly repeats the texts of
        the runs before it, and measuring a cell asks the model for each of
        its roles.
        """
        if row < 0:
            text = COLUMNS[column].title
        else:
            text = self.history_model.data(self.history_model.index(row, column))
        width = self._widths.get((row < 0, column, text))
        if width is None:
            if len(self._widths) >= REMEMBERED_WIDTHS:
                self._widths.clear()
            if row < 0:
                width = self.table.horizontalHeader().sectionSizeHint(column)
            else:
                index = self.history_model.index(row, column)
                grid = 1 if self.table.showGrid() else 0  # left out of the hint
                width = self.table.sizeHintForIndex(index).width() + grid
            self._widths[(row < 0, column, text)] = width
        return width

    def _read_fields(self) -> tuple[HistoryFilter | None, list[str]]:
        problems: list[str] = []
        plan_id = _typed_id(self.plan_field, "plan", problems)
        user_id = _typed_id(self.user_field, "user", problems)
        since = until = None
        if self.from_check.isChecked():
            since = _local_midnight(_day(self.from_date.date()))
        if self.to_check.isChecked():
            until = _local_midnight(_day(self.to_date.date()) + timedelta(days=1))
        if since is not None and until is not None and since >= until:
            problems.append("The From date is after the To date.")
        if problems:
            return None, problems
        filters = HistoryFilter(
            profile=self.profile_combo.currentData(),
            plan_id=plan_id,
            user_id=user_id,
            outcome=self.outcome_combo.currentData(),
            text=self.text_field.text().strip() or None,
            since=since,
            until=until,
        )
        return filters, problems

    def _show_problems(self, problems: list[str]) -> None:
        # Style sheets are set only when they change: setting one, even the
        # same, restyles the widget and lays out the whole tab again.
        colour = theme.tone("red", self).accent
        self.problem_label.setText(" ".join(problems))
        _set_style_sheet(self.problem_label, f"QLabel {{ color: {colour}; }}")
        self.problem_label.setVisible(bool(problems))
        for field in (self.plan_field, self.user_field):
            invalid = bool(field.property("invalid"))
            _set_style_sheet(
                field, f"QLineEdit {{ border: 1px solid {colour}; }}" if invalid else ""
            )

    def _show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    def _fill_profiles(self) -> None:
        current = self.profile_combo.currentData()
        try:
            names = self._store.profiles()
        except HistoryError as error:
            log.warning("Could not list the profiles of the history: %s", error)
            names = []
        if current is not None and current not in names:
            names.append(current)
        offered = [
            self.profile_combo.itemData(index)
            for index in range(1, self.profile_combo.count())
        ]
        if self.profile_combo.count() and offered == names:
            # Refilling the same names would resize the combo box and lay out
            # the whole tab again after every run.
            return
        self.profile_combo.blockSignals(True)
        try:
            self.profile_combo.clear()
            self.profile_combo.addItem("All profiles", None)
            for name in names:
                self.profile_combo.addItem(name, name)
            found = self.profile_combo.findData(current)
            self.profile_combo.setCurrentIndex(max(found, 0))
        finally:
            self.profile_combo.blockSignals(False)

    def _apply_colours(self) -> None:
        self.history_model.set_colours(
            {
                category: QColor(theme.category_tone(category, self).accent)
                for category in Category
            }
        )

    def _select(self, row_id: int) -> None:
        position = self.history_model.position_of(row_id)
        if position is not None:
            self._select_position(position)

    def _select_position(self, position: int) -> None:
        if position < 0:
            self._update_actions()
            return
        self.table.selectRow(position)
        self._update_actions()

    def _update_actions(self) -> None:
        has_row = self.selected_row() is not None
        for action in (self.run_again_action, self.copy_action, self.delete_action):
            action.setEnabled(has_row)
        for button in (self.run_again_button, self.copy_button, self.delete_button):
            button.setEnabled(has_row)

    def _known_total(self) -> int | None:
        """Return how many runs match, if known without counting."""
        if self.history_model.exhausted:
            return self.history_model.rowCount()
        return self._total

    def _set_total(self, total: int | None) -> None:
        # A count still on its way was started before this total: it is stale.
        self._total = total
        self._total_version += 1

    def _count_added(self, added: int, known: int | None) -> None:
        """Take ``added`` runs new at the top into the total shown.

        A count reads the whole index, milliseconds at a million runs, so with
        a worker to count on it does not run on the GUI thread after each run:
        the total is the known one plus the new runs at once, and the worker's
        count corrects it when runs went in between (removed by the retention
        or by another process).
        """
        model = self.history_model
        if self._submit is None or model.exhausted or model.filters.text:
            self._set_total(self._count())
        else:
            self._set_total(None if known is None else known + added)
            self._count_on_worker()
        self._update_status()

    def _count_on_worker(self) -> None:
        if self._counting:
            self._count_again = True
            return
        if self._submit is None:
            return
        self._counting, self._count_again = True, False
        filters, store = self.history_model.filters, self._store
        version = self._total_version
        self._submit(
            "count the history",
            lambda: (version, filters, store.count(filters)),
            on_finished=self._on_count_finished,
            on_failed=self._on_count_failed,
        )

    def _on_count_finished(self, result: tuple[int, HistoryFilter, int]) -> None:
        self._counting = False
        if self._count_again:
            self._count_on_worker()
            return
        version, filters, total = result
        model = self.history_model
        if (
            version == self._total_version
            and filters == model.filters
            and not model.exhausted
        ):
            self._set_total(total)
            self._update_status()

    def _on_count_failed(self, error: Exception) -> None:
        self._counting = False
        log.warning("Could not count the history: %s", error)
        if self._count_again:
            self._count_on_worker()

    def _count(self) -> int | None:
        """Return how many runs match, or None when counting would be slow."""
        filters = self.history_model.filters
        if self.history_model.exhausted or filters.text:
            # Counting text matches reads the whole history: not while typing.
            return None
        try:
            return self._store.count(filters)
        except HistoryError as error:
            log.warning("Could not count the history: %s", error)
            return None

    def _update_status(self) -> None:
        model = self.history_model
        shown = model.rowCount()
        filtered = " (filtered)" if model.filters != HistoryFilter() else ""
        if model.exhausted:
            text = f"{shown:,} run{'' if shown == 1 else 's'}{filtered}"
        elif model.capped:
            of_total = "" if self._total is None else f" of {self._total:,}"
            text = (
                f"The newest {shown:,}{of_total} runs are listed{filtered}; "
                "set the dates or a filter to see older ones"
            )
        elif self._total is None:
            text = f"{shown:,} runs shown{filtered}; scroll for more"
        else:
            text = f"{shown:,} of {self._total:,} runs shown{filtered}"
        self.status_label.setText(text)

    def changeEvent(self, event: QEvent) -> None:
        """Recolour the outcomes when the colour scheme changes."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._apply_colours()
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._widths.clear()


# Cells ----------------------------------------------------------------------------


def _cell_text(row: HistoryRow, column: int) -> str:
    if column == COL_STARTED:
        return row.started_text
    if column == COL_PROFILE:
        return row.profile or "—"
    if column == COL_PLAN:
        return _named(row.plan_id, row.plan_name)
    if column == COL_USER:
        return _named(row.user_id, row.user_name)
    if column == COL_OUTCOME:
        return theme.CATEGORY_LABEL[row.outcome]
    if column == COL_HTTP:
        return "—" if row.http_status is None else str(row.http_status)
    if column == COL_CODE:
        return "—" if row.code is None else str(row.code)
    if column == COL_TITLE:
        return " ".join(row.title.split())
    if column == COL_DURATION:
        return _duration(row.duration_ms)
    return ""


def _cell_tooltip(row: HistoryRow, column: int) -> str | None:
    if column == COL_STARTED:
        if row.started_at == UNKNOWN_TIME:
            return "The start time of this run could not be read."
        return f"{row.started_at.isoformat(timespec='milliseconds')} (UTC)"
    if column == COL_OUTCOME:
        return (
            f"{theme.CATEGORY_LABEL[row.outcome]} — may it have been queued? "
            f"{row.outcome.may_be_queued}"
        )
    if column in (COL_TITLE, COL_CODE, COL_HTTP):
        # Rows kept before gateway texts were capped can hold a huge message.
        said = f"\nThe gateway said: {one_line(row.message)}" if row.message else ""
        return (
            f"{cut(row.title, TOOLTIP_CHARS)}\n\n"
            f"Next: {cut(row.advice, TOOLTIP_CHARS)}{said}"
        )
    if column == COL_PROFILE:
        return row.gateway_url
    return None


def _set_style_sheet(widget: QWidget, sheet: str) -> None:
    if widget.styleSheet() != sheet:
        widget.setStyleSheet(sheet)


def _typed_id(field: QLineEdit, what: str, problems: list[str]) -> int | None:
    """Return the ID typed in ``field``; mark the field and note a problem."""
    text = field.text().strip()
    problem = id_problem(text, what) if text else None
    field.setProperty("invalid", problem is not None)
    field.setToolTip(problem or "")
    if problem is not None:
        problems.append(problem)
        return None
    return int(text) if text else None


def _named(entry_id: int, name: str | None) -> str:
    return f"{entry_id} “{name}”" if name else str(entry_id)


def _duration(ms: int) -> str:
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


def _alignment(column: _Column) -> Qt.AlignmentFlag:
    horizontal = (
        Qt.AlignmentFlag.AlignRight
        if column.align_right
        else Qt.AlignmentFlag.AlignLeft
    )
    return horizontal | Qt.AlignmentFlag.AlignVCenter


def _day(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone()
