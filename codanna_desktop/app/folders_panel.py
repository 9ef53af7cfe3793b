"""The folders panel: every indexed folder with what is happening to it, Add and Remove.

Each folder's line comes from the context's one indexing-status model, which the status
bar and the tray read too: the engine's counts (files, chunks, embedded, skipped, error)
with the indexer's live progress (scanning, indexing n/m), which names the folder it
works on. Embedding runs over all folders at once, so each folder shows its own
embedded/chunks counts then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from codanna_desktop.app import theme
from codanna_desktop.core.indexing_status import FolderLine, IndexingStatus

if TYPE_CHECKING:
    from pathlib import Path

    from codanna_desktop.app.context import AppContext

FOLDER_ROLE = Qt.ItemDataRole.UserRole + 1


# The panel draws the lines the one indexing-status model words (core/indexing_status.py).
FolderRow = FolderLine


class FolderDelegate(QStyledItemDelegate):
    """Folder name, its path (quiet), and the state line with a thin bar when busy."""

    PAD = 10

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        fm = QFontMetrics(option.font)
        return QSize(200, self.PAD * 2 + fm.height() * 3 + 6)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        row = index.data(FOLDER_ROLE)
        if not isinstance(row, FolderRow):
            super().paint(painter, option, index)
            return
        palette: QPalette = option.palette
        rect: QRect = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, theme.selection_fill(palette) if selected else theme.base(palette))
        painter.fillRect(
            QRect(rect.left(), rect.bottom(), rect.width(), 1), theme.hairline(palette)
        )
        font = QFont(option.font)
        fm = QFontMetrics(font)
        x, width = rect.left() + self.PAD, rect.width() - 2 * self.PAD
        y = rect.top() + self.PAD
        bold = QFont(font)
        bold.setWeight(QFont.Weight.DemiBold)
        painter.setFont(bold)
        painter.setPen(theme.text(palette))
        name = QFontMetrics(bold).elidedText(
            row.path.name or str(row.path), Qt.TextElideMode.ElideRight, width
        )
        painter.drawText(QRect(x, y, width, fm.height()), Qt.AlignmentFlag.AlignLeft, name)
        y += fm.height()
        painter.setFont(font)
        painter.setPen(theme.muted_text(palette))
        where = fm.elidedText(str(row.path.parent), Qt.TextElideMode.ElideMiddle, width)
        painter.drawText(QRect(x, y, width, fm.height()), Qt.AlignmentFlag.AlignLeft, where)
        y += fm.height() + 2
        colour = {
            "error": theme.error_color(palette),
            "ok": theme.ok_color(palette),
            "busy": theme.accent(palette),
        }.get(row.kind, theme.muted_text(palette))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawEllipse(QRectF(x, y + fm.height() / 2 - 3.5, 7, 7))
        painter.setPen(theme.error_color(palette) if row.kind == "error" else theme.text(palette))
        text_x = x + 13
        bar_w = 56 if row.fraction is not None else 0
        state = fm.elidedText(row.state, Qt.TextElideMode.ElideRight, width - 13 - bar_w - 6)
        painter.drawText(
            QRect(text_x, y, width - 13, fm.height()), Qt.AlignmentFlag.AlignLeft, state
        )
        if row.fraction is not None:
            bar = QRectF(x + width - bar_w, y + fm.height() / 2 - 2, bar_w, 4)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.hairline(palette))
            painter.drawRoundedRect(bar, 2, 2)
            painter.setBrush(colour)
            filled = QRectF(
                bar.left(), bar.top(), bar.width() * max(0.0, min(1.0, row.fraction)), 4
            )
            painter.drawRoundedRect(filled, 2, 2)
        painter.restore()


class FoldersPanel(QWidget):
    """Lists the roots; Add asks the window for a folder picker, Remove asks first."""

    add_requested = Signal()
    # The folder the person picked (the search is limited to it), or None for all.
    scope_changed = Signal(object)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.list = QListWidget()
        self.list.setObjectName("folders")
        self.list.setItemDelegate(FolderDelegate(self.list))
        self.list.setAcceptDrops(False)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self._scope: Path | None = None
        self.empty = QLabel("No folders yet.")
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add a folder to index (or drop one on the window)")
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop indexing the selected folder and forget its index")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(8, 4, 8, 8)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        self.title = QLabel("FOLDERS")
        self.title.setObjectName("panelTitle")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty, 1)
        layout.addLayout(buttons)
        context.indexing_status.changed.connect(self._refresh)
        self._refresh()

    # -- what the panel shows -----------------------------------------------------------

    @property
    def status(self) -> IndexingStatus:
        return self.context.indexing_status.status

    def rows(self) -> list[FolderRow]:
        return self.status.folder_lines()

    def folders(self) -> list[Path]:
        return [row.path for row in self.rows()]

    def row_for(self, path: Path) -> FolderRow | None:
        return next((row for row in self.rows() if row.path == path), None)

    def selected_folder(self) -> Path | None:
        item = self.list.currentItem()
        row = item.data(FOLDER_ROLE) if item is not None and item.isSelected() else None
        return row.path if isinstance(row, FolderRow) else None

    def select_folder(self, path: Path) -> None:
        for i in range(self.list.count()):
            row = self.list.item(i).data(FOLDER_ROLE)
            if isinstance(row, FolderRow) and row.path == path:
                self.list.setCurrentRow(i)

    def _refresh(self, *_: object) -> None:
        rows = self.rows()
        selected = self.selected_folder()
        if [self._row_at(i) for i in range(self.list.count())] != rows:
            self.list.clear()
            for row in rows:
                item = QListWidgetItem(f"{row.path.name}\n{row.state}")
                item.setData(FOLDER_ROLE, row)
                item.setToolTip(row.tooltip)
                self.list.addItem(item)
            if selected is not None:
                self.select_folder(selected)
        known = self.status.counts is not None
        self.list.setVisible(bool(rows) or not known)
        self.empty.setVisible(known and not rows)
        self._update_buttons()

    def _row_at(self, i: int) -> FolderRow | None:
        row = self.list.item(i).data(FOLDER_ROLE)
        return row if isinstance(row, FolderRow) else None

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected_folder() is not None)

    def _selection_changed(self) -> None:
        scope = self.selected_folder()
        if scope != self._scope:
            self._scope = scope
            self.scope_changed.emit(scope)

    def clear_scope(self) -> None:
        """Search every folder again."""
        self.list.clearSelection()
        self.list.setCurrentRow(-1)

    # -- actions ------------------------------------------------------------------------

    def remove_selected(self) -> None:
        folder = self.selected_folder()
        if folder is not None and self.confirm_remove(folder):
            self.context.remove_folder(folder)

    def confirm_remove(self, folder: Path) -> bool:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove folder",
            f"Stop indexing {folder.name} and forget its index?",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText(f"{folder}\n\nThe files themselves are not touched.")
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is remove
