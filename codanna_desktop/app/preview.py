"""The preview pane: the whole file of the selected result, highlighted, with the matched
lines marked and scrolled into view.

Reading and tokenising run on the thread pool (`load_preview`); the UI thread only maps
token types to colours of the current palette (a QSyntaxHighlighter that looks its spans
up per line) and scrolls. A file that has not changed since it was shown is not read
again, so stepping through several results in one file is instant.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.styles import get_style_by_name
from pygments.token import Token, _TokenType
from pygments.util import ClassNotFound
from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QStackedLayout,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from codanna_desktop.app import theme
from codanna_desktop.core.ranking.snippets import highlight_ranges

if TYPE_CHECKING:
    from pygments.lexer import Lexer

    from codanna_desktop.app.context import AppContext
    from codanna_desktop.core.ranking.search import SearchResult

MAX_PREVIEW_BYTES = 4 * 1024 * 1024  # a bigger file shows its beginning only
HIGHLIGHT_LIMIT = 600_000  # characters; beyond that the text shows without colours

Span = tuple[int, int, _TokenType]  # (start column, length, token type) within one line


@dataclass(frozen=True)
class PreviewText:
    path: Path
    mtime_ns: int
    text: str
    spans: list[list[Span]]  # per line
    note: str = ""  # why the preview is partial or plain
    matches: list[tuple[int, int, int]] = field(default_factory=list)  # (line, start, end)


def load_preview(
    path: Path,
    language: str = "",
    query: str = "",
    lines: tuple[int, int] = (0, 0),
    *,
    unchanged_since: int | None = None,
) -> PreviewText | None:
    """Read and tokenise a file (off the UI thread). None when its mtime is still
    `unchanged_since`. Raises OSError when the file cannot be read."""
    mtime = os.stat(path).st_mtime_ns
    if unchanged_since is not None and mtime == unchanged_since:
        return None
    with open(path, "rb") as fh:
        raw = fh.read(MAX_PREVIEW_BYTES + 1)
    note = ""
    if len(raw) > MAX_PREVIEW_BYTES:
        raw = raw[:MAX_PREVIEW_BYTES]
        note = f"Showing the first {MAX_PREVIEW_BYTES // (1024 * 1024)} MiB of a larger file."
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > HIGHLIGHT_LIMIT:
        spans: list[list[Span]] = [[] for _ in range(text.count("\n") + 1)]
        note = note or "This file is too big to colour; it shows as plain text."
    else:
        spans = token_spans(text, _lexer_for(path, language))
    return PreviewText(path, mtime, text, spans, note, query_matches(text, query, lines))


def _lexer_for(path: Path, language: str) -> Lexer:
    options: dict[str, Any] = {"stripnl": False, "ensurenl": False}
    try:
        return get_lexer_for_filename(path.name, **options)
    except ClassNotFound:
        pass
    try:
        return get_lexer_by_name(language, **options) if language else TextLexer(**options)
    except ClassNotFound:
        return TextLexer(**options)


def token_spans(text: str, lexer: Lexer) -> list[list[Span]]:
    """Token spans per line, from Pygments' character offsets (plain text is left out)."""
    line_starts = [0]
    line_starts += [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    spans: list[list[Span]] = [[] for _ in line_starts]
    for offset, ttype, value in lexer.get_tokens_unprocessed(text):
        if ttype in Token.Text or not value:
            continue
        end = offset + len(value)
        line = bisect.bisect_right(line_starts, offset) - 1
        while offset < end and line < len(line_starts):
            line_end = line_starts[line + 1] - 1 if line + 1 < len(line_starts) else len(text)
            piece_end = min(end, line_end)
            if piece_end > offset:
                spans[line].append((offset - line_starts[line], piece_end - offset, ttype))
            offset = line_end + 1
            line += 1
    return spans


def query_matches(text: str, query: str, lines: tuple[int, int]) -> list[tuple[int, int, int]]:
    """Where the query's words occur within lines[0]..lines[1] (1-based, inclusive)."""
    if not query.strip() or lines[0] <= 0:
        return []
    all_lines = text.split("\n")
    out = []
    for number in range(lines[0], min(lines[1], len(all_lines)) + 1):
        for start, end in highlight_ranges(query, all_lines[number - 1]):
            out.append((number - 1, start, end))
    return out


class TokenHighlighter(QSyntaxHighlighter):
    """Colours each line from precomputed spans, in the current palette's Pygments style."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.spans: list[list[Span]] = []
        self._formats: dict[_TokenType, QTextCharFormat] = {}
        self._style_name = ""

    def set_style(self, name: str) -> None:
        if name != self._style_name:
            self._style_name = name
            self._formats.clear()

    def set_spans(self, spans: list[list[Span]]) -> None:
        self.spans = spans

    def _format(self, ttype: _TokenType) -> QTextCharFormat:
        fmt = self._formats.get(ttype)
        if fmt is None:
            style = get_style_by_name(self._style_name or "default").style_for_token(ttype)
            fmt = QTextCharFormat()
            if style["color"]:
                fmt.setForeground(QColor(f"#{style['color']}"))
            if style["bold"]:
                fmt.setFontWeight(QFont.Weight.Bold)
            if style["italic"]:
                fmt.setFontItalic(True)
            self._formats[ttype] = fmt
        return fmt

    def highlightBlock(self, text: str) -> None:
        number = self.currentBlock().blockNumber()
        if 0 <= number < len(self.spans):
            for start, length, ttype in self.spans[number]:
                self.setFormat(start, length, self._format(ttype))


class _Gutter(QWidget):
    def __init__(self, view: CodeView) -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(self) -> QSize:
        return QSize(self.view.gutter_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.view.paint_gutter(event)


class CodeView(QPlainTextEdit):
    """A read-only code view with line numbers; the marked lines get a bar in the gutter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(theme.monospace_font())
        self.setFrameShape(QPlainTextEdit.Shape.NoFrame)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.setTabStopDistance(4 * self.fontMetrics().horizontalAdvance(" "))
        self.marked: tuple[int, int] = (0, 0)
        self._gutter = _Gutter(self)
        self.blockCountChanged.connect(self._block_count_changed)
        self.updateRequest.connect(self._scroll_gutter)
        self._update_margins()

    def gutter_width(self) -> int:
        digits = len(str(max(1, self.blockCount())))
        return 18 + self.fontMetrics().horizontalAdvance("9") * max(3, digits)

    def _block_count_changed(self, _blocks: int) -> None:
        self._update_margins()

    def _update_margins(self) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def _scroll_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self._gutter.scroll(0, dy)
        else:
            self._gutter.update(0, rect.y(), self._gutter.width(), rect.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        area = self.contentsRect()
        self._gutter.setGeometry(QRect(area.left(), area.top(), self.gutter_width(), area.height()))

    def paint_gutter(self, event: QPaintEvent) -> None:
        painter = QPainter(self._gutter)
        palette = self.palette()
        painter.fillRect(event.rect(), theme.base(palette))
        painter.setFont(self.font())
        block = self.firstVisibleBlock()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        height = self.fontMetrics().height()
        width = self._gutter.width()
        while block.isValid() and top <= event.rect().bottom():
            bottom = top + round(self.blockBoundingRect(block).height())
            number = block.blockNumber() + 1
            if block.isVisible() and bottom >= event.rect().top():
                inside = self.marked[0] <= number <= self.marked[1]
                if inside:
                    painter.fillRect(QRect(width - 4, top, 3, bottom - top), theme.accent(palette))
                painter.setPen(theme.text(palette) if inside else theme.muted_text(palette))
                painter.drawText(
                    QRect(0, top, width - 10, height), Qt.AlignmentFlag.AlignRight, str(number)
                )
            block = block.next()
            top = bottom
        painter.end()

    def mark(self, first: int, last: int, matches: list[tuple[int, int, int]]) -> None:
        """Tint lines first..last (1-based), mark the query's words, scroll them in view."""
        self.marked = (first, last)
        palette = self.palette()
        selections = []
        document = self.document()
        for number in range(first, last + 1):
            block = document.findBlockByNumber(number - 1)
            if not block.isValid():
                break
            selection = QTextEdit.ExtraSelection()
            selection.format.setBackground(theme.matched_lines_fill(palette))
            selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            cursor = QTextCursor(block)
            selection.cursor = cursor
            selections.append(selection)
        for line, start, end in matches:
            block = document.findBlockByNumber(line)
            if not block.isValid():
                continue
            selection = QTextEdit.ExtraSelection()
            selection.format.setBackground(theme.match_fill(palette))
            cursor = QTextCursor(block)
            cursor.setPosition(block.position() + start)
            cursor.setPosition(block.position() + end, QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selections.append(selection)
        self.setExtraSelections(selections)
        self.scroll_to(first, last)
        self._gutter.update()

    def scroll_to(self, first: int, last: int) -> None:
        """Show lines first..last with some context above; the chunk's start if it is long."""
        block = self.document().findBlockByNumber(max(0, first - 1))
        if block.isValid():
            self.setTextCursor(QTextCursor(block))
        visible = max(1, self.viewport().height() // max(1, self.fontMetrics().lineSpacing()))
        span = last - first + 1
        above = max(2, (visible - span) // 3) if span < visible else 2
        self.verticalScrollBar().setValue(max(0, first - 1 - above))
        self.horizontalScrollBar().setValue(0)


class PreviewPane(QWidget):
    """Header (file, lines, open button) over the code view; a hint when nothing is shown."""

    open_requested = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.result: SearchResult | None = None
        self.loaded: PreviewText | None = None
        self._query = ""
        self._request = 0
        self.header = QLabel()
        self.header.setObjectName("previewHeader")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QToolButton()
        self.open_button.setText("Open in editor")
        self.open_button.setToolTip("Open this file at this line in your editor (Enter)")
        self.open_button.setAutoRaise(True)
        self.open_button.clicked.connect(self.open_requested)
        self.note = QLabel()
        self.note.setObjectName("notes")
        self.note.setVisible(False)
        self.code = CodeView()
        self.code.setAcceptDrops(False)
        # Find in the previewed file: Ctrl+F where the preview has focus, Enter for the
        # next match, Shift+Enter the one before, Esc closes.
        self.find_box = QLineEdit()
        self.find_box.setPlaceholderText("Find in this file (Enter: next, Shift+Enter: previous)")
        self.find_box.setClearButtonEnabled(True)
        self.find_box.setVisible(False)
        self.find_box.returnPressed.connect(self._find_box_entered)
        self.find_box.textEdited.connect(self._find_box_edited)
        self.find_box.installEventFilter(self)
        self.find_status = QLabel()
        self.find_status.setObjectName("notes")
        self.find_status.setVisible(False)
        self.highlighter = TokenHighlighter(self.code.document())
        self.placeholder = QLabel()
        self.placeholder.setObjectName("emptyState")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)

        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 4, 0)
        head.addWidget(self.header, 1)
        head.addWidget(self.open_button)
        code_page = QWidget()
        code_layout = QVBoxLayout(code_page)
        code_layout.setContentsMargins(0, 0, 0, 0)
        code_layout.setSpacing(0)
        code_layout.addLayout(head)
        code_layout.addWidget(self.note)
        code_layout.addWidget(self.code, 1)
        find_row = QHBoxLayout()
        find_row.setContentsMargins(4, 2, 4, 2)
        find_row.addWidget(self.find_box, 1)
        find_row.addWidget(self.find_status)
        code_layout.addLayout(find_row)
        self.code.installEventFilter(self)
        self.pages = QStackedLayout(self)
        self.pages.addWidget(self.placeholder)
        self.pages.addWidget(code_page)

    # -- find in the file -----------------------------------------------------------------

    def open_find(self) -> None:
        self.find_box.setVisible(True)
        self.find_status.setVisible(True)
        selected = self.code.textCursor().selectedText()
        if selected and "\u2029" not in selected:
            self.find_box.setText(selected)
        self.find_box.setFocus()
        self.find_box.selectAll()

    def close_find(self) -> None:
        self.find_box.setVisible(False)
        self.find_status.setVisible(False)
        self.code.setFocus()

    def _find_box_entered(self) -> None:
        self.find_next(backwards=False)

    def _find_box_edited(self, _text: str) -> None:
        self.find_next(backwards=False, again=True)

    def find_next(self, *, backwards: bool, again: bool = False) -> bool:
        """Move to the next (or previous) match of the find box's text, wrapping around;
        False, and the box says so, when the file has none."""
        needle = self.find_box.text()
        if not needle:
            self.find_status.clear()
            return False
        if again:  # typing: search from the start of the current match
            cursor = self.code.textCursor()
            cursor.setPosition(cursor.selectionStart())
            self.code.setTextCursor(cursor)
        flags = QTextDocument.FindFlag.FindBackward if backwards else QTextDocument.FindFlag(0)
        found = self.code.find(needle, flags)
        if not found:  # wrap around
            cursor = self.code.textCursor()
            cursor.movePosition(
                QTextCursor.MoveOperation.End if backwards else QTextCursor.MoveOperation.Start
            )
            self.code.setTextCursor(cursor)
            found = self.code.find(needle, flags)
        self.find_status.setText("" if found else "Not in this file")
        return found

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_F
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            # In the preview, Ctrl+F finds in the file, not the window's search box.
            event.accept()
            return True
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key, mods = event.key(), event.modifiers()
            if key == Qt.Key.Key_F and mods & Qt.KeyboardModifier.ControlModifier:
                self.open_find()
                return True
            if watched is self.find_box and key == Qt.Key.Key_Escape:
                self.close_find()
                return True
            if watched is self.find_box and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.find_next(backwards=bool(mods & Qt.KeyboardModifier.ShiftModifier))
                return True
        return super().eventFilter(watched, event)

    def show_result(self, result: SearchResult | None, query: str = "") -> None:
        """Show a result's file (read in the background) with its lines marked."""
        if result is None:
            self.clear()
            return
        self.result, self._query = result, query
        self._request += 1
        request = self._request
        same_file = self.loaded is not None and self.loaded.path == result.abs_path
        since = self.loaded.mtime_ns if same_file and self.loaded is not None else None
        lines = (result.start_line, result.end_line)
        self._set_header(result)

        def read() -> PreviewText | None:
            return load_preview(
                result.abs_path, result.language, query, lines, unchanged_since=since
            )

        def done(preview: Any, exc: BaseException | None) -> None:
            if request != self._request:
                return  # another result was selected meanwhile
            if exc is not None:
                self._show_error(result, exc)
            elif isinstance(preview, PreviewText):
                self._show_text(preview)
                self.code.mark(result.start_line, result.end_line, preview.matches)
            elif self.loaded is not None:  # same file, unchanged: only re-mark
                matches = query_matches(self.loaded.text, query, lines)
                self.code.mark(result.start_line, result.end_line, matches)

        self.context.run_in_background(read, done, owner=self)

    def clear(self, message: str = "") -> None:
        self._request += 1
        self.result = None
        self.placeholder.setText(message)
        self.pages.setCurrentIndex(0)

    def _set_header(self, result: SearchResult) -> None:
        muted = theme.muted_text(self.palette()).name()
        folder = str(Path(result.path).parent)
        folder = "" if folder == "." else folder + "/"
        lines = (
            f"lines {result.start_line}–{result.end_line}"
            if result.end_line > result.start_line
            else f"line {result.start_line}"
        )
        self.header.setText(
            f"<span style='color:{muted}'>{_html(result.root.name)}/{_html(folder)}</span>"
            f"<b>{_html(Path(result.path).name)}</b>"
            f"&nbsp;&nbsp;<span style='color:{muted}'>{lines}</span>"
        )
        self.header.setToolTip(str(result.abs_path))

    def _show_text(self, preview: PreviewText) -> None:
        self.loaded = preview
        self.highlighter.set_style(theme.pygments_style_name(self.palette()))
        self.highlighter.set_spans(preview.spans)
        self.code.setPlainText(preview.text)
        self.note.setText(preview.note)
        self.note.setVisible(bool(preview.note))
        self.pages.setCurrentIndex(1)

    def changeEvent(self, event: QEvent) -> None:
        # The system switched between light and dark: colours come from the palette.
        if event.type() == QEvent.Type.PaletteChange and self.loaded is not None:
            self.highlighter.set_style(theme.pygments_style_name(self.palette()))
            self.highlighter.rehighlight()
            if self.result is not None:
                self.code.mark(self.result.start_line, self.result.end_line, self.loaded.matches)
        super().changeEvent(event)

    def _show_error(self, result: SearchResult, exc: BaseException) -> None:
        self.loaded = None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self.clear(f"Cannot show {result.path}: {reason}.")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
