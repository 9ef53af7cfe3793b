"""The search window: search box, exact-words/meaning slider, filters, results, preview,
the folders panel, and indexing progress in the status bar.

Every engine call goes through AppContext and comes back on the UI thread; this window
only keeps what is on screen. A query runs once per text/filter change (debounced while
typing) through the SearchController (search_controller.py), which drops the answers to
older requests and keeps the session the slider re-ranks without a new query.

Keys: Ctrl+K / Ctrl+F focus the box; Up/Down move through the results while the box
keeps focus; Enter opens the selected result in the editor (or runs the query when the
shown results are for other text); Esc clears the box, a second Esc clears the results.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QModelIndex,
    QObject,
    QPoint,
    QSettings,
    Qt,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from codanna_desktop import __version__
from codanna_desktop.app import theme
from codanna_desktop.app.drop import classify_drop
from codanna_desktop.app.editor import EditorLaunchError, open_in_editor
from codanna_desktop.app.exact_search import ExactMode
from codanna_desktop.app.folders_panel import FoldersPanel
from codanna_desktop.app.preview import PreviewPane
from codanna_desktop.app.result_delegate import ResultDelegate
from codanna_desktop.app.results_model import RESULT_ROLE, ResultsModel, result_key
from codanna_desktop.app.search_controller import RESULT_LIMIT, SearchController, SearchKey
from codanna_desktop.app.settings_dialog import SettingsDialog
from codanna_desktop.core.chunking.languages import resolve_languages
from codanna_desktop.core.errors import UnknownLanguageError
from codanna_desktop.core.files.filters import SearchFilters
from codanna_desktop.core.ranking.search import SearchResult, SearchSession

if TYPE_CHECKING:
    from codanna_desktop.app.context import AppContext
    from codanna_desktop.core.engine import EngineStatus
    from codanna_desktop.core.settings import AppPaths

DEBOUNCE_MS = 200
REFRESH_AFTER_INDEX_MS = 300  # re-run the shown query this long after the index changed
STATUS_EVERY_MS = 1000  # while the indexer works, the counts are refreshed this often
ALL_LANGUAGES = "All languages"
DEFAULT_SIZE = (1200, 760)
ORGANISATION, APPLICATION = "Codanna", "Codanna Desktop"


def window_settings(paths: AppPaths) -> QSettings:
    """Where the window remembers its geometry and last query: QSettings under Codanna /
    Codanna Desktop, or, when CODANNA_HOME moves the app's files (tests, portable
    installs), an INI file in that config folder, so nothing lands in the real home."""
    if os.environ.get("CODANNA_HOME"):
        return QSettings(str(paths.config_dir / "window.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


def parse_languages(text: str) -> tuple[str, ...]:
    """Languages typed or picked in the filter: "python", "py, rs"; empty: all. A name
    no language has is kept as typed: it matches nothing, and the window says so."""
    if text.strip() in ("", ALL_LANGUAGES):
        return ()
    out: list[str] = []
    for word in re.split(r"[,\s]+", text.lower()):
        if word:
            try:
                out.extend(resolve_languages([word]))
            except UnknownLanguageError:
                out.append(word)
    return tuple(dict.fromkeys(out))


def target_line(result: SearchResult) -> int:
    """The line to open: the first line the query's words were found on, else the start."""
    if result.highlights:
        offset = result.highlights[0][0]
        return result.snippet_start_line + result.snippet.count("\n", 0, offset)
    return result.start_line


def alpha_label(value: int) -> str:
    if value <= 0:
        return "exact words only"
    if value >= 100:
        return "meaning only"
    return f"{100 - value}% words · {value}% meaning"


