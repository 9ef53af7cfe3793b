"""The settings dialog: vector store, embedding model, file rules, editor, tray.

OK validates everything first and saves through core.settings.save_settings (one atomic
file write), so a bad value is refused with its reason and nothing is saved half-way. A
changed PostgreSQL URL is tested before it is saved; when the test fails the server's
message is shown and saving needs the "save anyway" box ticked.

The password never appears in a label: the URL field holds the URL without it and the
password has its own masked field (a pasted URL with a password is split into the two).

Settings the engine is built from (store, model, ignore rules, size limit) take effect
when Codanna Desktop restarts; the dialog says so, and `restart_needed` tells the window.
The editor command, "start hidden" and "start when I log in" apply at once (the last
writes or removes the login item through core.autostart).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from codanna_desktop.app import theme
from codanna_desktop.core import autostart
from codanna_desktop.core.autostart import AutostartError
from codanna_desktop.core.errors import SettingsError
from codanna_desktop.core.settings import DEFAULT_MODEL, Settings, load_settings, save_settings

if TYPE_CHECKING:
    from codanna_desktop.app.context import AppContext

EMBED_CHUNKS_PER_SECOND = 20  # measured on 2 cores; see DESIGN.md
RESTART_NOTE = (
    "Changes to the vector store and the model take effect after Codanna Desktop "
    "restarts. New ignore rules and a new maximum file size apply at once: every folder "
    "is checked again."
)
# Settings the engine is built from: changing one needs a restart.
ENGINE_FIELDS = ("database_url", "model", "model_path")
MODEL_DEFAULT, MODEL_NAMED, MODEL_FOLDER = 0, 1, 2

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from "1 MiB", "512 KB", "2m", "1048576"; SettingsError when it is none."""
    match = _SIZE_RE.match(text)
    if not match:
        raise SettingsError(
            f"The maximum file size {text.strip()!r} is not a size; write it like 1 MiB or 512 KiB."
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"


def split_password(url: str) -> tuple[str, str]:
    """(the URL without its password, the password) for a postgresql:// URL, whether the
    password is in its userinfo or a ``password`` parameter (which wins, as in libpq)."""
    parts = urlsplit(url.strip())
    password = None if parts.password is None else unquote(parts.password)
    kept = []
    for pair in parts.query.split("&") if parts.query else []:
        key, eq, value = pair.partition("=")
        if eq and unquote(key) == "password":
            password = unquote(value)
        else:
            kept.append(pair)
    if password is None:
        return url.strip(), ""
    host = parts.netloc.rsplit("@", 1)[-1]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host, query="&".join(kept))), password


def join_password(url: str, password: str) -> str:
    url = url.strip()
    if not url or not password:
        return url
    bare, _ = split_password(url)
    parts = urlsplit(bare)
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def reembed_estimate(chunks: int) -> str:
    seconds = chunks / EMBED_CHUNKS_PER_SECOND
    if seconds < 90:
        n = max(1, round(seconds))
        when = f"about {n} second{'' if n == 1 else 's'}"
    elif seconds < 90 * 60:
        when = f"about {round(seconds / 60)} minutes"
    else:
        when = f"about {seconds / 3600:.1f} hours"
    return (
        f"Changing the model re-embeds everything: {chunks:,} chunks, {when} at "
        f"~{EMBED_CHUNKS_PER_SECOND} chunks/s. Search stays available meanwhile (exact words "
        "at once, meaning as embeddings fill in)."
    )


