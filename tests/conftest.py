"""Shared test setup: every test gets its own CODANNA_HOME; the model and the PostgreSQL
server are started once per session (see fixtures_model.py and fixtures_pg.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The models folder that scripts/setup provisioned, shared by every test's CODANNA_HOME.
if "CODANNA_MODELS_DIR" not in os.environ:
    from codanna_desktop.core.settings import AppPaths

    os.environ.pop("CODANNA_HOME", None)
    os.environ["CODANNA_MODELS_DIR"] = str(AppPaths.default().models_dir)

pytest_plugins = ["tests.fixtures_model", "tests.fixtures_pg"]


@pytest.fixture(autouse=True)
def codanna_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty config and data directory for each test; nothing touches the user's own."""
    home = tmp_path / "codanna-home"
    monkeypatch.setenv("CODANNA_HOME", str(home))
    monkeypatch.delenv("CODANNA_DATABASE_URL", raising=False)
    return home
