"""Settings: one file, validated before it is written, never printing a password."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.errors import SettingsError
from codanna_desktop.core.redaction import redact_message
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


def write_settings_file(text: str) -> AppPaths:
    paths = AppPaths.default()
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text(text)
    return paths


@pytest.mark.parametrize(
    ("line", "key", "expected", "example"),
    [
        ('ignore_patterns = "*.py"', "ignore_patterns", "a list of texts", '["*.lock"'),
        ('excluded_dirs = "node_modules"', "excluded_dirs", "a list of texts", '["node_modules"'),
        ("excluded_dirs = 5", "excluded_dirs", "a list of texts", "["),
        ('excluded_dirs = ["build", 3]', "excluded_dirs", "a list of texts", "["),
        ('alpha = "high"', "alpha", "a number", "alpha = 0.8"),
        ("alpha = nan", "alpha", "a number between 0 and 1", "alpha = 0.8"),
        ('max_file_size = "big"', "max_file_size", "a whole number", "max_file_size = 1048576"),
        ("model = 3", "model", "a text", 'model = "sentence-transformers/'),
        ("embed_batch_size = 2.5", "embed_batch_size", "a whole number", "embed_batch_size = 4"),
        ("start_hidden = 1", "start_hidden", "true or false", "start_hidden = false"),
        ("follow_links_outside = 'yes'", "follow_links_outside", "true or false", "= false"),
        ("candidates_per_side = true", "candidates_per_side", "a whole number", "= 100"),
        ("database_url = 5432", "database_url", "a text", 'database_url = "postgresql://'),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_key_type_and_an_example(
    line: str, key: str, expected: str, example: str
) -> None:
    paths = write_settings_file(line + "\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(paths)
    message = str(caught.value)
    assert f"setting {key} must be {expected}" in message
    assert example in message
    assert str(paths.settings_file) in message


@pytest.mark.parametrize(
    "bad",
    [
        Settings(ignore_patterns="*.py"),  # type: ignore[arg-type]
        Settings(excluded_dirs="node_modules"),  # type: ignore[arg-type]
        Settings(embed_batch_size=2.5),  # type: ignore[arg-type]
        Settings(alpha="high"),  # type: ignore[arg-type]
        Settings(model=3),  # type: ignore[arg-type]
        Settings(start_hidden="no"),  # type: ignore[arg-type]
    ],
)
def test_a_value_of_the_wrong_type_is_never_saved(bad: Settings) -> None:
    paths = AppPaths.default()
    with pytest.raises(SettingsError, match="The setting"):
        save_settings(bad, paths)
    assert not paths.settings_file.exists()


def test_a_whole_number_is_a_number_for_the_weight() -> None:
    paths = write_settings_file("alpha = 1\n")
    assert load_settings(paths).alpha == 1.0
    assert isinstance(load_settings(paths).alpha, float)


def test_an_unknown_key_is_ignored_with_a_warning_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    paths = write_settings_file("alpah = 0.3\nalpha = 0.4\n")
    with caplog.at_level("WARNING"):
        settings = load_settings(paths)
    assert settings.alpha == 0.4
    assert "'alpah'" in caplog.text


def test_saving_writes_only_what_the_user_set() -> None:
    paths = AppPaths.default()
    save_settings(Settings(alpha=0.3), paths)
    # So a later change of a default (excluded_dirs, candidates_per_side...) reaches them.
    assert tomllib.loads(paths.settings_file.read_text()) == {"alpha": 0.3}


def test_a_key_the_file_has_is_kept_even_when_set_back_to_its_default() -> None:
    paths = write_settings_file("max_file_size = 2097152\nstart_hidden = false\n")
    settings = load_settings(paths)
    settings.max_file_size = Settings().max_file_size
    save_settings(settings, paths)
    assert tomllib.loads(paths.settings_file.read_text()) == {
        "max_file_size": 1024 * 1024,
        "start_hidden": False,
    }


def test_keys_of_another_version_survive_a_save() -> None:
    paths = write_settings_file('a_newer_key = "kept"\n')
    save_settings(Settings(alpha=0.5), paths)
    assert tomllib.loads(paths.settings_file.read_text()) == {
        "a_newer_key": "kept",
        "alpha": 0.5,
    }


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice:s3cret@db.example:5432/code",
        "postgresql://alice@db.example/code?password=s3cret",
        "postgresql://alice@db.example/code?sslmode=require&password=s3cret&connect_timeout=3",
        "postgresql://alice@db.example/code?p%61ssword=s3cret",
        "postgres://alice:s3cret@h1:5432,h2:5433/code",
        "postgresql://alice:s3cr/et@db.example/code",  # an unescaped / in the password
        "postgresql://alice:s3cr%2Fet@db.example/code",
        "host=db.example user=alice password=s3cret dbname=code",
        "host=db.example password = 's3 cr\\'et' dbname=code",
        "host=db.example password='s3cret",  # unterminated: still the password
        "host=db.example password=s3\\ cret",
    ],
)
def test_a_password_is_redacted_in_every_form_libpq_accepts(url: str) -> None:
    redacted = redact_url(url)
    for piece in ("s3cret", "s3", "cret", "cr%2Fet", "cr\\'et"):
        assert piece not in redacted
    assert "db.example" in redacted or "h1" in redacted
    assert "***" in redacted


def test_a_url_without_a_password_is_shown_as_it_is() -> None:
    for url in ("postgresql://db/code", "postgresql://bob@db/code?sslmode=require", "host=db"):
        assert redact_url(url) == url


def test_an_error_message_quoting_the_password_has_it_masked() -> None:
    url = "host=db password='s3 cret' dbname=code"
    message = redact_message('missing "=" after "s3 cret" near password=s3', url)
    assert "s3 cret" not in message and "password=s3" not in message
    assert redact_message("could not connect", "postgresql://db") == "could not connect"


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_the_data_folder_is_private_to_its_user_and_tightened_when_it_was_not() -> None:
    paths = AppPaths.default()
    (paths.data_dir / "lexical").mkdir(parents=True)
    paths.data_dir.chmod(0o755)
    (paths.data_dir / "lexical").chmod(0o755)
    (paths.data_dir / "lexical" / "old.segment").write_text("code")
    (paths.data_dir / "lexical" / "old.segment").chmod(0o644)
    with Engine(paths, Settings()):
        pass
    modes = {
        p.relative_to(paths.data_dir).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in [paths.data_dir, *paths.data_dir.rglob("*")]
    }
    assert modes["."] == 0o700
    assert modes["catalog.sqlite"] == 0o600
    assert modes["lexical"] == 0o700 and modes["lexical/old.segment"] == 0o600
    assert not {name: mode for name, mode in modes.items() if mode & 0o077}


def test_a_file_holding_the_old_default_skip_list_gets_todays(tmp_path: Path) -> None:
    from codanna_desktop.core.settings import (
        DEFAULT_EXCLUDED_DIRS,
        PREVIOUS_DEFAULT_EXCLUDED_DIRS,
    )

    paths = AppPaths(tmp_path / "config", tmp_path / "data")
    paths.config_dir.mkdir()
    listed = ", ".join(f'"{name}"' for name in PREVIOUS_DEFAULT_EXCLUDED_DIRS)
    paths.settings_file.write_text(f"excluded_dirs = [{listed}]\n")
    assert load_settings(paths).excluded_dirs == DEFAULT_EXCLUDED_DIRS
    # A list the person changed is theirs.
    paths.settings_file.write_text('excluded_dirs = ["build", ".git"]\n')
    assert load_settings(paths).excluded_dirs == ["build", ".git"]
