"""Talking to the running desktop app from the command line, without Qt.

While the app runs it holds the index for writing, so `add`, `remove` and `index` from a
shell could only say "busy"; and each `search` would load the engine (and for the
semantic side the model) in a process of its own. The app listens on a local socket
(app/single_instance.py); it writes where into ``app.socket`` in the data folder. A
request is one JSON object on a line; the answer is one JSON object on a line.

Unix domain sockets only: elsewhere (Windows named pipes) `send` finds no app and the
command line does the work itself, or says who holds the index.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

SOCKET_NOTE = "app.socket"  # in the data folder: the path the app's server listens on
CONNECT_TIMEOUT_S = 1.0


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


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        part = conn.recv(65536)
        if not part:
            break
        data += part
    return data


def answer_search(engine: Any, request: dict[str, Any]) -> dict[str, Any]:
    """What the running app answers a `search` request with (run off the UI thread): the
    results as `SearchResult.to_json` gives them, and the notes to print first."""
    from codanna_desktop.core.files.filters import SearchFilters

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
        languages=tuple(request.get("languages") or ()),
        root_ids=tuple(root_ids),
        path_glob=request.get("path_glob") or None,
    )
    given = request.get("alpha")
    alpha = engine.settings.alpha if given is None else float(given)
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
        "notes": [n for n in notes if n],
        "weight_note": weight_note,
        "not_found": session.not_found_note is not None,
    }
