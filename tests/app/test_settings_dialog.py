"""The settings dialog against a real PostgreSQL server and real settings files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel
from pytestqt.qtbot import QtBot

from codanna_desktop.app.context import AppContext
from codanna_desktop.app.settings_dialog import (
    DEFAULT_MODELS_TRADE_OFF,
    MODEL_NAMED,
    SettingsDialog,
    join_password,
    parse_size,
    reembed_estimate,
    split_password,
)
from codanna_desktop.core.errors import SettingsError
from codanna_desktop.core.settings import AppPaths, load_settings
from tests.fixtures_pg import PgTestServer

WAIT_MS = 60_000


@pytest.fixture
def dialog(qtbot: QtBot, context: AppContext) -> SettingsDialog:
    dialog = SettingsDialog(context)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.chunk_count is not None, timeout=WAIT_MS)
    return dialog


def settings_file() -> Path:
    return AppPaths.default().settings_file


def press_ok(dialog: SettingsDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def enter_database(dialog: SettingsDialog, url: str) -> None:
    """Type a full URL (password included) the way a person pastes it."""
    dialog.store_pg.setChecked(True)
    dialog.url_edit.setText(url)
    dialog.url_edit.editingFinished.emit()


def label_texts(dialog: SettingsDialog) -> list[str]:
    return [label.text() for label in dialog.findChildren(QLabel)]


def test_a_bad_postgresql_url_is_refused_with_the_servers_message(
    qtbot: QtBot, dialog: SettingsDialog, pg_server: PgTestServer
) -> None:
    pg_server.start()
    wrong = "not-the-password-9f3k"
    enter_database(dialog, pg_server.url_for("postgres", password=wrong))

    press_ok(dialog)

    qtbot.waitUntil(lambda: dialog.save_anyway.isVisible(), timeout=WAIT_MS)
    assert "password authentication failed" in dialog.connection_label.text()
    assert "Not saved" in dialog.error_label.text()
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.isVisible()
    assert not settings_file().exists()
    assert all(wrong not in text for text in label_texts(dialog))
    assert wrong not in dialog.url_edit.text()  # the password moved to the masked field


def test_a_failed_url_is_saved_only_after_ticking_save_anyway(
    qtbot: QtBot, dialog: SettingsDialog, pg_server: PgTestServer
) -> None:
    pg_server.start()
    url = pg_server.url_for("postgres", password="wrong")
    enter_database(dialog, url)
    press_ok(dialog)
    qtbot.waitUntil(lambda: dialog.save_anyway.isVisible(), timeout=WAIT_MS)
    assert not settings_file().exists()

    dialog.save_anyway.setChecked(True)
    press_ok(dialog)

    assert dialog.result() == QDialog.DialogCode.Accepted
    assert load_settings(AppPaths.default()).database_url == url
    assert dialog.restart_needed


def test_a_good_postgresql_url_is_tested_and_saved(
    qtbot: QtBot, dialog: SettingsDialog, pg_url: str
) -> None:
    enter_database(dialog, pg_url)

    press_ok(dialog)

    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=WAIT_MS)
    assert dialog.connection_label.text().startswith("Connected: PostgreSQL")
    assert load_settings(AppPaths.default()).database_url == pg_url
    assert dialog.restart_needed


def test_test_connection_shows_the_server_and_pgvector_versions(
    qtbot: QtBot, dialog: SettingsDialog, pg_server: PgTestServer
) -> None:
    pg_server.start()
    enter_database(dialog, pg_server.url)

    dialog.test_button.click()

    qtbot.waitUntil(lambda: "Connected" in dialog.connection_label.text(), timeout=WAIT_MS)
    text = dialog.connection_label.text()
    assert "PostgreSQL 18" in text and "pgvector 0." in text
    assert pg_server.password not in text
    assert not settings_file().exists()  # testing saves nothing


@pytest.mark.parametrize(
    ("size", "reason"),
    [("0", "between 1 KiB and 1 GiB"), ("5 GiB", "between 1 KiB and 1 GiB"), ("big", "not a size")],
)
def test_an_invalid_maximum_file_size_is_refused_and_nothing_is_saved(
    dialog: SettingsDialog, size: str, reason: str
) -> None:
    dialog.editor_edit.setText("code -g {path}:{line}")  # a valid change, also not saved
    dialog.max_size_edit.setText(size)

    press_ok(dialog)

    assert reason in dialog.error_label.text()
    assert dialog.error_label.isVisible()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert not settings_file().exists()


def test_an_editor_command_without_path_is_refused(dialog: SettingsDialog) -> None:
    dialog.editor_edit.setText("code -g")
    press_ok(dialog)
    assert "{path}" in dialog.error_label.text()
    assert not settings_file().exists()


def test_the_editor_command_applies_at_once_without_a_restart(
    dialog: SettingsDialog, context: AppContext
) -> None:
    dialog.editor_edit.setText("subl {path}:{line}")
    press_ok(dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert load_settings(AppPaths.default()).editor_command == "subl {path}:{line}"
    assert context.settings.editor_command == "subl {path}:{line}"
    assert not dialog.restart_needed


def test_new_ignore_rules_and_size_apply_at_once_to_the_index(
    qtbot: QtBot, dialog: SettingsDialog, context: AppContext, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "docs" / "api").mkdir(parents=True)
    (project / "main.py").write_text("def serve_forever():\n    pass\n")
    (project / "docs" / "api" / "client.py").write_text("def generated_stub():\n    pass\n")
    context.start()
    context.add_folders([project])
    qtbot.waitUntil(lambda: bool(context.search_now("generated_stub").lexical), timeout=WAIT_MS)

    dialog.max_size_edit.setText("2 MiB")
    dialog.ignore_edit.setPlainText("*.generated.ts\n\n  docs/api/  \n")
    press_ok(dialog)
    saved = load_settings(AppPaths.default())
    assert saved.max_file_size == 2 * 1024 * 1024
    assert saved.ignore_patterns == ["*.generated.ts", "docs/api/"]
    assert not dialog.restart_needed
    # The running indexer drops what the new rules leave out; nothing else goes.
    qtbot.waitUntil(lambda: not context.search_now("generated_stub").lexical, timeout=WAIT_MS)
    assert context.search_now("serve_forever").lexical
    assert context.settings.ignore_patterns == ["*.generated.ts", "docs/api/"]


def test_changing_the_model_warns_of_re_embedding_with_an_estimate(
    qtbot: QtBot, context: AppContext, tmp_path: Path
) -> None:
    folder = tmp_path / "code"
    folder.mkdir()
    for i in range(6):
        (folder / f"m{i}.py").write_text(f"def f{i}(x):\n    return x * {i}\n")
    engine = context.engine
    engine.index([engine.add_root(folder)], embed=False)
    dialog = SettingsDialog(context)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.chunk_count is not None, timeout=WAIT_MS)
    assert not dialog.model_warning.isVisible()

    dialog.model_choice.setCurrentIndex(MODEL_NAMED)
    dialog.model_name_edit.setText("BAAI/bge-small-en-v1.5")
    dialog.model_name_edit.textEdited.emit("BAAI/bge-small-en-v1.5")

    assert dialog.model_warning.isVisible()
    text = dialog.model_warning.text()
    assert dialog.chunk_count == 6  # one function per file
    assert "re-embeds everything: 6 chunks, about 1 second at ~20 chunks/s" in text


def test_the_re_embedding_estimate_uses_twenty_chunks_a_second() -> None:
    assert "2,000 chunks, about 2 minutes" in reembed_estimate(2000)
    assert "100,000 chunks, about 83 minutes" in reembed_estimate(100_000)
    assert "200,000 chunks, about 2.8 hours" in reembed_estimate(200_000)


def test_a_password_given_as_a_url_parameter_goes_to_the_masked_field(
    qtbot: QtBot, context: AppContext
) -> None:
    url = "postgresql://me@db.example:5432/code?sslmode=require&password=p%40ss%2Fw"
    assert split_password(url) == ("postgresql://me@db.example:5432/code?sslmode=require", "p@ss/w")
    assert join_password(*split_password(url)) == (
        "postgresql://me:p%40ss%2Fw@db.example:5432/code?sslmode=require"
    )
    context.paths.config_dir.mkdir(parents=True, exist_ok=True)
    settings_file().write_text(f'database_url = "{url}"\n')
    dialog = SettingsDialog(context)
    qtbot.addWidget(dialog)
    dialog.show()

    assert dialog.password_edit.text() == "p@ss/w"
    assert "p%40ss" not in dialog.url_edit.text() and "password" not in dialog.url_edit.text()
    assert all("p%40ss" not in text and "p@ss" not in text for text in label_texts(dialog))


def test_a_saved_password_is_never_shown_in_clear(
    qtbot: QtBot, context: AppContext, pg_url: str
) -> None:
    context.paths.config_dir.mkdir(parents=True, exist_ok=True)
    settings_file().write_text(f'database_url = "{pg_url}"\n')
    _, password = split_password(pg_url)
    dialog = SettingsDialog(context)
    qtbot.addWidget(dialog)
    dialog.show()

    assert dialog.password_edit.text() == password
    assert dialog.password_edit.echoMode() == dialog.password_edit.EchoMode.Password
    assert password not in dialog.url_edit.text()
    assert all(password not in text for text in label_texts(dialog))


def test_sizes_read_the_way_people_write_them() -> None:
    assert parse_size("1 MiB") == 1024 * 1024
    assert parse_size("512kb") == 512 * 1024
    assert parse_size("1.5 M") == 1536 * 1024
    assert parse_size("2048") == 2048
    with pytest.raises(SettingsError):
        parse_size("a lot")


def test_the_fast_single_model_is_offered_with_its_trade_off(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    assert dialog.default_models_choice.currentIndex() == 0  # both, the default
    assert DEFAULT_MODELS_TRADE_OFF in label_texts(dialog)
    assert "MRR@10" in DEFAULT_MODELS_TRADE_OFF

    dialog.default_models_choice.setCurrentIndex(1)

    assert dialog.settings_from_fields().embedding_models == "fast"
    assert dialog.model_warning.isVisible()
    assert "nothing is embedded again" in dialog.model_warning.text()
    dialog.model_choice.setCurrentIndex(MODEL_NAMED)
    assert not dialog.default_models_choice.isEnabled()


def test_a_saved_fast_choice_is_shown_and_kept(qtbot: QtBot, context: AppContext) -> None:
    context.paths.config_dir.mkdir(parents=True, exist_ok=True)
    settings_file().write_text('embedding_models = "fast"\n')
    dialog = SettingsDialog(context)
    qtbot.addWidget(dialog)

    assert dialog.default_models_choice.currentIndex() == 1
    assert dialog.settings_from_fields().embedding_models == "fast"
    assert not dialog.model_warning.isVisible()
