"""The application icon and the tray's per-state looks.

The app icon comes from the PNGs rendered from resources/icons/codanna-desktop.svg
(scripts/render_icons.py), read through importlib.resources so it works from a checkout,
a wheel and a frozen bundle. The tray looks are painted at run time on top of it: a
progress ring while indexing, a faded icon with a pause badge when paused, a red badge
when something needs attention.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib.resources import files

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPainterPath, QPen, QPixmap

ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
# Tray icons are small; painting badges on the large sizes would only cost memory.
TRAY_SIZES = (16, 22, 24, 32, 48, 64)
STATES = ("idle", "indexing", "paused", "error")
# The ring is drawn in this many steps, so a busy indexer reuses a handful of icons.
PROGRESS_STEPS = 32

_BADGE_BACK = QColor("#13233f")
_RING_TRACK = QColor(255, 255, 255, 70)
_RING = QColor("#ffc53d")
_ERROR = QColor("#d93025")


@cache
def _base_image(size: int) -> QImage:
    data = files("codanna_desktop.resources").joinpath("icons", f"codanna-desktop-{size}.png")
    image = QImage.fromData(data.read_bytes())
    if image.isNull():
        raise RuntimeError(f"the icon codanna-desktop-{size}.png is missing or unreadable")
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


def app_icon() -> QIcon:
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addPixmap(QPixmap.fromImage(_base_image(size)))
    return icon


def state_icon(state: str, progress: float | None = None) -> QIcon:
    """The tray icon for `state` (idle, indexing, paused, error; the indexer's phases
    scanning and embedding count as indexing). `progress` in 0..1 draws that much of the
    ring; None while the total is not known yet draws a short arc."""
    look = _look(state)
    step = None
    if look == "indexing" and progress is not None:
        step = round(min(max(progress, 0.0), 1.0) * PROGRESS_STEPS)
    icon = QIcon()
    for image in _state_images(look, step):
        icon.addPixmap(QPixmap.fromImage(image))
    return icon


def _look(state: str) -> str:
    if state in ("scanning", "indexing", "embedding"):
        return "indexing"
    return state if state in STATES else "idle"


@lru_cache(maxsize=PROGRESS_STEPS + 8)
def _state_images(look: str, step: int | None) -> tuple[QImage, ...]:
    return tuple(_paint(look, step, size) for size in TRAY_SIZES)


def _paint(look: str, step: int | None, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    if look == "paused":
        p.setOpacity(0.45)
    p.drawImage(0, 0, _base_image(size))
    p.setOpacity(1.0)
    if look != "idle":
        # The badge sits in the lower right corner, over the magnifier's handle.
        d = max(size * 0.56, 9.0)
        badge = QRectF(size - d, size - d, d, d)
        if look == "indexing":
            _ring(p, badge, step)
        elif look == "paused":
            _pause(p, badge)
        else:
            _exclamation(p, badge)
    p.end()
    return image


def _ring(p: QPainter, r: QRectF, step: int | None) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(_BADGE_BACK)
    p.drawEllipse(r)
    width = max(r.width() * 0.2, 1.6)
    inner = r.adjusted(width * 0.9, width * 0.9, -width * 0.9, -width * 0.9)
    pen = QPen(_RING_TRACK, width)
    pen.setCapStyle(Qt.PenCapStyle.FlatCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawEllipse(inner)
    # Qt angles are in 1/16 degree, counter-clockwise from three o'clock. Progress starts
    # at twelve and sweeps clockwise like a clock; unknown progress is a quarter arc off
    # twelve, so it never reads as "a quarter done".
    span = PROGRESS_STEPS // 4 if step is None else step
    start = 30 if step is None else 90
    if span > 0:
        pen.setColor(_RING)
        full = span >= PROGRESS_STEPS
        pen.setCapStyle(Qt.PenCapStyle.FlatCap if full else Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        p.drawArc(inner, start * 16, -round(360 * 16 * span / PROGRESS_STEPS))


def _pause(p: QPainter, r: QRectF) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(_BADGE_BACK)
    p.drawEllipse(r)
    bar_w, bar_h = r.width() * 0.16, r.height() * 0.46
    gap = r.width() * 0.12
    top = r.center().y() - bar_h / 2
    p.setBrush(QColor("white"))
    p.drawRect(QRectF(r.center().x() - gap / 2 - bar_w, top, bar_w, bar_h))
    p.drawRect(QRectF(r.center().x() + gap / 2, top, bar_w, bar_h))


def _exclamation(p: QPainter, r: QRectF) -> None:
    p.setPen(QPen(QColor("white"), max(r.width() * 0.08, 1.0)))
    p.setBrush(_ERROR)
    p.drawEllipse(r.adjusted(0.5, 0.5, -0.5, -0.5))
    # Drawn as shapes, not text: no font needed, crisp at 16 px.
    cx, w = r.center().x(), r.width()
    stroke = QPainterPath()
    stroke.addRoundedRect(QRectF(cx - w * 0.075, r.top() + w * 0.2, w * 0.15, w * 0.38), 1, 1)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("white"))
    p.drawPath(stroke)
    p.drawEllipse(QPointF(cx, r.top() + w * 0.74), w * 0.085, w * 0.085)
