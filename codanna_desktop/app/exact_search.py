"""Exact mode of the search window: every matching line, as VS Code's search lists them.

A switch beside the slider chooses between the ranked search and exact search; a query
written as ``/regex/`` or ``"literal"`` is searched exactly whatever the switch says (the
switch shows it). Three toggles with VS Code's icons and keys: match case (Alt+C), whole
word (Alt+W), regular expression (Alt+R). Results are grouped by file with a count per
file and a total; each matching line is one row with its matches highlighted, in a
virtual list (uniform rows, painted on demand), so 100,000 matches scroll as smoothly as
ten. Enter opens the editor at the line and column of the match. A bad regular
expression shows its error under the search box, never a dialog.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QLabel,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QWidget,
)

from codanna_desktop.app import theme
from codanna_desktop.app.editor import EditorLaunchError, open_in_editor
from codanna_desktop.core.errors import CodannaError
from codanna_desktop.core.exact.matcher import LineMatch, PatternOptions
from codanna_desktop.core.exact.pattern import CaseMode, PatternError
from codanna_desktop.core.exact.search import ExactRequest, ExactResult, FileMatches
from codanna_desktop.core.exact.worker import SearchProcess

if TYPE_CHECKING:
    from codanna_desktop.app.main_window import MainWindow
    from codanna_desktop.core.files.filters import SearchFilters

log = logging.getLogger(__name__)

ROW_ROLE = Qt.ItemDataRole.UserRole + 20  # (FileMatches, LineMatch | None)
PAD_X = 10
GUTTER_CHARS = 6
TAB = "    "
# The search runs in a process of its own (core/exact/worker.py); its answers are read on
# a timer, a few milliseconds at a time.
DRAIN_EVERY_MS = 15
DRAIN_BUDGET_S = 0.008


@dataclass(frozen=True)
class ExactQuery:
    """What the box asks for in exact mode."""

    options: PatternOptions
    automatic: str = ""  # why exact mode was chosen by the text: "regex" or "literal"


def read_query(text: str, *, regex: bool, match_case: bool, whole_word: bool) -> ExactQuery:
    """The box's text as an exact query: ``/…/`` is a regular expression and ``"…"`` a
    literal whatever the toggles say; otherwise the regex toggle decides."""
    automatic = ""
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        text, regex, automatic = text[1:-1], True, "regex"
    elif len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text, regex, automatic = text[1:-1], False, "literal"
    # VS Code's default: case is ignored until "match case" is on.
    case = CaseMode.SENSITIVE if match_case else CaseMode.IGNORE
    return ExactQuery(PatternOptions(text, fixed=not regex, case=case, word=whole_word), automatic)


def is_automatic(text: str) -> bool:
    return read_query(text, regex=False, match_case=False, whole_word=False).automatic != ""


def total_text(result: ExactResult) -> str:
    matches, files = result.match_count, len(result.files)
    if not matches:
        return "No matches"
    return (
        f"{matches:,} match{'' if matches == 1 else 'es'} "
        f"in {files:,} file{'' if files == 1 else 's'}"
    )


class ExactResultsModel(QAbstractListModel):
    """One row per file heading and per matching line, found by bisection over the
    rows where each file starts: nothing per row is built until it is painted."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.files: list[FileMatches] = []
        self._starts: list[int] = []
        self._rows = 0

    def set_result(self, result: ExactResult | None) -> None:
        self.beginResetModel()
        self.files = result.files if result is not None else []
        self._starts, row = [], 0
        for f in self.files:
            self._starts.append(row)
            row += 1 + len(f.lines)
        self._rows = row
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else self._rows

    def entry(self, row: int) -> tuple[FileMatches, LineMatch | None] | None:
        if not 0 <= row < self._rows:
            return None
        i = bisect_right(self._starts, row) - 1
        f = self.files[i]
        k = row - self._starts[i] - 1
        return f, (f.lines[k] if k >= 0 else None)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        entry = self.entry(index.row()) if index.isValid() else None
        if entry is None:
            return None
        f, line = entry
        if role == ROW_ROLE:
            return entry
        if role == Qt.ItemDataRole.DisplayRole:
            if line is None:
                return f"{f.rel_path} ({f.match_count})"
            return f"{line.line}: {line.text.decode('utf-8', 'replace')}"
        if role == Qt.ItemDataRole.ToolTipRole and line is None:
            note = binary_note(f)
            return f"{f.abs_path}\n{note}" if note else str(f.abs_path)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        entry = self.entry(index.row()) if index.isValid() else None
        if entry is None:
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def first_line_row(self) -> int:
        return 1 if self._rows > 1 else -1


def binary_note(f: FileMatches) -> str:
    """What ripgrep says of a binary file it searched up to its first NUL byte."""
    if f.binary_offset is None:
        return ""
    return f"binary file: searched up to its NUL byte at offset {f.binary_offset:,}"


