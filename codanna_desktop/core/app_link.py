"""Talking to the running desktop app from the command line, without Qt.

While the app runs it holds the index for writing, so `add`, `remove` and `index` from a
shell could only say "busy"; and each `search` would load the engine (and for the
semantic side the model) in a process of its own. The app listens on a local socket
(app/single_instance.py); it writes where into ``app.socket`` in the data folder. A
request is one JSON object on a line; the answer is one JSON object on a line.

`codanna-desktop watch` answers the same requests without Qt (`LinkServer`). Unix domain
sockets only: elsewhere (Windows named pipes) `send` finds no app and the command line
does the work itself, or says who holds the index.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

SOCKET_NOTE = "app.socket"  # in the data folder: the path the app's server listens on
CONNECT_TIMEOUT_S = 1.0
MAX_REQUEST_BYTES = 1 << 20
LINK_FOLDER_PREFIX = "codanna-link-"  # under the temporary folder, one per `watch`


class AppNotAnswering(Exception):
    """The app is not running here, or did not answer in time."""


def socket_note(data_dir: Path) -> Path:
    return data_dir / SOCKET_NOTE


def send(data_dir: Path, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """The running app's answer to `request`. Raises AppNotAnswering when there is no app
    (no note, a stale note, nobody listening) or it does not answer within `timeout`."""
    try:
        where = socket_note(data_dir).read_text(encoding="utf-8").strip()
    except OSError:
        raise AppNotAnswering("the desktop app is not running") from None
    family = getattr(socket, "AF_UNIX", None)
    if not where or family is None:
        raise AppNotAnswering("the desktop app cannot be reached from here")
    try:
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(CONNECT_TIMEOUT_S)
            conn.connect(where)
            conn.settimeout(timeout)
            conn.sendall(json.dumps(request).encode("utf-8") + b"\n")
            reply = _read_line(conn)
    except OSError as exc:
        raise AppNotAnswering(f"the desktop app did not answer ({exc})") from exc
    try:
        answer = json.loads(reply)
    except ValueError:
        raise AppNotAnswering("the desktop app gave an answer that is not JSON") from None
    if not isinstance(answer, dict):
        raise AppNotAnswering("the desktop app gave an answer that is not an object")
    return answer


def _read_line(conn: socket.socket, limit: int | None = None) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        part = conn.recv(65536)
        if not part:
            break
        data += part
        if limit is not None and len(data) > limit:
            raise OSError("request too long")
    return data


def note_is(data_dir: Path, where: str) -> bool:
    """Whether the note still names `where` (a later server may have written its own)."""
    try:
        return socket_note(data_dir).read_text(encoding="utf-8").strip() == where
    except OSError:
        return False


def write_note(data_dir: Path, where: str) -> None:
    """Say where the server listens, for `send`: written atomically."""
    note = socket_note(data_dir)
    tmp = note.with_suffix(".tmp")
    tmp.write_text(where, encoding="utf-8")
    os.replace(tmp, note)


class LinkServer:
    """The desktop app's side of the link for a process without Qt (`watch`): one thread
    accepts, each request is answered on a thread of its own by `handle(request)`, which
    returns the reply. The socket lives in a private folder (0700) of its own under the
    temporary folder: socket paths are limited to about 100 bytes, and the data folder
    can be deeper than that."""

    def __init__(self, data_dir: Path, handle: Callable[[dict[str, Any]], dict[str, Any]]):
        self.data_dir = data_dir
        self._handle = handle
        self._folder: Path | None = None
        self._sock: socket.socket | None = None
        self.where = ""

    def start(self) -> bool:
        """Listen and write the note; False (and a log line) where that cannot be done."""
        family = getattr(socket, "AF_UNIX", None)
        if family is None:
            return False
        self._remove_stale_folder()
        try:
            self._folder = Path(tempfile.mkdtemp(prefix=LINK_FOLDER_PREFIX))
            self.where = str(self._folder / "s")
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.bind(self.where)
            sock.listen(16)
            self._sock = sock
            write_note(self.data_dir, self.where)
        except OSError as exc:
            log.warning("the command line cannot reach this process: %s", exc)
            self.close()
            return False
        threading.Thread(target=self._accept, name="app-link", daemon=True).start()
        return True

    def _remove_stale_folder(self) -> None:
        """A server killed before it could close left its folder behind: the caller holds
        the index for writing, so no other server of this data folder is alive."""
        try:
            old = Path(socket_note(self.data_dir).read_text(encoding="utf-8").strip()).parent
        except OSError:
            return
        if old.name.startswith(LINK_FOLDER_PREFIX) and old.parent == Path(tempfile.gettempdir()):
            shutil.rmtree(old, ignore_errors=True)

    def _accept(self) -> None:
        sock = self._sock
        while sock is not None:
            try:
                conn, _ = sock.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(30.0)
                raw = _read_line(conn, MAX_REQUEST_BYTES)
                try:
                    request = json.loads(raw)
                except ValueError:
                    request = None
                if not isinstance(request, dict) or not isinstance(request.get("request"), str):
                    reply: dict[str, Any] = {
                        "ok": False,
                        "error": "not a request",
                        "exit_code": 2,
                    }
                else:
                    reply = self._reply(request)
                conn.sendall(json.dumps(reply, ensure_ascii=False).encode("utf-8") + b"\n")
            except OSError as exc:  # the command line gave up waiting
                log.info("app link: %s", exc)

    def _reply(self, request: dict[str, Any]) -> dict[str, Any]:
        from codanna_desktop.core.errors import user_error

        try:
            return self._handle(request)
        except Exception as exc:
            error = user_error(exc)
            if error is not exc:
                log.info("the error in full", exc_info=exc)
            return {"ok": False, "error": str(error), "exit_code": error.exit_code}

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone may not.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            if note_is(self.data_dir, self.where):
                socket_note(self.data_dir).unlink(missing_ok=True)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def answer_search(engine: Any, request: dict[str, Any]) -> dict[str, Any]:
    """What a `search` request is answered with (run off the UI thread, or by the command
    line itself when no app runs): the results as `SearchResult.to_json` gives them, how
    each matches in words, and the notes to print first. `engine` is an Engine or a
    LexicalReader. The languages are resolved here, so the command line that hands the
    search over need not load the grammars' registry."""
    from codanna_desktop.core.errors import UnknownLanguageError
    from codanna_desktop.core.files.filters import SearchFilters

    languages: tuple[str, ...] = ()
    if request.get("languages"):
        from codanna_desktop.core.chunking.languages import resolve_languages

        try:
            languages = resolve_languages(list(request["languages"]))
        except UnknownLanguageError as exc:
            return {"ok": False, "error": str(exc), "exit_code": 2}
    if not engine.roots():
        return {
            "ok": False,
            "error": "No folders yet: add one with `codanna-desktop add PATH`.",
            "exit_code": 1,
        }
    root_ids = []
    for folder in request.get("roots") or []:
        root = engine.catalog.root_by_path(Path(folder))
        if root is None:
            added = ", ".join(str(r.path) for r in engine.roots())
            return {
                "ok": False,
                "error": f"{folder} is not an added folder (added: {added})",
                "exit_code": 2,
            }
        root_ids.append(root.id)
    filters = SearchFilters(
        languages=languages,
        root_ids=tuple(root_ids),
        path_glob=request.get("path_glob") or None,
    )
    alpha = request_alpha(engine.settings, request)
    bend = bool(request.get("bend", True))
    session = engine.search(str(request["query"]), filters, semantic=alpha > 0)
    results = session.results(alpha, int(request.get("k", 10)), bend=bend)
    notes = [session.not_found_note, *session.notes, session.coverage_note]
    weight_note = None
    if session.semantic_available and session.weight(alpha, bend=bend) != alpha:
        weight_note = session.weight_label(alpha, bend=bend)
    return {
        "ok": True,
        "results": [r.to_json() for r in results],
        # The words the command line prints for each result's match ("defines it"), so
        # printing needs no import of the ranking code.
        "labels": [r.match.label() for r in results],
        "notes": [n for n in notes if n],
        "weight_note": weight_note,
        "not_found": session.not_found_note is not None,
    }


def request_alpha(settings: Any, request: dict[str, Any]) -> float:
    """The weight a search request runs at: its own, or the settings' default."""
    given = request.get("alpha")
    return float(settings.alpha if given is None else given)
