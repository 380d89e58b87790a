"""The profile's catalogue of named plans and users: editing, CSV import and export.

The CSV has the columns ``kind,id,name,favourite``; ``kind`` is ``plan`` or
``user``, ``favourite`` is ``yes`` or ``no``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.contract import id_problem
from app.core.settings import CatalogueEntry
from app.gui import theme

COLUMNS = ("kind", "id", "name", "favourite")
KINDS = ("plan", "user")
_TRUE = {"yes", "y", "true", "1", "x", "★"}
_FALSE = {"no", "n", "false", "0", ""}


@dataclass
class Catalogue:
    """The named plans and users of one profile."""

    plans: list[CatalogueEntry] = field(default_factory=list)
    users: list[CatalogueEntry] = field(default_factory=list)

    def merged(self, other: Catalogue) -> Catalogue:
        """Return this catalogue with ``other``'s entries added or replacing."""
        return Catalogue(
            _merge(self.plans, other.plans), _merge(self.users, other.users)
        )


def _merge(
    mine: list[CatalogueEntry], theirs: list[CatalogueEntry]
) -> list[CatalogueEntry]:
    by_id = {entry.id: entry for entry in mine}
    for entry in theirs:
        by_id[entry.id] = entry
    return list(by_id.values())


def to_csv(catalogue: Catalogue) -> str:
    """Return the catalogue as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for kind, entries in (("plan", catalogue.plans), ("user", catalogue.users)):
        for entry in entries:
            writer.writerow(
                [kind, entry.id, entry.name, "yes" if entry.favourite else "no"]
            )
    return out.getvalue()


def from_csv(text: str) -> tuple[Catalogue, list[str]]:
    """Read a catalogue from CSV text; return it and the problems of skipped rows."""
    catalogue = Catalogue()
    problems: list[str] = []
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in ("kind", "id") if name not in header]
    if missing:
        return catalogue, [
            "The file needs the columns kind,id,name,favourite "
            f"(missing: {', '.join(missing)})."
        ]
    for number, row in enumerate(reader, start=2):
        cells = {
            (key or "").strip().lower(): (value or "").strip()
            for key, value in row.items()
            if isinstance(value, str)
        }
        kind = cells.get("kind", "").lower()
        if kind not in KINDS:
            problems.append(f"Line {number}: kind must be plan or user, not {kind!r}.")
            continue
        problem = id_problem(cells.get("id", ""), kind)
        if problem:
            problems.append(f"Line {number}: {problem}")
            continue
        favourite = cells.get("favourite", "").lower()
        if favourite not in _TRUE | _FALSE:
            problems.append(
                f"Line {number}: favourite must be yes or no, not {favourite!r}."
            )
            continue
        entry = CatalogueEntry(
            id=int(cells["id"]),
            name=cells.get("name", "")[:200],
            favourite=favourite in _TRUE,
        )
        target = catalogue.plans if kind == "plan" else catalogue.users
        target[:] = _merge(target, [entry])
    return catalogue, problems


class CatalogueEditor(QWidget):
    """A table of named plans and users: add, rename, remove, import, export.

    Signals:
        changed(): The entries changed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(["Kind", "ID", "Name", "Favourite"])
        self.table.setAccessibleName("Named plans and users")
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(1, 170)
        self.table.itemChanged.connect(self._on_table_item_changed)

        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setVisible(False)

        self.add_plan_button = QPushButton("Add &plan", self)
        self.add_user_button = QPushButton("Add us&er", self)
        self.remove_button = QPushButton("&Remove", self)
        self.import_button = QPushButton("&Import CSV…", self)
        self.export_button = QPushButton("E&xport CSV…", self)
        for button in (
            self.add_plan_button,
            self.add_user_button,
            self.remove_button,
            self.import_button,
            self.export_button,
        ):
            button.setAccessibleName(button.text().replace("&", "").rstrip("…"))
        self.add_plan_button.clicked.connect(lambda: self._add_row("plan"))
        self.add_user_button.clicked.connect(lambda: self._add_row("user"))
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.import_button.clicked.connect(self._on_import_button_clicked)
        self.export_button.clicked.connect(self._on_export_button_clicked)

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_plan_button)
        buttons.addWidget(self.add_user_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.export_button)

        hint = QLabel(
            "Names let you pick plans and users by name; favourites come first. "
            "Double-click a name to rename it.",
            self,
        )
        hint.setWordWrap(True)
        hint.setStyleSheet(f"color: {theme.muted_text(self).name()};")

        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

    # Data -------------------------------------------------------------------

    def set_catalogue(self, catalogue: Catalogue) -> None:
        """Show ``catalogue``."""
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for kind, entries in (("plan", catalogue.plans), ("user", catalogue.users)):
            for entry in entries:
                self._append(kind, str(entry.id), entry.name, entry.favourite)
        self.table.blockSignals(False)
        self._check()

    def catalogue(self) -> Catalogue:
        """Return the valid entries shown (rows with a bad ID are left out)."""
        result = Catalogue()
        for row in range(self.table.rowCount()):
            kind = self._kind(row)
            text = self._text(row, 1)
            if id_problem(text, kind):
                continue
            entry = CatalogueEntry(
                id=int(text.strip()),
                name=self._text(row, 2).strip()[:200],
                favourite=self._favourite(row),
            )
            target = result.plans if kind == "plan" else result.users
            target[:] = _merge(target, [entry])
        return result

    def problems(self) -> list[str]:
        """Return what is wrong with the rows, one message per bad row."""
        found = []
        for row in range(self.table.rowCount()):
            problem = id_problem(self._text(row, 1), self._kind(row))
            if problem:
                found.append(f"Row {row + 1}: {problem}")
        return found

    # Rows -------------------------------------------------------------------

    def _append(self, kind: str, id_text: str, name: str, favourite: bool) -> int:
        row = self.table.rowCount()
        self.table.insertRow(row)
        combo = QComboBox(self.table)
        combo.addItems(list(KINDS))
        combo.setCurrentText(kind)
        combo.setAccessibleName("Kind")
        combo.currentTextChanged.connect(lambda _text: self._check())
        self.table.setCellWidget(row, 0, combo)
        self.table.setItem(row, 1, QTableWidgetItem(id_text))
        self.table.setItem(row, 2, QTableWidgetItem(name))
        star = QTableWidgetItem()
        star.setFlags(
            Qt.ItemFlag.ItemIsUserCheckable
            | Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
        )
        star.setCheckState(
            Qt.CheckState.Checked if favourite else Qt.CheckState.Unchecked
        )
        self.table.setItem(row, 3, star)
        return row

    def _add_row(self, kind: str) -> None:
        row = self._append(kind, "", "", False)
        self.table.setCurrentCell(row, 1)
        self.table.editItem(self.table.item(row, 1))
        self._check()

    def _kind(self, row: int) -> str:
        widget = self.table.cellWidget(row, 0)
        return widget.currentText() if isinstance(widget, QComboBox) else "plan"

    def _text(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    def _favourite(self, row: int) -> bool:
        item = self.table.item(row, 3)
        return item is not None and item.checkState() == Qt.CheckState.Checked

    def _check(self) -> None:
        problems = self.problems()
        self.message.setText("\n".join(problems[:3]))
        self.message.setStyleSheet(f"color: {theme.tone('red', self).accent};")
        self.message.setVisible(bool(problems))
        self.changed.emit()

    # Slots ------------------------------------------------------------------

    def _on_table_item_changed(self, _item: QTableWidgetItem) -> None:
        self._check()

    def _on_remove_button_clicked(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        for row in reversed(rows):
            self.table.removeRow(row)
        self._check()

    def _on_import_button_clicked(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Import plans and users", "", "CSV files (*.csv);;All files (*)"
        )
        if path:
            self.import_file(path)

    def _on_export_button_clicked(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export plans and users", "plans-and-users.csv", "CSV files (*.csv)"
        )
        if path:
            self.export_file(path)

    def import_file(self, path: str) -> None:
        """Merge the entries of a CSV file into the table."""
        try:
            with open(path, encoding="utf-8-sig", newline="") as stream:
                text = stream.read()
        except (OSError, UnicodeDecodeError) as error:
            self._say(f"Could not read {path}: {error}", "red")
            return
        imported, problems = from_csv(text)
        self.set_catalogue(self.catalogue().merged(imported))
        count = len(imported.plans) + len(imported.users)
        summary = f"Imported {count} entr{'y' if count == 1 else 'ies'}."
        if problems:
            summary += f" Skipped {len(problems)}: " + " ".join(problems[:3])
        self._say(summary, "amber" if problems else "green")

    def export_file(self, path: str) -> None:
        """Write the table to a CSV file."""
        try:
            with open(path, "w", encoding="utf-8", newline="") as stream:
                stream.write(to_csv(self.catalogue()))
        except OSError as error:
            self._say(f"Could not write {path}: {error.strerror or error}", "red")
            return
        self._say(f"Exported to {path}.", "green")

    def _say(self, text: str, tone: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.tone(tone, self).accent};")
        self.message.setVisible(True)
