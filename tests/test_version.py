"""One version: the package, the command line and the changelog read one place."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import codanna_desktop

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_takes_its_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "codanna_desktop.__version__"}


def test_command_line_prints_the_package_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codanna_desktop", "--version"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == f"codanna-desktop {codanna_desktop.__version__}"


def test_changelog_starts_with_this_release() -> None:
    headings = [
        line[3:].strip()
        for line in (ROOT / "CHANGELOG.md").read_text().splitlines()
        if line.startswith("## ")
    ]
    assert headings and headings[0] == codanna_desktop.__version__
