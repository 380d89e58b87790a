"""The settings dialog: add, edit, rename and remove profiles.

The gateway URL and the token go to the keyring through the task helper, so an
unlock prompt never freezes the window; everything else goes to the settings
file through the same save.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime

from pydantic import ValidationError
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import InputError, PlanRunnerError
from app.core.secrets import Connection, SessionStore
from app.core.settings import DEFAULT_READ_TIMEOUT, Profile
from app.core.tokens import clean_token, token_facts
from app.core.urls import parse_gateway_url
from app.core.workspace import Workspace, origin_change
from app.gui import icons, theme
from app.gui.catalogue import Catalogue, CatalogueEditor
from app.gui.id_field import IdField
from app.gui.tasks import TaskRunner

log = logging.getLogger(__name__)

LOCKED_TOOLTIP = "Set by your IT department"
PRESET_COLOURS = (
    ("Teal", "#138a9e"),
    ("Blue", "#2f6fdb"),
    ("Green", "#2e9d57"),
    ("Amber", "#d99a1e"),
    ("Orange", "#e0672b"),
    ("Red", "#cf3b3b"),
    ("Purple", "#7b5cc4"),
    ("Grey", "#6b7785"),
)
NEW_PROFILE = "New profile"


def _muted(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {theme.muted_text(label).name()};")
    return label


class ColourPicker(QWidget):
    """A row of preset colours, "none" and "Other…".

    Signals:
        colour_changed(object): The colour as ``#rrggbb``, or None.
    """

    colour_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colour: str | None = None
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self._buttons: dict[str | None, QToolButton] = {}
        for name, value in (("No colour", None), *PRESET_COLOURS):
            button = QToolButton(self)
            button.setCheckable(True)
            button.setIcon(icons.swatch(value))
            button.setToolTip(name)
            button.setAccessibleName(f"Colour: {name}")
            button.setAutoRaise(True)
            button.clicked.connect(lambda _checked, v=value: self.set_colour(v, True))
            self._group.addButton(button)
            layout.addWidget(button)
            self._buttons[value] = button
        self.other = QPushButton("Other…", self)
        self.other.setAccessibleName("Other colour")
        self.other.clicked.connect(self._on_other_clicked)
        layout.addWidget(self.other)
        layout.addStretch(1)

    def colour(self) -> str | None:
        """Return the colour picked, or None."""
        return self._colour

    def set_colour(self, colour: str | None, user: bool = False) -> None:
        """Show ``colour`` as picked."""
        self._colour = colour.lower() if colour else None
        button = self._buttons.get(self._colour)
        if button is not None:
            button.setChecked(True)
        else:
            checked = self._group.checkedButton()
            if checked is not None:
                self._group.setExclusive(False)
                checked.setChecked(False)
                self._group.setExclusive(True)
        custom = button is None and self._colour is not None
        self.other.setIcon(icons.swatch(self._colour) if custom else QIcon())
        if user:
            self.colour_changed.emit(self._colour)

    def _on_other_clicked(self) -> None:
        chosen = QColorDialog.getColor(
            QColor(self._colour or "#138a9e"), self, "Profile colour"
        )
        if chosen.isValid():
            self.set_colour(chosen.name(), True)


class SettingsDialog(QDialog):
    """Profiles: their gateway, token, preferences and catalogue.

    Args:
        workspace: The profiles and where their secrets are kept.
        tasks: The task helper; keyring calls go through it.
        initial_profile: The profile to show first.
        focus: ``"token"`` or ``"gateway"``: the field to put the cursor in.

    Signals:
        profiles_changed(str): A profile was saved or removed; the name to select.
        connection_loaded(str): The stored URL and token of a profile are shown.
        save_failed(str): Saving failed; the message is shown in the dialog.
    """

    profiles_changed = Signal(str)
    connection_loaded = Signal(str)
    save_failed = Signal(str)

    def __init__(
        self,
        workspace: Workspace,
        tasks: TaskRunner,
        parent: QWidget | None = None,
        *,
        initial_profile: str | None = None,
        focus: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.tasks = tasks
        self.setWindowTitle("Settings — Plan Runner")
        self.setObjectName("settingsDialog")
        self.resize(860, 620)
        self._focus = focus
        self._current: str | None = None  # the saved name of the profile shown
        self._stored = Connection()
        self._loading = False
        self._saving = False
        self._dirty = False
        self._token_problem: str | None = None
        self._url_problem: str | None = None

        self._build()
        self._fill_list(initial_profile)

    # Building ---------------------------------------------------------------

    def _build(self) -> None:
        self.list = QListWidget(self)
        self.list.setAccessibleName("Profiles")
        self.list.setMinimumWidth(200)
        self.list.setIconSize(QSize(14, 14))
        self.list.setSpacing(2)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        self.add_button = QPushButton("&Add", self)
        self.add_button.setAccessibleName("Add profile")
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button = QPushButton("Remo&ve", self)
        self.remove_button.setAccessibleName("Remove profile")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        list_buttons = QHBoxLayout()
        list_buttons.addWidget(self.add_button)
        list_buttons.addWidget(self.remove_button)
        list_buttons.addStretch(1)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Profiles", left))
        left_layout.addWidget(self.list, 1)
        left_layout.addLayout(list_buttons)

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_profile_tab(), "&Profile")
        self.catalogue = CatalogueEditor(self)
        self.catalogue.changed.connect(self._on_field_changed)
        self.tabs.addTab(self.catalogue, "Plans and &users")

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([220, 640])
        splitter.setChildrenCollapsible(False)

        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Settings message")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setVisible(False)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Close,
            self,
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setAccessibleName("Save profile")
        self.buttons.accepted.connect(self._on_save_clicked)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def _build_profile_tab(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.setVerticalSpacing(10)
        self._locks: dict[str, QLabel] = {}

        self.name_edit = QLineEdit(page)
        self.name_edit.setAccessibleName("Profile name")
        self.name_edit.setMaxLength(60)
        self.name_edit.textChanged.connect(self._on_field_changed)
        form.addRow(
            self._label("&Name:", self.name_edit), self._row("name", self.name_edit)
        )

        self.url_edit = QLineEdit(page)
        self.url_edit.setAccessibleName("Gateway URL")
        self.url_edit.setPlaceholderText("https://gateway.example.com/api/v2")
        self.url_edit.textChanged.connect(self._on_url_edit_text_changed)
        self.url_hint = _muted(QLabel(page))
        self.url_hint.setAccessibleName("Gateway URL message")
        url_box = self._stack(self._row("gateway_url", self.url_edit), self.url_hint)
        form.addRow(self._label("&Gateway URL:", self.url_edit), url_box)

        token_box = self._build_token_box(page)
        form.addRow(self._label("&Token:", self.token_edit), token_box)

        self.timeout_spin = QDoubleSpinBox(page)
        self.timeout_spin.setRange(1.0, 600.0)
        self.timeout_spin.setDecimals(0)
        self.timeout_spin.setSingleStep(5.0)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setAccessibleName("Read timeout in seconds")
        self.timeout_spin.setToolTip("How long to wait for the gateway's answer")
        self.timeout_spin.valueChanged.connect(self._on_field_changed)
        form.addRow(
            self._label("Read time&out:", self.timeout_spin),
            self._row("read_timeout", self.timeout_spin, stretch=True),
        )

        self.default_user = IdField("user", page, optional=True)
        self.default_user.combo.setAccessibleName("Default user ID")
        self.default_user.combo.lineEdit().setPlaceholderText("Optional")
        self.default_user.value_changed.connect(self._on_field_changed)
        form.addRow(
            self._label("&Default user:", self.default_user.combo),
            self._row("default_user", self.default_user),
        )

        self.colour = ColourPicker(page)
        self.colour.colour_changed.connect(self._on_field_changed)
        form.addRow(QLabel("Colour:", page), self._row("colour", self.colour))

        self.critical = QCheckBox(
            "&Critical environment: ask me to confirm each run", page
        )
        self.critical.setAccessibleName("Critical environment")
        self.critical.toggled.connect(self._on_field_changed)
        form.addRow("", self._row("critical", self.critical))

        self.plain_http = QCheckBox(
            "Allow plain &http to a gateway on another machine", page
        )
        self.plain_http.setAccessibleName("Allow plain http")
        self.plain_http.toggled.connect(self._on_plain_http_toggled)
        self.plain_http_warning = QLabel(
            "Your token will travel unencrypted and can be read by anyone on the "
            "network. Only for test gateways on a network you trust.",
            page,
        )
        self.plain_http_warning.setWordWrap(True)
        self.plain_http_warning.setStyleSheet(
            f"color: {theme.tone('orange', self).accent};"
        )
        self.plain_http_warning.setVisible(False)
        form.addRow(
            "",
            self._stack(
                self._row("allow_plain_http", self.plain_http), self.plain_http_warning
            ),
        )
        return page

    def _build_token_box(self, page: QWidget) -> QWidget:
        self.token_edit = QLineEdit(page)
        self.token_edit.setAccessibleName("Token")
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("Paste the access token")
        self.token_edit.textChanged.connect(self._on_token_edit_text_changed)
        self.show_token = QToolButton(page)
        self.show_token.setText("Show")
        self.show_token.setCheckable(True)
        self.show_token.setAccessibleName("Show token")
        self.show_token.toggled.connect(self._on_show_token_toggled)
        self.remove_token = QPushButton("Remove token", page)
        self.remove_token.setAccessibleName("Remove token")
        self.remove_token.clicked.connect(self._on_remove_token_clicked)
        row = QWidget(page)
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(self.token_edit, 1)
        row_layout.addWidget(self.show_token)
        row_layout.addWidget(self.remove_token)
        self.token_hint = _muted(QLabel(page))
        self.token_hint.setAccessibleName("Token message")
        self.stored_in = _muted(QLabel(page))
        self.stored_in.setAccessibleName("Where the URL and token are stored")
        self.stored_in.setToolTip(
            "The gateway URL and the token are kept there, never in the settings file."
        )
        return self._stack(row, self.token_hint, self.stored_in)

    def _label(self, text: str, buddy: QWidget) -> QLabel:
        label = QLabel(text, self)
        label.setBuddy(buddy)
        return label

    def _row(self, field: str, widget: QWidget, *, stretch: bool = False) -> QWidget:
        box = QWidget(self)
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(widget, 0 if stretch else 1)
        lock = QLabel(box)
        lock.setPixmap(icons.pixmap("lock", 16, theme.glyph_colour(self)))
        lock.setToolTip(LOCKED_TOOLTIP)
        lock.setAccessibleName(LOCKED_TOOLTIP)
        lock.setVisible(False)
        row.addWidget(lock)
        if stretch:
            row.addStretch(1)
        self._locks[field] = lock
        return box

    def _stack(self, *widgets: QWidget) -> QWidget:
        box = QWidget(self)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(3)
        for widget in widgets:
            column.addWidget(widget)
        return box

    # The list of profiles ----------------------------------------------------

    def _fill_list(self, select: str | None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for profile in self.workspace.profiles():
            item = QListWidgetItem(icons.swatch(profile.colour), profile.name)
            item.setData(Qt.ItemDataRole.UserRole, profile.name)
            if self.workspace.is_preset(profile.name):
                item.setToolTip("Preset by your IT department")
            self.list.addItem(item)
        self.list.blockSignals(False)
        names = [p.name for p in self.workspace.profiles()]
        if not names:
            self._add_new()
            return
        row = names.index(select) if select in names else 0
        self.list.setCurrentRow(row)

    def _add_new(self) -> None:
        item = QListWidgetItem(icons.swatch(None), NEW_PROFILE)
        item.setData(Qt.ItemDataRole.UserRole, None)
        self.list.addItem(item)
        self.list.setCurrentItem(item)

    def _show_profile(self, name: str | None) -> None:
        self._current = name
        self._stored = Connection()
        profile = self.workspace.profile(name) if name else Profile(name=NEW_PROFILE)
        self._loading = True
        self.name_edit.setText("" if name is None else profile.name)
        self.url_edit.setText("")
        self.token_edit.clear()
        self.show_token.setChecked(False)
        self.timeout_spin.setValue(profile.read_timeout or DEFAULT_READ_TIMEOUT)
        self.default_user.set_value(profile.default_user)
        self.colour.set_colour(profile.colour)
        self.critical.setChecked(profile.critical)
        self.plain_http.setChecked(profile.allow_plain_http)
        self.catalogue.set_catalogue(
            Catalogue(list(profile.plans), list(profile.users))
        )
        self._apply_locks(name)
        self._show_stored_in()
        self.remove_button.setEnabled(
            name is None
            or not self.workspace.is_preset(name)
            or not self.workspace.is_locked("profiles")
        )
        self.error.setVisible(False)
        if name is None:
            self._loading = False
            self._set_connection_state(Connection())
            self.name_edit.setFocus()
        else:
            self._load_connection(name)
        self._dirty = False
        self._update_save_button()

    def _apply_locks(self, name: str | None) -> None:
        widgets: dict[str, QWidget] = {
            "name": self.name_edit,
            "gateway_url": self.url_edit,
            "read_timeout": self.timeout_spin,
            "default_user": self.default_user,
            "colour": self.colour,
            "critical": self.critical,
            "allow_plain_http": self.plain_http,
        }
        preset = name is not None and self.workspace.is_preset(name)
        for field, widget in widgets.items():
            locked = preset and (
                field == "name" or self.workspace.is_locked(field, name)
            )
            widget.setEnabled(not locked)
            widget.setToolTip(LOCKED_TOOLTIP if locked else "")
            self._locks[field].setVisible(locked)
        catalogue_locked = preset and (
            self.workspace.is_locked("plans", name)
            or self.workspace.is_locked("users", name)
        )
        self.catalogue.setEnabled(not catalogue_locked)

    def _show_stored_in(self) -> None:
        secrets = self.workspace.secrets
        text = f"Stored in: {secrets.backend_name}"
        if isinstance(secrets, SessionStore):
            text += f". {secrets.reason}"
        self.stored_in.setText(text)

    # Loading the stored connection -------------------------------------------

    def _load_connection(self, name: str) -> None:
        self.url_edit.setEnabled(False)
        self.url_edit.setPlaceholderText("Loading…")
        self.token_hint.setText("Reading the keyring…")
        self.token_edit.setEnabled(False)
        self.tasks.submit(
            f"load connection of {name}",
            functools.partial(self.workspace.connection, name),
            on_finished=lambda connection: self._on_connection_loaded(name, connection),
            on_failed=lambda error: self._on_connection_failed(name, error),
        )

    def _on_connection_loaded(self, name: str, connection: Connection) -> None:
        if name != self._current:
            return
        self._stored = connection
        self.url_edit.setEnabled(not self._locks["gateway_url"].isVisible())
        self.url_edit.setPlaceholderText("https://gateway.example.com/api/v2")
        self.url_edit.setText(connection.gateway_url or "")
        self._loading = False
        self._set_connection_state(connection)
        self._dirty = False
        self._update_save_button()
        if self._focus == "token":
            self.token_edit.setFocus()
        elif self._focus == "gateway" and self.url_edit.isEnabled():
            self.url_edit.setFocus()
            self.url_edit.selectAll()
        self.connection_loaded.emit(name)

    def _on_connection_failed(self, name: str, error: Exception) -> None:
        if name != self._current:
            return
        self._loading = False
        self.url_edit.setEnabled(True)
        self.url_edit.setPlaceholderText("https://gateway.example.com/api/v2")
        self.token_edit.setEnabled(True)
        self._show_error(_message(error))
        self.connection_loaded.emit(name)

    def _set_connection_state(self, connection: Connection) -> None:
        self.token_edit.setEnabled(True)
        self.remove_token.setEnabled(bool(connection.token))
        self._token_problem = None
        self.token_hint.setText(self._stored_token_words(connection.token))
        self.token_hint.setStyleSheet(f"color: {theme.muted_text(self).name()};")
        self._on_url_edit_text_changed(self.url_edit.text())

    def _stored_token_words(self, token: str | None) -> str:
        if not token:
            return "No token is stored yet. Paste one to use this profile."
        facts = token_facts(token)
        expiry = facts.expiry_words(datetime.now(UTC)) if facts.is_jwt else ""
        return (
            f"A token is stored ({facts.length} characters, {facts.fingerprint}"
            f"{', ' + expiry if expiry else ''}). Paste a new one to replace it."
        )

    # Field checks --------------------------------------------------------------

    def _on_url_edit_text_changed(self, text: str) -> None:
        self._url_problem = None
        if not text.strip():
            needs_url = self._current is None or not self._stored.gateway_url
            if needs_url and not self._loading:
                self._url_problem = "Enter the gateway URL."
            self.url_hint.setText(
                "Enter the gateway's address, e.g. https://gateway.example.com/api/v2"
            )
            self._set_hint_tone(self.url_hint, None)
        else:
            try:
                gateway = parse_gateway_url(text)
            except InputError as error:
                self._url_problem = str(error)
                self.url_hint.setText(str(error))
                self._set_hint_tone(self.url_hint, "red")
            else:
                note = ""
                if gateway.is_plain_http and not gateway.is_loopback:
                    note = (
                        "\nPlain http to another machine: the token is refused "
                        "unless you allow plain http below."
                    )
                self.url_hint.setText(f"Runs go to {gateway.queue_url}{note}")
                self._set_hint_tone(self.url_hint, "orange" if note else None)
        self._on_field_changed()

    def _on_token_edit_text_changed(self, text: str) -> None:
        if not text:
            self._token_problem = None
            self.token_hint.setText(self._stored_token_words(self._stored.token))
            self._set_hint_tone(self.token_hint, None)
            self._on_field_changed()
            return
        try:
            cleaned = clean_token(text)
        except InputError as error:
            self._token_problem = str(error)
            self.token_hint.setText(str(error))
            self._set_hint_tone(self.token_hint, "red")
            self._on_field_changed()
            return
        self._token_problem = None
        note = ""
        if cleaned != text:
            self.token_edit.blockSignals(True)
            self.token_edit.setText(cleaned)
            self.token_edit.blockSignals(False)
            note = "Cleaned: removed what was around the token. "
        facts = token_facts(cleaned)
        expiry = facts.expiry_words(datetime.now(UTC)) if facts.is_jwt else ""
        expired = facts.is_expired(datetime.now(UTC))
        self.token_hint.setText(
            f"{note}New token: {facts.length} characters, {facts.fingerprint}"
            f"{', ' + expiry if expiry else ''}. It is saved when you press Save."
        )
        self._set_hint_tone(self.token_hint, "orange" if expired else None)
        self._on_field_changed()

    def _set_hint_tone(self, label: QLabel, tone: str | None) -> None:
        colour = (
            theme.tone(tone, self).accent if tone else theme.muted_text(self).name()
        )
        label.setStyleSheet(f"color: {colour};")

    def _on_show_token_toggled(self, shown: bool) -> None:
        self.token_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        )
        self.show_token.setText("Hide" if shown else "Show")
        self.show_token.setAccessibleName("Hide token" if shown else "Show token")

    def _on_plain_http_toggled(self, checked: bool) -> None:
        self.plain_http_warning.setVisible(checked)
        self._on_field_changed()

    def _on_field_changed(self, *_args: object) -> None:
        if not self._loading:
            self._dirty = True
        self._update_save_button()

    def _update_save_button(self) -> None:
        problems = [
            self._url_problem,
            self._token_problem,
            self.default_user.problem(),
            "name" if not self.name_edit.text().strip() else None,
            *self.catalogue.problems(),
        ]
        self.save_button.setEnabled(
            not self._loading and not self._saving and not any(problems)
        )

    # Saving, removing ------------------------------------------------------------

    def profile_from_fields(self) -> Profile:
        """Return the profile the fields describe.

        Raises:
            InputError: A value is not valid.
        """
        base = (
            self.workspace.profile(self._current)
            if self._current
            else Profile(name=NEW_PROFILE)
        )
        catalogue = self.catalogue.catalogue()
        values = {
            **base.model_dump(),
            "name": self.name_edit.text().strip(),
            "read_timeout": float(self.timeout_spin.value()),
            "default_user": self.default_user.value(),
            "colour": self.colour.colour(),
            "critical": self.critical.isChecked(),
            "allow_plain_http": self.plain_http.isChecked(),
            "plans": [entry.model_dump() for entry in catalogue.plans],
            "users": [entry.model_dump() for entry in catalogue.users],
        }
        try:
            return Profile.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            raise InputError(
                f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
            ) from None

    def _on_save_clicked(self) -> None:
        if self._saving:
            return
        try:
            profile = self.profile_from_fields()
        except InputError as error:
            self._show_error(str(error))
            return
        url_text = self.url_edit.text().strip()
        url = url_text if url_text and url_text != self._stored.gateway_url else None
        token = self.token_edit.text() or None
        old_name = self._current
        drop_token = False
        moved = origin_change(self._stored, url) if url and not token else None
        if moved is not None:
            choice = self.ask_token_move(profile.name, *moved)
            if choice is None:
                return
            drop_token = choice == "remove"
        workspace = self.workspace  # the worker gets the core object, not the dialog

        def save() -> str:
            workspace.save_profile(
                profile,
                gateway_url=url,
                token=token,
                replace_name=old_name,
                new=old_name is None,
                drop_token=drop_token,
            )
            return profile.name

        self._saving = True
        self._update_save_button()
        self.error.setVisible(False)
        self.tasks.submit(
            f"save profile {profile.name}",
            save,
            on_finished=self._on_save_finished,
            on_failed=self._on_save_failed,
        )

    def ask_token_move(self, name: str, old: str, new: str) -> str | None:
        """Ask what to do with a token that a new gateway URL would take elsewhere.

        Returns:
            ``"remove"`` (save without the token), ``"keep"``, or None (cancel).
        """
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "The token would go to another gateway",
            f"The token stored for {name!r} was set for {old}. With this URL, "
            f"runs go to {new}, and the token would be sent there.",
            QMessageBox.StandardButton.NoButton,
            self,
        )
        box.setInformativeText(
            "A token belongs to the environment that issued it: one from staging "
            "does not work in production, and should not be sent to a host it "
            "was not made for. Remove it and set the new environment's token, "
            "unless both accept the same one."
        )
        remove = box.addButton("&Remove the token", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton("&Keep the token", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(remove)
        box.exec()
        clicked = box.clickedButton()
        if clicked is remove:
            return "remove"
        if clicked is keep:
            return "keep"
        return None

    def _on_save_finished(self, name: str) -> None:
        self._saving = False
        self._dirty = False
        log.info("Profile %s saved", name)
        self.profiles_changed.emit(name)
        self.accept()

    def _on_save_failed(self, error: Exception) -> None:
        self._saving = False
        message = _message(error)
        self._show_error(message)
        self._update_save_button()
        self.save_failed.emit(message)

    def _on_remove_token_clicked(self) -> None:
        if self._current is None or not self._stored.token:
            self.token_edit.clear()
            return
        name = self._current
        self.remove_token.setEnabled(False)
        self.tasks.submit(
            f"remove token of {name}",
            functools.partial(self.workspace.clear_token, name),
            on_finished=lambda _none: self._on_token_removed(name),
            on_failed=self._on_save_failed,
        )

    def _on_token_removed(self, name: str) -> None:
        if name == self._current:
            self._stored = Connection(self._stored.gateway_url, None)
            self.token_edit.clear()
            self._set_connection_state(self._stored)
        self.profiles_changed.emit(name)

    def _on_add_button_clicked(self) -> None:
        if not self._confirm_discard():
            return
        self._add_new()

    def _on_remove_button_clicked(self) -> None:
        name = self._current
        if name is None:
            self._fill_list(None)
            return
        answer = QMessageBox.question(
            self,
            "Remove profile",
            f"Remove the profile {name!r}, with its gateway URL and token?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.tasks.submit(
            f"remove profile {name}",
            functools.partial(self.workspace.remove_profile, name),
            on_finished=lambda _none: self._on_profile_removed(),
            on_failed=self._on_save_failed,
        )

    def _on_profile_removed(self) -> None:
        self._dirty = False
        self.profiles_changed.emit("")
        self._fill_list(None)

    def _on_list_current_item_changed(
        self, current: QListWidgetItem | None, previous: QListWidgetItem | None
    ) -> None:
        if current is None:
            return
        if previous is not None and self._dirty and not self._confirm_discard():
            self.list.blockSignals(True)
            self.list.setCurrentItem(previous)
            self.list.blockSignals(False)
            return
        unsaved = (
            previous is not None and previous.data(Qt.ItemDataRole.UserRole) is None
        )
        if unsaved and previous is not current:
            # Leaving a new profile that was never saved drops it from the list.
            self.list.takeItem(self.list.row(previous))
        self._show_profile(current.data(Qt.ItemDataRole.UserRole))

    def _confirm_discard(self) -> bool:
        if not self._dirty:
            return True
        answer = QMessageBox.question(
            self,
            "Discard changes",
            "Discard the changes to this profile?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setStyleSheet(f"color: {theme.tone('red', self).accent};")
        self.error.setVisible(True)

    def done(self, result: int) -> None:  # noqa: D102 - Qt's own method
        closing_unsaved = result == QDialog.DialogCode.Rejected and self._dirty
        if closing_unsaved and not self._confirm_discard():
            return
        super().done(result)


def _message(error: Exception) -> str:
    if isinstance(error, PlanRunnerError):
        return str(error)
    return f"Something went wrong ({type(error).__name__}). The details are in the log."
