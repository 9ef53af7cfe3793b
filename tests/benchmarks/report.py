"""Placeholder while the report is written."""

from __future__ import annotations

from pathlib import Path


def refresh(out_dir: Path) -> None:
    pass
