"""Colours, fonts and the window's style sheet, all derived from the system palette.

Nothing here hard-codes a background: every colour is a palette role or a blend of two,
so the window follows the system's light or dark theme (and a theme change at run time,
as long as the widgets repaint). The two score colours (exact words, meaning) are the one
fixed choice; they come in a light and a dark variant so both stay readable.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QIcon,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)

log = logging.getLogger(__name__)


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def blend(a: QColor, b: QColor, t: float) -> QColor:
    """`a` moved a fraction `t` of the way towards `b` (t=0: a, t=1: b)."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
    )


def base(palette: QPalette) -> QColor:
    return palette.color(QPalette.ColorRole.Base)


def text(palette: QPalette) -> QColor:
    return palette.color(QPalette.ColorRole.Text)


def muted_text(palette: QPalette) -> QColor:
    """Secondary text (folders, line numbers): readable, but quieter than the text."""
    return blend(text(palette), base(palette), 0.42)


def hairline(palette: QPalette) -> QColor:
    """Separators and tracks: a step away from the base colour."""
    return blend(base(palette), text(palette), 0.12)


def selection_fill(palette: QPalette) -> QColor:
    """A tinted, not saturated, selection so the highlighted snippet stays readable."""
    return blend(base(palette), palette.color(QPalette.ColorRole.Highlight), 0.2)


def hover_fill(palette: QPalette) -> QColor:
    return blend(base(palette), text(palette), 0.04)


def accent(palette: QPalette) -> QColor:
    return palette.color(QPalette.ColorRole.Highlight)


def lexical_color(palette: QPalette) -> QColor:
    """The "exact words" part of a score."""
    return QColor("#f0a24a") if is_dark(palette) else QColor("#d97706")


def semantic_color(palette: QPalette) -> QColor:
    """The "meaning" part of a score."""
    return QColor("#8aa8ff") if is_dark(palette) else QColor("#4f6bed")


def match_fill(palette: QPalette) -> QColor:
    """Behind the words of the query in snippets and in the preview."""
    amber = QColor("#f5c542")
    share = 0.38 if is_dark(palette) else 0.55
    if palette.currentColorGroup() == QPalette.ColorGroup.Disabled:
        share /= 3  # greyed out with the rest of a list that is not the current answer
    return blend(base(palette), amber, share)


def matched_lines_fill(palette: QPalette) -> QColor:
    """Behind the lines of the matched chunk in the preview."""
    return blend(base(palette), accent(palette), 0.1)


def error_color(palette: QPalette) -> QColor:
    return QColor("#ff7b72") if is_dark(palette) else QColor("#c62828")


def ok_color(palette: QPalette) -> QColor:
    return QColor("#56d364") if is_dark(palette) else QColor("#2e7d32")


def pygments_style_name(palette: QPalette) -> str:
    """A Pygments style whose token colours read well on this palette's base colour."""
    return "github-dark" if is_dark(palette) else "default"


def monospace_font(point_delta: float = 0.0) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if point_delta and font.pointSizeF() > 0:
        font.setPointSizeF(max(6.0, font.pointSizeF() + point_delta))
    return font


def window_style_sheet() -> str:
    """Spacing and shapes; colours only through palette() so the theme decides them."""
    return """
    QLineEdit#searchBox {
        padding: 7px 10px;
        border: 1px solid palette(mid);
        border-radius: 7px;
        background: palette(base);
        font-size: 15px;
    }
    QLineEdit#searchBox:focus { border: 2px solid palette(highlight); padding: 6px 9px; }
    QListView#results, QListWidget#folders { border: none; background: palette(base); }
    QLabel#emptyState { color: palette(placeholder-text); font-size: 15px; }
    QLabel#notes { color: palette(placeholder-text); padding: 2px 4px; }
    QLabel#previewHeader { padding: 6px 8px; }
    QLabel#panelTitle {
        color: palette(placeholder-text);
        font-size: 11px;
        font-weight: 600;
        letter-spacing: 1px;
        padding: 10px 10px 6px 10px;
    }
    QSplitter::handle { background: palette(window); }
    QStatusBar QLabel { padding: 0 4px; }
    """


def app_icon() -> QIcon:
    """The application icon (app/icons.py, from resources/icons/), or a drawn stand-in
    when the resources are missing, so a broken install still gets a window."""
    try:
        from codanna_desktop.app.icons import app_icon as resource_icon

        icon = resource_icon()
        if not icon.isNull():
            return icon
    except (ImportError, OSError, RuntimeError) as exc:
        log.warning("application icon unavailable, drawing one: %s", exc)
    return drawn_icon()


def drawn_icon(size: int = 128) -> QIcon:
    """A magnifier over code lines, used when the resources carry no icon."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 128
    tile = QPainterPath()
    tile.addRoundedRect(QRectF(6 * s, 6 * s, 116 * s, 116 * s), 26 * s, 26 * s)
    gradient = QLinearGradient(QPointF(0, 0), QPointF(0, size))
    gradient.setColorAt(0, QColor("#5b7cfa"))
    gradient.setColorAt(1, QColor("#3a4fc4"))
    painter.fillPath(tile, gradient)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(255, 255, 255, 200))
    for i, width in enumerate((56, 40, 62, 30)):
        painter.drawRoundedRect(QRectF(24 * s, (30 + i * 16) * s, width * s, 7 * s), 3 * s, 3 * s)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    pen = QPen(QColor("#ffd166"), 9 * s)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.drawEllipse(QPointF(74 * s, 72 * s), 20 * s, 20 * s)
    painter.drawLine(QPointF(89 * s, 87 * s), QPointF(104 * s, 102 * s))
    painter.end()
    return QIcon(pixmap)
