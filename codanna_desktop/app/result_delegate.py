"""Paints one search result: where it is, what it is, a snippet with the query's words
marked, and a bar that splits the score into its exact-words and meaning parts.

    http_client.py   project/net                                   lines 9–12
    readFileContents  method                       python  [■■■■■■□□□] 0.83
      9  def readFileContents(self, path):
     10      with open(path) as fh:
"""

from __future__ import annotations

from pathlib import PurePosixPath

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from codanna_desktop.app import theme
from codanna_desktop.app.results_model import RESULT_ROLE
from codanna_desktop.core.ranking.search import SearchResult

SNIPPET_LINES_SHOWN = 4
PAD_X = 12
PAD_Y = 8
BAR_WIDTH = 72
BAR_HEIGHT = 6
TAB = "    "
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

Segment = tuple[str, bool]  # (text, is a match of the query)


def snippet_segments(
    snippet: str, highlights: list[tuple[int, int]], first_line: int, max_lines: int
) -> list[tuple[int, list[Segment]]]:
    """The first `max_lines` lines of a snippet as (line number, segments), tabs expanded
    and the common indentation removed so the code sits at the left edge."""
    lines: list[tuple[int, list[Segment]]] = []
    offset = 0
    for i, line in enumerate(snippet.split("\n")[:max_lines]):
        start, end = offset, offset + len(line)
        segments: list[Segment] = []
        pos = 0
        for a, b in highlights:
            if a >= end or b <= start:
                continue
            a, b = max(a, start) - start, min(b, end) - start
            if a > pos:
                segments.append((line[pos:a], False))
            segments.append((line[a:b], True))
            pos = b
        if pos < len(line):
            segments.append((line[pos:], False))
        lines.append((first_line + i, [(t.replace("\t", TAB), hit) for t, hit in segments]))
        offset = end + 1
    while lines and not "".join(t for t, _ in lines[-1][1]).strip():
        lines.pop()
    indents = [
        len(joined) - len(joined.lstrip(" "))
        for _, segments in lines
        if (joined := "".join(t for t, _ in segments)).strip()
    ]
    cut = min(indents, default=0)
    return [(number, _drop_prefix(segments, cut)) for number, segments in lines]


def _drop_prefix(segments: list[Segment], count: int) -> list[Segment]:
    out: list[Segment] = []
    for text, hit in segments:
        if count > 0:
            dropped = min(count, len(text))
            text, count = text[dropped:], count - dropped
        if text:
            out.append((text, hit))
    return out


def location_text(result: SearchResult) -> tuple[str, str]:
    """(file name, where it is: root folder name and the folders inside it)."""
    rel = PurePosixPath(result.path)
    folder = "" if str(rel.parent) == "." else str(rel.parent)
    where = f"{result.root.name}/{folder}" if folder else result.root.name
    return rel.name, where


def line_range_text(result: SearchResult) -> str:
    if result.end_line > result.start_line:
        return f"lines {result.start_line}–{result.end_line}"
    return f"line {result.start_line}"


