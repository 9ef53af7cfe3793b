"""Settings: one file, validated before it is written, never printing a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from codanna_desktop.core.errors import SettingsError
from codanna_desktop.core.settings import (
    AppPaths,
    Settings,
    load_settings,
    redact_url,
    save_settings,
)


def test_defaults_when_no_file_exists() -> None:
    settings = load_settings(AppPaths.default())
    assert settings == Settings()
    assert ".git" in settings.excluded_dirs and "node_modules" in settings.excluded_dirs


def test_saved_settings_round_trip_as_readable_toml() -> None:
    paths = AppPaths.default()
    settings = Settings(max_file_size=2 * 1024 * 1024, ignore_patterns=["*.lock"], alpha=0.3)
    save_settings(settings, paths)
    text = paths.settings_file.read_text()
    assert "max_file_size = 2097152" in text
    assert load_settings(paths) == settings


@pytest.mark.parametrize(
    "bad",
    [
        Settings(max_file_size=10),
        Settings(alpha=1.5),
        Settings(fusion="average"),
        Settings(database_url="mysql://x@y/z"),
        Settings(editor_command="code -g"),
        Settings(model_path="/no/such/folder"),
        Settings(embedding_models="all"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_written(bad: Settings) -> None:
    paths = AppPaths.default()
    save_settings(Settings(alpha=0.2), paths)
    before = paths.settings_file.read_bytes()
    with pytest.raises(SettingsError):
        save_settings(bad, paths)
    assert paths.settings_file.read_bytes() == before
    assert not [p for p in paths.config_dir.iterdir() if p.name.startswith(".settings-")]


def test_broken_settings_file_is_a_clear_error() -> None:
    paths = AppPaths.default()
    paths.config_dir.mkdir(parents=True)
    paths.settings_file.write_text("alpha = [unclosed")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(paths)


def test_password_never_appears_in_a_redacted_url() -> None:
    url = "postgresql://alice:s3cret@db.example:5432/code"
    assert "s3cret" not in redact_url(url)
    assert redact_url(url) == "postgresql://alice:***@db.example:5432/code"
    assert redact_url("postgresql://db/code") == "postgresql://db/code"


def test_environment_overrides_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODANNA_DATABASE_URL", "postgresql://env/db")
    assert Settings(database_url="postgresql://file/db").effective_database_url() == (
        "postgresql://env/db"
    )


def test_codanna_home_moves_config_and_data(codanna_home: Path) -> None:
    paths = AppPaths.default()
    assert paths.config_dir == codanna_home.resolve() / "config"
    assert paths.data_dir == codanna_home.resolve() / "data"