class MainWindow(QMainWindow):
    # The window was closed into the tray (indexing goes on there).
    hidden_to_tray = Signal()
    # The person asked to restart the app (a new vector store or model takes effect).
    restart_requested = Signal()

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.hide_on_close = False
        self.status: EngineStatus | None = None  # the latest counts, for the empty states
        self.searches = SearchController(context, self)
        self.restart_needed = False
        self.ui_settings = window_settings(context.paths)

        self.setWindowTitle(APPLICATION)
        self.setWindowIcon(theme.app_icon())
        self.setAcceptDrops(True)
        self.setStyleSheet(theme.window_style_sheet())
        self._build_search_area()
        self._build_results_area()
        self._build_folders_dock()
        self._build_status_bar()
        self._build_menus()
        self.exact = ExactMode(self)  # the exact mode's switch, toggles and results page

        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run_search)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_AFTER_INDEX_MS)
        self._refresh_timer.timeout.connect(self.refresh_search)
        self._status_timer = QTimer(self, interval=STATUS_EVERY_MS)
        self._status_timer.timeout.connect(context.request_status)

        self.searches.answered.connect(self._search_answered)
        context.status_ready.connect(self._status_ready)
        context.indexing_status.changed.connect(self._show_indexing_status)
        context.error.connect(self.show_message)
        context.roots_changed.connect(context.request_status)
        context.roots_changed.connect(self._refresh_languages)
        context.index_changed.connect(self._refresh_timer.start)
        context.fully_embedded.connect(self._rerank_from_the_top)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.aboutToQuit.connect(self.save_ui_state)

        self._restore_ui_state()
        self._update_empty_state()
        context.request_status()
        self._refresh_languages()
        if self.search_box.text().strip():
            self.run_search()

    # -- building -----------------------------------------------------------------------

    def _build_search_area(self) -> None:
        self.search_box = QLineEdit()
        self.search_box.setObjectName("searchBox")
        self.search_box.setPlaceholderText("Search: a name like readFileContents, or plain words")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setAcceptDrops(False)
        self.search_box.installEventFilter(self)
        self.search_box.textChanged.connect(self._query_edited)

        self.language_filter = QComboBox()
        self.language_filter.setEditable(True)
        self.language_filter.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.language_filter.addItem(ALL_LANGUAGES)
        self.language_filter.setMinimumWidth(150)
        self.language_filter.setToolTip("Only these languages (pick one, or type: python, rust)")
        line = self.language_filter.lineEdit()
        if line is not None:
            line.setAcceptDrops(False)
        self.language_filter.currentTextChanged.connect(self._query_edited)

        self.path_filter = QLineEdit()
        self.path_filter.setPlaceholderText("Path filter, e.g. src/**/*.py")
        self.path_filter.setToolTip(
            "A glob over paths inside each folder: src/core (a folder), *.py (file names "
            "anywhere), src/**/test_*.py (** spans folders), [a-c]*.py (one of a to c). "
            "Several, separated by spaces; !tests/ leaves them out."
        )
        self.path_filter.setClearButtonEnabled(True)
        self.path_filter.setAcceptDrops(False)
        self.path_filter.setMinimumWidth(200)
        self.path_filter.textChanged.connect(self._query_edited)
        # Clicking a folder in the panel limits the search to it; this says so and undoes it.
        self.scope_folder: Path | None = None
        self.scope_button = QToolButton()
        self.scope_button.setObjectName("scope")
        self.scope_button.setVisible(False)

        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setSingleStep(5)
        self.alpha_slider.setPageStep(10)
        self.alpha_slider.setFixedWidth(220)
        self.alpha_slider.setValue(round(self.context.settings.alpha * 100))
        self.alpha_slider.setToolTip(
            "Left: rank by the exact words of the query. Right: by what the code means."
        )
        self.alpha_slider.valueChanged.connect(self._alpha_moved)
        self.words_label = QLabel()
        self.meaning_label = QLabel()
        self.alpha_value = QLabel()
        self.alpha_value.setObjectName("notes")
        self.alpha_value.setMinimumWidth(
            # The longest words it shows: a lookup's bent weight.
            self.alpha_value.fontMetrics().horizontalAdvance("lookup: 90% words · 10% meaning") + 8
        )
        self.result_count = QLabel()
        self.result_count.setObjectName("notes")
        # A name or a few keywords is a lookup: ranked mostly by exact words whatever the
        # slider says, unless the person turns that off. The label says the weight used.
        self.lookup_bias = QCheckBox("Names by words")
        self.lookup_bias.setToolTip(
            "A name or a few keywords is looked up: weighted towards exact words whatever "
            "the slider says. A sentence both models answer with the same first results "
            "leans towards meaning. Untick to use the slider's weight as it is."
        )
        self.lookup_bias.setChecked(True)
        self.lookup_bias.toggled.connect(self._lookup_bias_toggled)
        self._paint_slider_labels()

        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.search_box, 1)
        top.addWidget(self.language_filter)
        top.addWidget(self.path_filter)
        top.addWidget(self.scope_button)
        ranking = self.ranking_row = QHBoxLayout()
        ranking.setSpacing(8)
        ranking.addWidget(self.words_label)
        ranking.addWidget(self.alpha_slider)
        ranking.addWidget(self.meaning_label)
        ranking.addWidget(self.alpha_value)
        ranking.addWidget(self.lookup_bias)
        ranking.addStretch(1)
        ranking.addWidget(self.result_count)
        self.search_area = QWidget()
        layout = self.search_layout = QVBoxLayout(self.search_area)
        layout.setContentsMargins(10, 10, 10, 4)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addLayout(ranking)

    def _build_results_area(self) -> None:
        self.model = ResultsModel(self)
        self.results_view = QListView()
        self.results_view.setObjectName("results")
        self.results_view.setModel(self.model)
        self.results_view.setItemDelegate(ResultDelegate(self.results_view))
        self.results_view.setUniformItemSizes(False)
        self.results_view.setMouseTracking(True)
        self.results_view.setAcceptDrops(False)
        self.results_view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.results_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results_view.installEventFilter(self)
        self.results_view.doubleClicked.connect(self._result_double_clicked)
        self.results_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.results_view.customContextMenuRequested.connect(self._results_menu)
        selection = self.results_view.selectionModel()
        selection.currentChanged.connect(self._current_changed)

        self.notes = QLabel()
        self.notes.setObjectName("notes")
        self.notes.setWordWrap(True)
        self.notes.setVisible(False)
        self.empty_label = QLabel()
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_add_button = QPushButton("Add a folder…")
        self.empty_add_button.clicked.connect(self.add_folder_dialog)
        self.empty_icon = QLabel()
        self.empty_icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_icon.setPixmap(theme.app_icon().pixmap(64, 64))
        empty_page = QWidget()
        empty_layout = QVBoxLayout(empty_page)
        empty_layout.setContentsMargins(24, 0, 24, 0)
        empty_layout.addStretch(2)
        empty_layout.addWidget(self.empty_icon)
        empty_layout.addWidget(self.empty_label)
        empty_layout.addWidget(self.empty_add_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(3)
        self.results_stack = QStackedWidget()
        self.results_stack.addWidget(self.results_view)
        self.results_stack.addWidget(empty_page)

        results_column = QWidget()
        column = QVBoxLayout(results_column)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.notes)
        column.addWidget(self.results_stack, 1)

        self.preview = PreviewPane(self.context)
        self.preview.open_requested.connect(self.open_selected)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("resultsSplitter")
        self.splitter.addWidget(results_column)
        self.splitter.addWidget(self.preview)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 9)
        self.splitter.setStretchFactor(1, 11)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.search_area)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

    def _build_folders_dock(self) -> None:
        self.folders_panel = FoldersPanel(self.context)
        self.folders_panel.add_requested.connect(self.add_folder_dialog)
        self.folders_panel.scope_changed.connect(self._scope_changed)
        self.scope_button.clicked.connect(self.folders_panel.clear_scope)
        self.folders_dock = QDockWidget("Folders", self)
        self.folders_dock.setObjectName("foldersDock")
        self.folders_dock.setWidget(self.folders_panel)
        self.folders_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        # The panel has its own header; the dock's title bar would only repeat it.
        self.folders_dock.setTitleBarWidget(QWidget())
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.folders_dock)
        self.resizeDocks([self.folders_dock], [230], Qt.Orientation.Horizontal)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.setMaximumHeight(14)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setVisible(False)
        self.pause_button = QToolButton()
        self.pause_button.setAutoRaise(True)
        bar.addPermanentWidget(self.progress_label)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.pause_button)

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self.add_action = QAction(
            "&Add Folder…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Open)
        )
        self.add_action.triggered.connect(self.add_folder_dialog)
        self.settings_action = QAction("&Settings…", self, shortcut=QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(self.open_settings)
        self.quit_action = QAction(
            "&Quit", self, shortcut=QKeySequence(QKeySequence.StandardKey.Quit)
        )
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(QApplication.quit)
        file_menu.addAction(self.add_action)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        search_menu = menus.addMenu("&Search")
        self.find_action = QAction("&Find", self)
        self.find_action.setShortcuts([QKeySequence("Ctrl+K"), QKeySequence("Ctrl+F")])
        self.find_action.triggered.connect(self.focus_search)
        self.open_action = QAction("&Open in Editor", self)
        self.open_action.setShortcut(QKeySequence("Ctrl+Return"))
        self.open_action.triggered.connect(self.open_selected)
        search_menu.addAction(self.find_action)
        search_menu.addAction(self.open_action)

        index_menu = menus.addMenu("&Index")
        self.pause_action = QAction("&Pause Indexing", self, checkable=True)
        self.pause_action.setToolTip("Pause or resume indexing and embedding")
        self.pause_action.toggled.connect(self.set_paused)
        self.rescan_action = QAction("&Rescan All Folders", self)
        self.rescan_action.triggered.connect(self._rescan_all)
        index_menu.addAction(self.pause_action)
        index_menu.addAction(self.rescan_action)
        self.pause_button.setDefaultAction(self.pause_action)

        view_menu = menus.addMenu("&View")
        view_menu.addAction(self.folders_dock.toggleViewAction())

        help_menu = menus.addMenu("&Help")
        self.about_action = QAction("&About Codanna Desktop", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        help_menu.addAction(self.about_action)

    def show_about(self) -> QMessageBox:
        """The version (from codanna_desktop.__version__, like --version and the packages)."""
        box = QMessageBox(self)
        box.setWindowTitle("About Codanna Desktop")
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setText(f"<b>Codanna Desktop {__version__}</b>")
        box.setInformativeText(
            "Code search on this machine, by exact name or by meaning.<br>"
            f"Data: {self.context.paths.data_dir}<br>MIT licence."
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # window-modal, without a nested event loop
        self.about_box = box
        return box

    def _paint_slider_labels(self) -> None:
        palette = self.palette()
        words, meaning = theme.lexical_color(palette).name(), theme.semantic_color(palette).name()
        self.words_label.setText(f"<span style='color:{words}'>●</span> Exact words")
        self.meaning_label.setText(f"Meaning <span style='color:{meaning}'>●</span>")
        self.alpha_value.setText(alpha_label(self.alpha_slider.value()))

    # -- public API (the app shell and the tray use these) ------------------------------

    @Slot()
    def show_and_raise(self) -> None:
        self.show()
        if self.isMinimized():
            self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()

    @Slot()
    def focus_search(self) -> None:
        self.search_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_box.selectAll()

    @Slot()
    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to index", str(Path.home()))
        if folder:
            self.add_folders([Path(folder)])

    def add_folders(self, folders: list[Path]) -> None:
        self.context.add_folders(folders)
        names = ", ".join(f.name or str(f) for f in folders)
        self.show_message(f"Adding {names}…", 5000)

    @Slot()
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.context, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._settings_saved(dialog))
        dialog.open()

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        if paused != self.context.paused:
            self.context.set_paused(paused)
        self.pause_action.setChecked(paused)
        self.pause_action.setText("Resume Indexing" if paused else "Pause Indexing")
        self._show_indexing_status()

    def show_message(self, message: str, timeout_ms: int = 12_000) -> None:
        """A non-modal message in the status bar (errors, refused drops, hints)."""
        self.statusBar().showMessage(message, timeout_ms)

    # -- searching ----------------------------------------------------------------------

    @property
    def session(self) -> SearchSession | None:
        """The ranked search whose results are shown (the slider re-ranks it)."""
        return self.searches.session

    @property
    def shown_key(self) -> SearchKey | None:
        """What the shown results answer: the query and its filters."""
        return self.searches.shown_key

    @property
    def alpha(self) -> float:
        return self.alpha_slider.value() / 100

    def current_filters(self) -> SearchFilters:
        glob = self.path_filter.text().strip()
        return SearchFilters(
            languages=parse_languages(self.language_filter.currentText()),
            root_ids=self._scope_root_ids(),
            path_glob=glob or None,
        )

    def _scope_root_ids(self) -> tuple[int, ...]:
        """The folder picked in the panel, as the catalog names it (none: every folder)."""
        scope = self.scope_folder
        counts = self.context.indexing_status.status.counts
        if scope is None or counts is None:
            return ()
        return tuple(r.root.id for r in counts.roots if r.root.path == scope)

    def _scope_changed(self, folder: Path | None) -> None:
        self.scope_folder = folder
        self.scope_button.setVisible(folder is not None)
        if folder is not None:
            self.scope_button.setText(f"In {folder.name}  ✕")
            self.scope_button.setToolTip(f"Searching only {folder}. Click to search every folder.")
        self._query_edited()

    def current_key(self) -> SearchKey:
        return (self.search_box.text().strip(), self.current_filters())

    def _query_edited(self, *_: Any) -> None:
        self._debounce.start()

    @Slot()
    def run_search(self) -> None:
        """Search for what the box and filters say now (the answer arrives by signal)."""
        self._debounce.stop()
        key = self.current_key()
        query, filters = key
        if self.exact.search_if_exact(query, filters):
            self.searches.shown_elsewhere(key)  # a ranked search in flight is no longer wanted
            return
        if not query:
            self.searches.cancel()
            self.clear_results()
            return
        # At exact words only the semantic side is not asked (no model, no vector file);
        # moving the slider off 0 runs the query again with it.
        self.searches.search(key, semantic=self.alpha > 0)

    @Slot()
    def _rerank_from_the_top(self) -> None:
        self.searches.rank_from_the_top()
        self._refresh_timer.start()

    @Slot()
    def refresh_search(self) -> None:
        """The index changed: run the visible query again, keeping the selection."""
        if self.shown_key is not None and self.shown_key == self.current_key():
            self.run_search()

    def _search_answered(self, keep_place: bool) -> None:
        # A refresh for a saved file keeps the person's place; one because meaning now
        # covers every chunk is a new ranking, shown from its top.
        self.rank_results(keep_selection=keep_place)
        self._focus_embedding()

    def _focus_embedding(self) -> None:
        """Embed first where the person is looking: the folder picked in the panel, else
        the folders of the results shown."""
        focus = self._scope_root_ids()
        counts = self.context.indexing_status.status.counts
        if not focus and counts is not None:
            ids = {r.root.path: r.root.id for r in counts.roots}
            shown = [ids.get(r.root) for r in self.model.results()[:10]]
            focus = tuple(dict.fromkeys(i for i in shown if i is not None))
        if focus:
            self.context.focus_embedding(focus)

    def rank_results(self, keep_selection: bool = True) -> None:
        """Fuse the cached candidates for the slider's weight and show them. With
        `keep_selection` the selected result stays selected when it is still there (a
        refresh after a save); otherwise the new first result is selected, in view."""
        keep = self.selected_result() if keep_selection else None
        bend = self.lookup_bias.isChecked()
        results = self.searches.results(self.alpha, bend=bend)
        weight = self.searches.weight_label(self.alpha, bend=bend)
        self.alpha_value.setText(weight or alpha_label(self.alpha_slider.value()))
        self.model.set_results(results)
        row = self.model.row_of(result_key(keep)) if keep is not None else -1
        if results:
            self.results_view.setCurrentIndex(self.model.index(max(row, 0)))
            if row < 0:
                self.results_view.scrollToTop()
            self.results_view.scrollTo(self.results_view.currentIndex())
        else:
            self.preview.clear("")
        count = len(results)
        self.result_count.setText(
            ""
            if self.session is None
            else f"{count}{'+' if count >= RESULT_LIMIT else ''} result{'' if count == 1 else 's'}"
        )
        self._show_notes(self.context.indexing_status.status.coverage_note())
        self._update_empty_state()

    def _show_notes(self, coverage: str | None) -> None:
        """The search's own notes, and how much semantic ranking covers as of now (not
        as of the search: the folders panel shows the live count beside it)."""
        notes = []
        if self.session is not None:
            # "Not found" first: everything below it is only similar.
            notes = [n for n in (self.session.not_found_note, *self.session.notes) if n]
        if coverage:
            notes.append(coverage)
        self.notes.setText("\n".join(notes))
        self.notes.setVisible(bool(notes) and self.model.rowCount() > 0)

    def clear_results(self) -> None:
        self.searches.clear()
        self.model.clear()
        self.preview.clear("")
        self.result_count.clear()
        self.notes.setVisible(False)
        self._update_empty_state()

    # Slots are methods, not lambdas over self: a lambda held by a child's signal keeps
    # the window alive for good (Qt holds it, so Python's collector never sees the cycle).
    def _lookup_bias_toggled(self, _checked: bool) -> None:
        self._alpha_moved(self.alpha_slider.value())

    def _result_double_clicked(self, _index: QModelIndex) -> None:
        self.open_selected()

    def _rescan_all(self) -> None:
        self.context.reindex(False)

    def _alpha_moved(self, value: int) -> None:
        self.alpha_value.setText(alpha_label(value))
        if self.searches.needs_meaning(value / 100):
            self.searches.rank_from_the_top()
            self.run_search()
        elif self.session is not None:
            # A new weight is a new ranking: its first result is what to look at.
            self.rank_results(keep_selection=False)

    def selected_result(self) -> SearchResult | None:
        result = self.results_view.currentIndex().data(RESULT_ROLE)
        return result if isinstance(result, SearchResult) else None

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        result = current.data(RESULT_ROLE)
        if isinstance(result, SearchResult):
            query = self.shown_key[0] if self.shown_key else ""
            self.preview.show_result(result, query)

    def move_selection(self, delta: int) -> None:
        if self.exact.active:
            self.exact.move_selection(delta)
            return
        rows = self.model.rowCount()
        if not rows:
            return
        current = self.results_view.currentIndex().row()
        target = 0 if current < 0 else max(0, min(rows - 1, current + delta))
        self.results_view.setCurrentIndex(self.model.index(target))

    @Slot()
    def open_selected(self) -> None:
        if self.exact.active:
            self.exact.open_selected()
            return
        result = self.selected_result()
        if result is None:
            return
        line = target_line(result)
        try:
            open_in_editor(self.context.settings.editor_command, result.abs_path, line)
        except EditorLaunchError as exc:
            self.show_message(str(exc))
            return
        self.show_message(f"Opened {result.path}:{line}", 4000)

    def _enter_pressed(self) -> None:
        """Open the selection when it answers the text in the box; else search now."""
        key = self.current_key()
        if self._debounce.isActive() or (key != self.shown_key and key != self.searches.requested):
            self.run_search()
        elif key == self.shown_key:
            self.open_selected()

    def escape(self) -> None:
        """Esc starts over: the box and its results are cleared together (results left
        under an empty box answered a question no longer asked)."""
        self.search_box.blockSignals(True)
        self.search_box.clear()
        self.search_box.blockSignals(False)
        self._debounce.stop()
        self.searches.cancel()
        self.clear_results()
        self.exact.clear()
        self.focus_search()

    def offer_restart(self) -> None:
        """A new vector store or model applies after a restart: offer it now, not later."""
        box = QMessageBox(
            QMessageBox.Icon.Information,
            APPLICATION,
            "The new vector store or embedding model takes effect when Codanna Desktop "
            "starts again. Work in flight is finished first.",
            QMessageBox.StandardButton.NoButton,
            self,
        )
        now = box.addButton("Restart now", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(now)
        box.finished.connect(
            lambda _: self.restart_requested.emit() if box.clickedButton() is now else None
        )
        self.restart_box = box
        box.open()

    # -- the results' menu --------------------------------------------------------------

    def _results_menu(self, point: QPoint) -> None:
        index = self.results_view.indexAt(point)
        if index.isValid():
            self.results_view.setCurrentIndex(index)
        result = self.selected_result()
        if result is None:
            return
        menu = self.result_menu(result)
        menu.exec(self.results_view.viewport().mapToGlobal(point))

    def result_menu(self, result: SearchResult) -> QMenu:
        """Open, copy path:line, copy the snippet, show the folder in the file manager."""
        menu = QMenu(self)
        where = f"{result.abs_path}:{target_line(result)}"
        menu.addAction("Open in editor", self.open_selected)
        menu.addSeparator()
        menu.addAction("Copy path:line", lambda: QApplication.clipboard().setText(where))
        menu.addAction("Copy the snippet", lambda: QApplication.clipboard().setText(result.snippet))
        menu.addAction(
            "Show in file manager",
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(result.abs_path.parent))),
        )
        return menu

    # -- empty states -------------------------------------------------------------------

    def empty_state_text(self) -> str | None:
        """What the results area says instead of results, or None when it shows results."""
        if self.status is not None and not self.status.roots:
            return "No folders yet.\nAdd a folder or drop one here."
        if self.shown_key is None or not self.shown_key[0]:
            if self.search_box.text().strip():
                return "Searching…"
            return (
                "Type to search your code.\n"
                "Exact names (readFileContents, HTTP_TIMEOUT) or plain words (where do we "
                "retry failed uploads). Move the slider to weigh exact words against meaning."
            )
        if self.searches.error:
            return f"The search failed: {self.searches.error}"
        if self.model.rowCount():
            return None
        query, filters = self.shown_key
        lines = [f"No results for “{query}”."]
        if filters.active:
            lines.append("The language or path filter may be too narrow.")
        if self.status is not None and self.status.chunks:
            if self.status.embedded < self.status.chunks:
                lines.append(
                    f"{self.status.embedded_fraction:.0%} of the index is embedded so far."
                )
            else:
                lines.append(f"All {self.status.chunks:,} chunks of the index are embedded.")
        if self.alpha_slider.value() == 0:
            lines.append("Move the slider towards Meaning to find code that does the same thing.")
        return "\n".join(lines)

    def _update_empty_state(self) -> None:
        if self.exact.active:
            return  # exact mode shows its own page
        text = self.empty_state_text()
        # With nothing to preview, the message gets the whole width.
        self.preview.setVisible(text is None)
        if text is None:
            self.results_stack.setCurrentIndex(0)
            return
        self.empty_label.setText(text)
        no_folders = self.status is not None and not self.status.roots
        self.empty_add_button.setVisible(no_folders)
        self.results_stack.setCurrentIndex(1)

    # -- indexing progress --------------------------------------------------------------

    def _status_ready(self, status: EngineStatus) -> None:
        was_partial = self.status is not None and self.status.embedded < self.status.chunks
        self.status = status
        self._update_empty_state()
        if was_partial and status.embedded >= status.chunks and status.chunks:
            self.refresh_search()  # fully embedded now: meaning covers everything

    def _show_indexing_status(self, *_: object) -> None:
        """The status bar says what the folders panel and the tray say: one model."""
        status = self.context.indexing_status.status
        text = status.summary()
        if self.restart_needed:
            text += " · restart to apply the new settings"
        self.progress_label.setText(text)
        fraction = status.progress_fraction()
        if status.busy:
            if fraction is None:
                self.progress_bar.setRange(0, 0)  # busy, the total not known yet
            else:
                self.progress_bar.setRange(0, 1000)
                self.progress_bar.setValue(round(fraction * 1000))
            # While work goes on, the counts behind the words are read again now and then.
            if not self._status_timer.isActive():
                self._status_timer.start()
        else:
            self._status_timer.stop()
        self.progress_bar.setVisible(status.busy)
        coverage = status.coverage_note()
        if self.session is not None and self.model.rowCount():
            self._show_notes(coverage)

    def _refresh_languages(self) -> None:
        self.context.run_in_background(self.context.languages, self._got_languages, owner=self)

    def _got_languages(self, languages: Any, exc: BaseException | None) -> None:
        if exc is not None or not isinstance(languages, list):
            return
        current = self.language_filter.currentText()
        self.language_filter.blockSignals(True)
        self.language_filter.clear()
        self.language_filter.addItem(ALL_LANGUAGES)
        self.language_filter.addItems(languages)
        self.language_filter.setCurrentText(current)
        self.language_filter.blockSignals(False)

    def _settings_saved(self, dialog: SettingsDialog) -> None:
        if dialog.restart_needed:
            self.restart_needed = True
            self.show_message("Settings saved. Restart Codanna Desktop to apply them.", 20_000)
            self.offer_restart()
        else:
            self.show_message("Settings saved.", 4000)
        self._show_indexing_status()

    # -- keys ---------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ):
            return self._plain_key(watched, Qt.Key(event.key()))
        return super().eventFilter(watched, event)

    def _plain_key(self, watched: QObject, key: Qt.Key) -> bool:
        """Keys without modifiers in the search box and the list; True when handled."""
        enter = key in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if watched is self.search_box:
            steps = {
                Qt.Key.Key_Down: 1,
                Qt.Key.Key_Up: -1,
                Qt.Key.Key_PageDown: 5,
                Qt.Key.Key_PageUp: -5,
            }
            if key in steps:
                self.move_selection(steps[key])
                return True
            if enter:
                self._enter_pressed()
                return True
        if watched is self.results_view and enter:
            self.open_selected()
            return True
        if key == Qt.Key.Key_Escape:
            self.escape()
            return True
        return False

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escape()
            return
        super().keyPressEvent(event)

    # -- drag and drop ------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        dropped = classify_drop(event.mimeData())
        if dropped.folders:
            self.add_folders(dropped.folders)
            event.acceptProposedAction()
        else:
            event.ignore()
        if dropped.refused:
            self.show_message("Not added: " + "; ".join(dropped.refused), 15_000)

    # -- remembering the window ---------------------------------------------------------

    def _restore_ui_state(self) -> None:
        s = self.ui_settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(*DEFAULT_SIZE)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        splitter = s.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        alpha = s.value("search/alpha")
        if alpha is not None:
            self.alpha_slider.setValue(int(alpha))
        self.path_filter.setText(str(s.value("search/path", "") or ""))
        self.language_filter.setCurrentText(str(s.value("search/language", "") or ALL_LANGUAGES))
        self.search_box.setText(str(s.value("search/query", "") or ""))
        self._debounce.stop()

    @Slot()
    def save_ui_state(self) -> None:
        s = self.ui_settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("search/query", self.search_box.text())
        s.setValue("search/alpha", self.alpha_slider.value())
        s.setValue("search/path", self.path_filter.text())
        s.setValue("search/language", self.language_filter.currentText())
        s.sync()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._paint_slider_labels()
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_ui_state()
        # The exact search's process holds its own index readers; a closed or hidden
        # window frees them (the next exact query starts it again).
        self.exact.shutdown()
        if self.hide_on_close:
            event.ignore()
            self.hide()
            self.hidden_to_tray.emit()
        else:
            event.accept()