class ResultDelegate(QStyledItemDelegate):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.code_font = theme.monospace_font(-0.5)

    # -- fonts and sizes ----------------------------------------------------------------

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont]:
        title = QFont(option.font)
        title.setWeight(QFont.Weight.DemiBold)
        meta = QFont(option.font)
        if meta.pointSizeF() > 0:
            meta.setPointSizeF(meta.pointSizeF() - 0.5)
        return title, meta, self.code_font

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        result = index.data(RESULT_ROLE)
        title, meta, code = self._fonts(option)
        lines = 0
        if isinstance(result, SearchResult):
            lines = len(
                snippet_segments(result.snippet, [], result.snippet_start_line, SNIPPET_LINES_SHOWN)
            )
        height = (
            PAD_Y * 2
            + QFontMetrics(title).height()
            + 3
            + QFontMetrics(meta).height()
            + (6 + lines * QFontMetrics(code).lineSpacing() if lines else 0)
        )
        return QSize(360, height)

    # -- painting -----------------------------------------------------------------------

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        result = index.data(RESULT_ROLE)
        if not isinstance(result, SearchResult):
            super().paint(painter, option, index)
            return
        palette: QPalette = option.palette
        rect: QRect = option.rect
        state = option.state
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setClipRect(rect)
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        if selected:
            painter.fillRect(rect, theme.selection_fill(palette))
            painter.fillRect(
                QRect(rect.left(), rect.top(), 3, rect.height()), theme.accent(palette)
            )
        else:
            painter.fillRect(rect, theme.hover_fill(palette) if hovered else theme.base(palette))
        painter.fillRect(
            QRect(rect.left(), rect.bottom(), rect.width(), 1), theme.hairline(palette)
        )
        title_font, meta_font, code_font = self._fonts(option)
        left, right = rect.left() + PAD_X, rect.right() - PAD_X
        y = rect.top() + PAD_Y
        y = self._paint_header(painter, palette, result, title_font, meta_font, left, right, y)
        self._paint_snippet(painter, palette, result, code_font, left, right, y + 6)
        painter.restore()

    def _paint_header(
        self,
        painter: QPainter,
        palette: QPalette,
        result: SearchResult,
        title_font: QFont,
        meta_font: QFont,
        left: int,
        right: int,
        y: int,
    ) -> int:
        name, where = location_text(result)
        title_fm, meta_fm = QFontMetrics(title_font), QFontMetrics(meta_font)
        # Row 1: file name, folder (elided), line range at the right.
        lines_text = line_range_text(result)
        painter.setFont(meta_font)
        painter.setPen(theme.muted_text(palette))
        lines_w = meta_fm.horizontalAdvance(lines_text)
        row1 = QRect(left, y, right - left, title_fm.height())
        painter.drawText(
            row1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, lines_text
        )
        painter.setFont(title_font)
        painter.setPen(theme.text(palette))
        name_room = right - left - lines_w - 16
        name = title_fm.elidedText(name, Qt.TextElideMode.ElideMiddle, name_room)
        painter.drawText(row1, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
        x = left + title_fm.horizontalAdvance(name) + 10
        painter.setFont(meta_font)
        painter.setPen(theme.muted_text(palette))
        where = meta_fm.elidedText(
            where, Qt.TextElideMode.ElideLeft, max(0, right - lines_w - 16 - x)
        )
        painter.drawText(
            QRect(x, y, right - x, title_fm.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            where,
        )
        y += title_fm.height() + 3
        # Row 2: symbol and kind at the left; language, score bar and score at the right.
        row2 = QRect(left, y, right - left, meta_fm.height())
        score_text = f"{result.score:.2f}"
        score_w = meta_fm.horizontalAdvance("0.00")
        painter.drawText(
            row2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, score_text
        )
        bar_right = right - score_w - 6
        bar = QRectF(
            bar_right - BAR_WIDTH, y + (meta_fm.height() - BAR_HEIGHT) / 2, BAR_WIDTH, BAR_HEIGHT
        )
        self._paint_score_bar(painter, palette, result, bar)
        badge_right = int(bar.left()) - 10
        badge_w = self._paint_language(painter, palette, result.language, meta_font, badge_right, y)
        # What the chunk has of the query: "exact match", or only "similar" (told apart
        # so a merely similar chunk never passes for the answer).
        match_right = badge_right - badge_w - 6
        match_w = self._paint_match(painter, palette, result, meta_font, match_right, y)
        symbol_room = match_right - match_w - 10 - left
        painter.setFont(meta_font)
        x = left
        if result.symbol:
            painter.setPen(theme.text(palette))
            symbol = meta_fm.elidedText(result.symbol, Qt.TextElideMode.ElideRight, symbol_room)
            painter.drawText(
                QRect(x, y, symbol_room, meta_fm.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                symbol,
            )
            x += meta_fm.horizontalAdvance(symbol) + 8
        kind = result.kind if result.kind and result.kind != result.symbol else ""
        if kind and x < left + symbol_room:
            painter.setPen(theme.muted_text(palette))
            painter.drawText(
                QRect(x, y, left + symbol_room - x, meta_fm.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                meta_fm.elidedText(kind, Qt.TextElideMode.ElideRight, left + symbol_room - x),
            )
        return y + meta_fm.height()

    def _paint_score_bar(
        self, painter: QPainter, palette: QPalette, result: SearchResult, bar: QRectF
    ) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.hairline(palette))
        painter.drawRoundedRect(bar, BAR_HEIGHT / 2, BAR_HEIGHT / 2)
        lexical_w = bar.width() * max(0.0, min(1.0, result.lexical_part))
        semantic_w = bar.width() * max(0.0, min(1.0 - result.lexical_part, result.semantic_part))
        painter.save()
        clip = QRectF(bar)
        painter.setClipRect(QRectF(bar.left(), bar.top(), lexical_w + semantic_w, bar.height()))
        painter.setBrush(theme.semantic_color(palette))
        painter.drawRoundedRect(clip, BAR_HEIGHT / 2, BAR_HEIGHT / 2)
        painter.setClipRect(QRectF(bar.left(), bar.top(), lexical_w, bar.height()))
        painter.setBrush(theme.lexical_color(palette))
        painter.drawRoundedRect(clip, BAR_HEIGHT / 2, BAR_HEIGHT / 2)
        painter.restore()

    def _paint_match(
        self,
        painter: QPainter,
        palette: QPalette,
        result: SearchResult,
        font: QFont,
        right: int,
        y: int,
    ) -> int:
        text = result.match.label()
        fm = QFontMetrics(font)
        width = fm.horizontalAdvance(text) + 12
        box = QRectF(right - width, y + 1, width, fm.height() - 2)
        painter.setPen(Qt.PenStyle.NoPen)
        similar = not result.match.contains_query
        painter.setBrush(theme.hairline(palette) if similar else theme.lexical_color(palette))
        painter.drawRoundedRect(box, 4, 4)
        painter.setFont(font)
        painter.setPen(theme.muted_text(palette) if similar else theme.base(palette))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        return width

    def _paint_language(
        self, painter: QPainter, palette: QPalette, language: str, font: QFont, right: int, y: int
    ) -> int:
        if not language:
            return 0
        fm = QFontMetrics(font)
        width = fm.horizontalAdvance(language) + 12
        box = QRectF(right - width, y + 1, width, fm.height() - 2)
        painter.setPen(theme.hairline(palette))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(box, 4, 4)
        painter.setFont(font)
        painter.setPen(theme.muted_text(palette))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, language)
        return width

    def _paint_snippet(
        self,
        painter: QPainter,
        palette: QPalette,
        result: SearchResult,
        font: QFont,
        left: int,
        right: int,
        y: int,
    ) -> None:
        lines = snippet_segments(
            result.snippet, result.highlights, result.snippet_start_line, SNIPPET_LINES_SHOWN
        )
        if not lines:
            return
        fm = QFontMetrics(font)
        painter.setFont(font)
        gutter = fm.horizontalAdvance(str(lines[-1][0])) + 12
        for number, segments in lines:
            painter.setPen(theme.muted_text(palette))
            painter.drawText(
                QRect(left, y, gutter - 12, fm.lineSpacing()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                str(number),
            )
            x = float(left + gutter)
            baseline = y + fm.ascent() + (fm.lineSpacing() - fm.height()) / 2
            for text, hit in segments:
                if x > right:
                    break
                width = fm.horizontalAdvance(text)
                if hit:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(theme.match_fill(palette))
                    painter.drawRoundedRect(QRectF(x - 1, y, width + 2, fm.lineSpacing()), 3, 3)
                painter.setPen(theme.text(palette))
                painter.drawText(QPointF(x, baseline), text)
                x += width
            y += fm.lineSpacing()
