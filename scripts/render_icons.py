#!/usr/bin/env python3
"""Render resources/icons/codanna-desktop.svg to the PNG sizes desktops ask for.

Run after editing the SVG; the PNGs are committed, so the app never needs QtSvg at run
time and a desktop entry or installer can use them as they are:

    .venv/bin/python scripts/render_icons.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def render(svg: Path, size: int) -> QImage:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed
    app = QGuiApplication(sys.argv[:1])  # QPainter on a QImage needs a GUI application
    svg = ICONS / "codanna-desktop.svg"
    for size in SIZES:
        out = ICONS / f"codanna-desktop-{size}.png"
        if not render(svg, size).save(str(out)):
            raise SystemExit(f"render_icons: cannot write {out}")
        print(f"wrote {out.relative_to(ICONS.parent.parent)}")
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
