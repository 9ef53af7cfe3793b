"""The list of search results as a Qt model; the delegate paints each row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

if TYPE_CHECKING:
    from codanna_desktop.core.ranking.search import SearchResult

RESULT_ROLE = Qt.ItemDataRole.UserRole + 1

Index = QModelIndex | QPersistentModelIndex


def result_key(result: SearchResult) -> tuple[str, int]:
    """What stays the same for "the same result" across a re-ranking or a re-index:
    chunk ids change when a file is indexed again, its path and first line rarely do."""
    return (str(result.abs_path), result.start_line)


def score_tooltip(result: SearchResult) -> str:
    lines = [
        f"{result.abs_path}",
        f"Lines {result.start_line}–{result.end_line}",
        f"Score {result.score:.2f} = exact words {result.lexical_part:.2f}"
        f" + meaning {result.semantic_part:.2f}",
    ]
    raw = []
    if result.lexical_score is not None:
        raw.append(f"BM25 {result.lexical_score:.2f}")
    if result.semantic_score is not None:
        raw.append(f"cosine {result.semantic_score:.2f}")
    if raw:
        lines.append(", ".join(raw))
    return "\n".join(lines)


class ResultsModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._results: list[SearchResult] = []

    def set_results(self, results: list[SearchResult]) -> None:
        self.beginResetModel()
        self._results = list(results)
        self.endResetModel()

    def clear(self) -> None:
        self.set_results([])

    def results(self) -> list[SearchResult]:
        return list(self._results)

    def result(self, row: int) -> SearchResult | None:
        return self._results[row] if 0 <= row < len(self._results) else None

    def row_of(self, key: tuple[str, int]) -> int:
        """The row of the result with this key, or -1."""
        for row, result in enumerate(self._results):
            if result_key(result) == key:
                return row
        return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt signature)
        return 0 if parent.isValid() else len(self._results)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        result = self.result(index.row()) if index.isValid() else None
        if result is None:
            return None
        if role == RESULT_ROLE:
            return result
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            symbol = f" {result.symbol}" if result.symbol else ""
            return f"{result.path}:{result.start_line}-{result.end_line}{symbol}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return score_tooltip(result)
        return None