def char_spans(text: bytes, spans: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """Byte ranges of a line as character ranges of its decoded text."""
    return [
        (len(text[:a].decode("utf-8", "replace")), len(text[:b].decode("utf-8", "replace")))
        for a, b in spans
    ]


class ExactDelegate(QStyledItemDelegate):
    """Headings (path, folder, count) and lines (number, text with matches marked)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.code_font = theme.monospace_font()
        self.bold = QFont()
        self.bold.setBold(True)
        self._height = max(QFontMetrics(self.code_font).height(), QFontMetrics(self.bold).height())

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(200, self._height + 6)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        entry = index.data(ROW_ROLE)
        if entry is None:
            return
        f, line = entry
        palette = option.palette
        rect: QRect = option.rect
        state = option.state
        painter.save()
        if state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, theme.selection_fill(palette))
        elif state & QStyle.StateFlag.State_MouseOver:
            painter.fillRect(rect, theme.hover_fill(palette))
        if line is None:
            self._paint_heading(painter, rect, palette, f)
        else:
            self._paint_line(painter, rect, palette, line)
        painter.restore()

    def _paint_heading(self, painter: QPainter, rect: QRect, palette: Any, f: FileMatches) -> None:
        painter.setFont(self.bold)
        metrics = QFontMetrics(self.bold)
        count = f"{f.match_count:,}"
        count_width = metrics.horizontalAdvance(count) + 16
        name = f.rel_path.rsplit("/", 1)[-1]
        folder = f"{f.root_path.name}/{f.rel_path}".rsplit("/", 1)[0]
        if f.binary_offset is not None:
            folder += f"  ·  {binary_note(f)}"
        x = rect.left() + PAD_X
        painter.setPen(theme.text(palette))
        text_rect = rect.adjusted(PAD_X, 0, -count_width - PAD_X, 0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter, name)
        x += metrics.horizontalAdvance(name) + 10
        painter.setFont(QFont())
        painter.setPen(theme.muted_text(palette))
        rest = QRect(x, rect.top(), max(0, text_rect.right() - x), rect.height())
        elided = QFontMetrics(QFont()).elidedText(
            folder, Qt.TextElideMode.ElideMiddle, rest.width()
        )
        painter.drawText(rest, Qt.AlignmentFlag.AlignVCenter, elided)
        badge = QRect(rect.right() - count_width - PAD_X + 4, rect.top() + 3, count_width - 4, 0)
        badge.setBottom(rect.bottom() - 3)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.hairline(palette))
        painter.drawRoundedRect(badge, 8, 8)
        painter.setPen(theme.text(palette))
        painter.setFont(self.bold)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, count)

    def _paint_line(self, painter: QPainter, rect: QRect, palette: Any, line: LineMatch) -> None:
        painter.setFont(self.code_font)
        metrics = QFontMetrics(self.code_font)
        gutter = metrics.horizontalAdvance("9" * GUTTER_CHARS)
        painter.setPen(theme.muted_text(palette))
        number_rect = QRect(rect.left() + PAD_X, rect.top(), gutter, rect.height())
        painter.drawText(
            number_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, str(line.line)
        )
        text = line.text.decode("utf-8", "replace")
        spans = char_spans(line.text, line.spans)
        # Leading blanks are dropped so the match is in view; spans shift with them.
        stripped = len(text) - len(text.lstrip(" \t"))
        x = number_rect.right() + 14
        right = rect.right() - PAD_X
        at = stripped
        pieces: list[tuple[str, bool]] = []
        for a, b in spans:
            a, b = max(a, at), max(b, at)
            if a > at:
                pieces.append((text[at:a], False))
            if b > a:
                pieces.append((text[a:b], True))
            at = max(at, b)
        pieces.append((text[at:], False))
        fill = theme.match_fill(palette)
        for piece, hit in pieces:
            piece = piece.replace("\t", TAB)
            if not piece or x >= right:
                continue
            width = metrics.horizontalAdvance(piece)
            box = QRect(x, rect.top() + 2, min(width, right - x), rect.height() - 4)
            if hit:
                painter.fillRect(box, fill)
            painter.setPen(theme.text(palette))
            shown = metrics.elidedText(piece, Qt.TextElideMode.ElideRight, right - x)
            painter.drawText(
                QRect(x, rect.top(), right - x, rect.height()), Qt.AlignmentFlag.AlignVCenter, shown
            )
            x += width


class ExactResultsView(QListView):
    """The virtual list of exact results."""

    open_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exactResults")
        self.exact_model = ExactResultsModel(self)
        self.setModel(self.exact_model)
        self.setItemDelegate(ExactDelegate(self))
        self.setUniformItemSizes(True)
        # Laid out in batches between events: 300,000 rows never block the window at once.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setMouseTracking(True)
        self.setAcceptDrops(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.doubleClicked.connect(self._double_clicked)

    def _double_clicked(self, _index: QModelIndex) -> None:
        self.open_requested.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_requested.emit()
            return
        super().keyPressEvent(event)


def _toggle(text: str, tip: str, font: QFont | None = None) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setCheckable(True)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    if font is not None:
        button.setFont(font)
    return button


class ExactMode(QObject):
    """Exact search in a MainWindow: its switch, toggles, results page and error line."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.latest = 0
        self.answered = 0  # the request whose answer is shown
        self.result: ExactResult | None = None
        self.error = ""
        self._search: SearchProcess | None = None
        self._drain = QTimer(self, interval=DRAIN_EVERY_MS)
        self._drain.timeout.connect(self._read_answers)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._automatic = ""
        self._chosen_exact = False  # the person's choice on the switch

        self.ranked_button = _toggle("Ranked", "Ranked search: best matches first")
        self.exact_button = _toggle("Exact", "Every matching line, as grep and ripgrep list them")
        self.mode_group = QButtonGroup(self)
        self.mode_group.setExclusive(True)
        self.mode_group.addButton(self.ranked_button)
        self.mode_group.addButton(self.exact_button)
        self.ranked_button.setChecked(True)
        self.exact_button.toggled.connect(self._mode_changed)

        code = theme.monospace_font()
        underlined = QFont(code)
        underlined.setUnderline(True)
        self.case_button = _toggle("Aa", "Match Case (Alt+C)", code)
        self.word_button = _toggle("ab", "Match Whole Word (Alt+W)", underlined)
        self.regex_button = _toggle(".*", "Use Regular Expression (Alt+R)", code)
        self.toggles = (self.case_button, self.word_button, self.regex_button)
        self.shortcuts = []
        for button, key in zip(self.toggles, ("Alt+C", "Alt+W", "Alt+R"), strict=True):
            # QShortcut, not a QAction added to the window: with the actions, the second
            # click on the tray icon no longer showed the window (tests/app/test_app_xvfb).
            shortcut = QShortcut(QKeySequence(key), window)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(button.toggle)
            self.shortcuts.append(shortcut)
            button.toggled.connect(self._toggled)

        row = window.ranking_row
        row.insertWidget(0, self.ranked_button)
        row.insertWidget(1, self.exact_button)
        row.insertSpacing(2, 10)
        for i, button in enumerate(self.toggles):
            row.insertWidget(3 + i, button)
        self.error_label = QLabel()
        self.error_label.setObjectName("exactError")
        self.error_label.setFont(theme.monospace_font())
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setVisible(False)
        window.search_layout.insertWidget(1, self.error_label)

        self.view = ExactResultsView()
        self.view.open_requested.connect(self.open_selected)
        self.view.installEventFilter(window)
        self.page = window.results_stack.addWidget(self.view)
        self._show_controls()

    # -- state ------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Exact results are what the window shows (by the switch or by the text)."""
        return self._chosen_exact or bool(self._automatic)

    def _mode_changed(self, checked: bool) -> None:
        self._chosen_exact = checked
        self._automatic = ""
        self._show_controls()
        self.window.run_search()

    def _toggled(self, _: bool) -> None:
        if self.active:
            self.window.run_search()

    def _show_controls(self) -> None:
        exact = self.active
        for button in self.toggles:
            button.setVisible(exact)
        w = self.window
        for widget in (w.words_label, w.alpha_slider, w.meaning_label, w.alpha_value):
            widget.setVisible(not exact)
        self.exact_button.setText("Exact" if not self._automatic else f"Exact ({self._automatic})")
        # The switch shows the mode in force; a mode chosen by the text does not change
        # the person's choice, which comes back when the text no longer asks for it.
        shown = self.exact_button if exact else self.ranked_button
        if not shown.isChecked():
            self.exact_button.blockSignals(True)
            shown.setChecked(True)
            self.exact_button.blockSignals(False)
        if not exact:
            self.error_label.setVisible(False)

    # -- searching ----------------------------------------------------------------------

    def search_if_exact(self, text: str, filters: SearchFilters) -> bool:
        """Run `text` as an exact search when exact mode applies; False otherwise."""
        was = self._automatic
        self._automatic = "" if self._chosen_exact else self._auto_kind(text)
        if was != self._automatic:
            self._show_controls()
        if not self.active:
            self.clear()
            return False
        query = read_query(
            text,
            regex=self.regex_button.isChecked(),
            match_case=self.case_button.isChecked(),
            whole_word=self.word_button.isChecked(),
        )
        if not query.options.pattern:
            self.clear()
            self.window.results_stack.setCurrentIndex(self.page)
            return True
        request = ExactRequest(
            query.options,
            path_glob=filters.path_glob,
            languages=filters.languages,
            root_ids=filters.root_ids,
        )
        self.latest += 1
        process = self._process()
        if process is None:
            self._finished(self.latest, None, CodannaError("The search process could not start."))
            return True
        process.submit(self.latest, request)  # supersedes the query in flight
        self._drain.start()
        return True

    def _process(self) -> SearchProcess | None:
        """The search process, started at the first exact query (then kept warm)."""
        if self._search is not None and not self._search.alive:
            self._search.close()
            self._search = None
        if self._search is None:
            try:
                self._search = SearchProcess(self.window.context.engine.paths)
            except OSError as exc:
                log.warning("exact search process not started: %s", exc)
                return None
        return self._search

    def _read_answers(self) -> None:
        """A tick of the drain timer: read what the search process sent, a few
        milliseconds' worth, so the window never waits on it."""
        if self._search is None:
            self._drain.stop()
            return
        for ticket, result, exc in self._search.read(DRAIN_BUDGET_S):
            self._finished(ticket, result, exc)
        if self.answered == self.latest:
            self._drain.stop()

    def shutdown(self) -> None:
        self._drain.stop()
        if self._search is not None:
            self._search.close()
            self._search = None

    @staticmethod
    def _auto_kind(text: str) -> str:
        return read_query(text, regex=False, match_case=False, whole_word=False).automatic

    def _finished(self, ticket: int, result: ExactResult | None, exc: Exception | None) -> None:
        if ticket != self.latest:
            return
        self.answered = ticket
        if isinstance(exc, PatternError):
            self.show_error(exc.pointed())
            return
        if exc is not None:
            self.show_error(f"The search failed: {exc}", count_text="Search failed")
            return
        if not isinstance(result, ExactResult) or result.cancelled:
            return
        self.error = ""
        self.error_label.setVisible(False)
        self.view.setEnabled(True)
        self.result = result
        self.view.exact_model.set_result(result)
        row = self.view.exact_model.first_line_row()
        if row >= 0:
            self.view.setCurrentIndex(self.view.exact_model.index(row))
            self.view.scrollToTop()
        notes = " · ".join(result.notes)
        self.window.result_count.setText(total_text(result))
        self.window.notes.setText(notes)
        self.window.notes.setVisible(bool(notes))
        self.window.results_stack.setCurrentIndex(self.page)
        self.window.preview.setVisible(False)

    def show_error(self, message: str, *, count_text: str = "Invalid pattern") -> None:
        """Under the box, in place of a dialog; the last good results stay listed, greyed
        out: they are not the answer to what the box holds now."""
        self.view.setEnabled(False)
        self.window.results_stack.setCurrentIndex(self.page)
        self.window.preview.setVisible(False)
        self.error = message
        self.error_label.setText(message)
        palette = self.error_label.palette()
        self.error_label.setStyleSheet(f"color: {theme.error_color(palette).name()};")
        self.error_label.setVisible(True)
        self.window.result_count.setText(count_text)

    def clear(self) -> None:
        self.latest += 1
        self._drain.stop()
        if self._search is not None:
            self._search.cancel()
        self.result = None
        self.error = ""
        self.error_label.setVisible(False)
        self.view.setEnabled(True)
        self.view.exact_model.set_result(None)

    # -- moving and opening ---------------------------------------------------------------

    def move_selection(self, delta: int) -> None:
        """Up/Down from the search box: from line to line, over the file headings."""
        model = self.view.exact_model
        rows = model.rowCount()
        if not rows:
            return
        row = self.view.currentIndex().row()
        step = 1 if delta > 0 else -1
        target = 0 if row < 0 else row
        for _ in range(abs(delta)):
            nxt = target + step
            while 0 <= nxt < rows and (entry := model.entry(nxt)) is not None and entry[1] is None:
                nxt += step
            if not 0 <= nxt < rows:
                break
            target = nxt
        self.view.setCurrentIndex(model.index(target))

    def open_selected(self) -> None:
        if not self.view.isEnabled():
            return  # greyed out under an invalid pattern: not a result of what is typed
        entry = self.view.exact_model.entry(self.view.currentIndex().row())
        if entry is None:
            return
        f, line = entry
        number = line.line if line is not None else f.lines[0].line
        spans = (line or f.lines[0]).spans
        text = (line or f.lines[0]).text
        column = char_spans(text, spans[:1])[0][0] + 1 if spans else 1
        try:
            open_in_editor(self.window.context.settings.editor_command, f.abs_path, number, column)
        except EditorLaunchError as exc:
            self.window.show_message(str(exc))
            return
        self.window.show_message(f"Opened {f.rel_path}:{number}:{column}", 4000)