class SettingsDialog(QDialog):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Settings")
        self.setMinimumWidth(620)
        self.resize(660, 500)
        try:
            self.original = load_settings(context.paths)
        except SettingsError:
            self.original = dataclasses.replace(context.settings)
        self.setStyleSheet(theme.window_style_sheet())
        self.saved_settings: Settings | None = None
        self.restart_needed = False
        self.chunk_count: int | None = None
        self._tested_ok_url: str | None = None
        self._testing = False
        self._save_after_test = False

        self.tabs = QTabWidget()
        self.tabs.addTab(self._search_tab(), "Search engine")
        self.tabs.addTab(self._files_tab(), "Files")
        self.tabs.addTab(self._desktop_tab(), "Desktop")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)
        self.restart_label = QLabel(RESTART_NOTE)
        self.restart_label.setObjectName("notes")
        self.restart_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.restart_label)
        layout.addWidget(self.buttons)
        self._load(self.original)
        context.run_in_background(context.engine.status, self._got_status, owner=self)

    # -- the form -----------------------------------------------------------------------

    def _search_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.store_embedded = QRadioButton("Built in, on this computer")
        self.store_pg = QRadioButton(
            "PostgreSQL with pgvector (vectors on a server; each machine keeps its own rows)"
        )
        self.store_embedded.toggled.connect(self._update_store_fields)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("postgresql://user@host:5432/codanna")
        self.url_edit.editingFinished.connect(self._take_password_from_url)
        self.url_edit.textEdited.connect(self._connection_fields_edited)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("Password, if the server asks for one")
        self.password_edit.textEdited.connect(self._connection_fields_edited)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.connection_label = QLabel()
        self.connection_label.setWordWrap(True)
        self.connection_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.save_anyway = QCheckBox("Save this URL even though the connection test failed")
        self.save_anyway.setVisible(False)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.connection_label, 1)
        form.addRow("Vector store", self.store_embedded)
        form.addRow("", self.store_pg)
        form.addRow("Server URL", self.url_edit)
        form.addRow("Password", self.password_edit)
        form.addRow("", test_row)
        form.addRow("", self.save_anyway)
        if os.environ.get("CODANNA_DATABASE_URL"):
            env_note = QLabel("CODANNA_DATABASE_URL is set and overrides this setting.")
            env_note.setObjectName("notes")
            form.addRow("", env_note)
        form.addRow(_spacer())
        self.model_choice = QComboBox()
        self.model_choice.addItems(
            [
                "Built-in default (all-MiniLM-L6-v2, works offline)",
                "A fastembed model, by name",
                "A model in a folder on this computer",
            ]
        )
        self.model_choice.currentIndexChanged.connect(self._update_model_fields)
        self.model_name_edit = QLineEdit()
        self.model_name_edit.setPlaceholderText("BAAI/bge-small-en-v1.5")
        self.model_name_edit.textEdited.connect(self._update_model_fields)
        self.model_path_edit = QLineEdit()
        self.model_path_edit.setPlaceholderText("A folder with model.onnx and tokenizer files")
        self.model_path_edit.textEdited.connect(self._update_model_fields)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_model_folder)
        self.model_browse = browse
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.model_path_edit, 1)
        folder_row.addWidget(browse)
        self.model_warning = QLabel()
        self.model_warning.setWordWrap(True)
        self.model_warning.setVisible(False)
        form.addRow("Embedding model", self.model_choice)
        form.addRow("Model name", self.model_name_edit)
        form.addRow("Model folder", folder_row)
        form.addRow("", self.model_warning)
        return page

    def _files_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.ignore_edit = QPlainTextEdit()
        self.ignore_edit.setPlaceholderText("*.generated.ts\ndocs/api/\n!keep-this.py")
        self.ignore_edit.setFont(theme.monospace_font())
        self.excluded_edit = QPlainTextEdit()
        self.excluded_edit.setFont(theme.monospace_font())
        self.max_size_edit = QLineEdit()
        self.max_size_edit.setPlaceholderText("1 MiB")
        form.addRow("Ignore patterns", self.ignore_edit)
        form.addRow("", _note("One gitignore-style pattern per line, for every folder."))
        form.addRow("Skipped folders", self.excluded_edit)
        form.addRow("", _note("Folder names never entered, one per line."))
        form.addRow("Maximum file size", self.max_size_edit)
        form.addRow("", _note("Bigger files are skipped, and counted in the folders panel."))
        return page

    def _desktop_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editor_edit = QLineEdit()
        self.editor_edit.setPlaceholderText("code -g {path}:{line}:{column}")
        self.start_hidden = QCheckBox("Start hidden in the system tray")
        self.start_at_login = QCheckBox("Start when I log in")
        form.addRow("Editor command", self.editor_edit)
        form.addRow(
            "",
            _note(
                "{path}, {line} and {column} are filled in, e.g. code -g {path}:{line}:{column} or "
                "subl {path}:{line}. Empty: the system's application for the file."
            ),
        )
        form.addRow("", self.start_at_login)
        form.addRow("", self.start_hidden)
        return page

    def _load(self, settings: Settings) -> None:
        url, password = split_password(settings.database_url or "")
        self.store_pg.setChecked(bool(url))
        self.store_embedded.setChecked(not url)
        self.url_edit.setText(url)
        self.password_edit.setText(password)
        if settings.model_path:
            self.model_choice.setCurrentIndex(MODEL_FOLDER)
        elif settings.model != DEFAULT_MODEL:
            self.model_choice.setCurrentIndex(MODEL_NAMED)
        else:
            self.model_choice.setCurrentIndex(MODEL_DEFAULT)
        self.model_name_edit.setText(settings.model if settings.model != DEFAULT_MODEL else "")
        self.model_path_edit.setText(settings.model_path or "")
        self.ignore_edit.setPlainText("\n".join(settings.ignore_patterns))
        self.excluded_edit.setPlainText("\n".join(settings.excluded_dirs))
        self.max_size_edit.setText(format_size(settings.max_file_size))
        self.editor_edit.setText(settings.editor_command)
        self.start_hidden.setChecked(settings.start_hidden)
        self.start_at_login.setChecked(settings.start_at_login)
        self._update_store_fields()
        self._update_model_fields()

    def settings_from_fields(self) -> Settings:
        """The settings the form describes (validated by the caller). Raises SettingsError
        for a value that cannot even be read, such as a size that is not a size."""
        url = join_password(self.url_edit.text(), self.password_edit.text())
        choice = self.model_choice.currentIndex()
        model = self.model_name_edit.text().strip() if choice == MODEL_NAMED else DEFAULT_MODEL
        if choice == MODEL_NAMED and not model:
            raise SettingsError("Enter the name of the fastembed model, or pick the default.")
        model_path = self.model_path_edit.text().strip() if choice == MODEL_FOLDER else ""
        if choice == MODEL_FOLDER and not model_path:
            raise SettingsError("Choose the folder that holds the model, or pick the default.")
        return dataclasses.replace(
            self.original,
            database_url=url if self.store_pg.isChecked() and url else None,
            model=model,
            model_path=model_path or None,
            ignore_patterns=_lines(self.ignore_edit.toPlainText()),
            excluded_dirs=_lines(self.excluded_edit.toPlainText()),
            max_file_size=parse_size(self.max_size_edit.text()),
            editor_command=self.editor_edit.text().strip(),
            start_hidden=self.start_hidden.isChecked(),
            start_at_login=self.start_at_login.isChecked(),
        )

    # -- reacting to edits --------------------------------------------------------------

    def _update_store_fields(self) -> None:
        pg = self.store_pg.isChecked()
        for widget in (self.url_edit, self.password_edit, self.test_button):
            widget.setEnabled(pg and not self._testing)
        if not pg:
            self.save_anyway.setVisible(False)
            self.connection_label.clear()

    def _take_password_from_url(self) -> None:
        bare, password = split_password(self.url_edit.text())
        if password:
            self.url_edit.setText(bare)
            self.password_edit.setText(password)

    def _connection_fields_edited(self) -> None:
        self.save_anyway.setChecked(False)
        self.save_anyway.setVisible(False)
        self.connection_label.clear()

    def _update_model_fields(self) -> None:
        choice = self.model_choice.currentIndex()
        self.model_name_edit.setEnabled(choice == MODEL_NAMED)
        self.model_path_edit.setEnabled(choice == MODEL_FOLDER)
        self.model_browse.setEnabled(choice == MODEL_FOLDER)
        changed = self._model_fields() != (self.original.model, self.original.model_path or "")
        if changed:
            chunks = self.chunk_count
            self.model_warning.setText(
                reembed_estimate(chunks)
                if chunks is not None
                else "Changing the model re-embeds every chunk of every folder."
            )
            colour = theme.error_color(self.palette()).name()
            self.model_warning.setStyleSheet(f"color: {colour};")
        self.model_warning.setVisible(changed)

    def _model_fields(self) -> tuple[str, str]:
        choice = self.model_choice.currentIndex()
        model = self.model_name_edit.text().strip() if choice == MODEL_NAMED else DEFAULT_MODEL
        path = self.model_path_edit.text().strip() if choice == MODEL_FOLDER else ""
        return model, path

    def _choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder with the model", self.model_path_edit.text() or str(Path.home())
        )
        if folder:
            self.model_path_edit.setText(folder)
            self._update_model_fields()

    def _got_status(self, status: Any, exc: BaseException | None) -> None:
        if exc is None and status is not None:
            self.chunk_count = int(status.chunks)
            self._update_model_fields()

    # -- the connection test ------------------------------------------------------------

    def connection_url(self) -> str:
        return join_password(self.url_edit.text(), self.password_edit.text())

    def test_connection(self) -> None:
        """Ask the server for its versions, off the UI thread; the label shows the answer."""
        url = self.connection_url()
        if not url:
            self._show_connection("Enter the server's URL first.", ok=False)
            return
        self._set_testing(True)
        self._show_connection("Connecting…", ok=None)

        self.context.run_in_background(
            lambda: self.context.test_database(url),
            lambda info, exc: self._tested(url, info, exc),
            owner=self,
        )

    def _tested(self, url: str, info: Any, exc: BaseException | None) -> None:
        self._set_testing(False)
        save = self._save_after_test
        self._save_after_test = False
        if url != self.connection_url():
            return  # the fields changed while the test ran; this answer is about another URL
        if exc is not None:
            self._tested_ok_url = None
            self._show_connection(str(exc), ok=False)
            self.save_anyway.setVisible(True)
            if save:
                self.tabs.setCurrentIndex(0)
                self.show_error(
                    "Not saved: the connection test failed (see above). Fix the URL, or tick "
                    "“Save this URL even though the connection test failed”."
                )
            return
        self._tested_ok_url = url
        self.save_anyway.setVisible(False)
        self._show_connection(f"Connected: {info}", ok=True)
        if save:
            self.accept()

    def _set_testing(self, testing: bool) -> None:
        self._testing = testing
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not testing)
        self._update_store_fields()

    def _show_connection(self, message: str, ok: bool | None) -> None:
        password = self.password_edit.text()
        if password:  # the core redacts it already; this is the second lock on the door
            message = message.replace(password, "***").replace(quote(password, safe=""), "***")
        palette = self.palette()
        if ok is None:
            colour = theme.muted_text(palette)
        else:
            colour = theme.ok_color(palette) if ok else theme.error_color(palette)
        self.connection_label.setStyleSheet(f"color: {colour.name()};")
        self.connection_label.setText(message)

    # -- saving -------------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        colour = theme.error_color(self.palette()).name()
        self.error_label.setStyleSheet(f"color: {colour};")
        self.error_label.setText(message)
        self.error_label.setVisible(True)

    def accept(self) -> None:
        if self._testing:
            return
        try:
            settings = self.settings_from_fields()
            settings.validate()
        except SettingsError as exc:
            self.show_error(f"Not saved: {exc}")
            return
        url = settings.database_url
        if (
            url
            and url != self.original.database_url
            and url != self._tested_ok_url
            and not self.save_anyway.isChecked()
        ):
            self.error_label.setVisible(False)
            self._save_after_test = True
            self.test_connection()
            return
        try:
            if settings.start_at_login != autostart.is_start_at_login():
                autostart.set_start_at_login(settings.start_at_login)
            save_settings(settings, self.context.paths)
        except (SettingsError, AutostartError, OSError) as exc:
            self.show_error(f"Not saved: {exc}")
            return
        live = self.context.settings
        self.restart_needed = any(
            getattr(settings, name) != getattr(live, name) for name in ENGINE_FIELDS
        )
        # These two need no new engine: the window reads them when it uses them.
        live.editor_command = settings.editor_command
        live.start_hidden = settings.start_hidden
        live.start_at_login = settings.start_at_login
        # The indexer takes new ignore rules or a new size limit at once (nothing if equal).
        self.context.apply_file_rules(settings)
        self.saved_settings = settings
        super().accept()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("notes")
    label.setWordWrap(True)
    return label


def _spacer() -> QWidget:
    spacer = QWidget()
    spacer.setFixedHeight(8)
    return spacer
