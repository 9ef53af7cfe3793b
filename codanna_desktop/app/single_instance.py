"""One desktop app per data directory.

Starting the app again (from a launcher, or `codanna-desktop PATH` in a terminal) must not
open a second window onto the same index: the second process hands its folders to the
first over a local socket and exits. Two data directories (two CODANNA_HOMEs) are two
independent apps.

Who is first is decided by an OS file lock in the data directory, not by the socket:
the OS releases the lock when a process dies, so a crash never blocks the next start, and
two processes started at the same moment cannot both win. The primary then owns the
socket name, so a socket file left behind by a crash is removed, not connected to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout
from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from codanna_desktop.core.app_link import note_is, socket_note, write_note

if TYPE_CHECKING:
    from codanna_desktop.core.settings import AppPaths

log = logging.getLogger(__name__)

CONNECT_WAIT_MS = 5000  # the primary may still be starting when the secondary knocks
REPLY_WAIT_MS = 5000
MAX_MESSAGE_BYTES = 1 << 20


def server_name(paths: AppPaths) -> str:
    """A name derived from the data directory. Short, because on Unix it becomes a socket
    file under /tmp and socket paths are limited to about 100 bytes."""
    key = f"{os.getuid() if hasattr(os, 'getuid') else ''}:{paths.data_dir.resolve()}"
    return "codanna-desktop-" + hashlib.sha256(key.encode()).hexdigest()[:16]


class SingleInstance(QObject):
    """`try_become_primary()` once at startup. The primary listens and emits
    `message_received(dict)` for every message a later start sends; a secondary calls
    `send_to_primary(message)` and exits."""

    message_received = Signal(dict)
    # A request from the command line (core/app_link.py): (request, answer) where
    # answer(dict) sends the reply; it may be called later, from the UI thread.
    request_received = Signal(dict, object)

    def __init__(self, paths: AppPaths, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(paths)
        paths.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(paths.data_dir / "app-instance.lock"))
        self._server: QLocalServer | None = None
        self._note = socket_note(paths.data_dir)
        self._where = ""  # what the note says, once this app wrote it

    @property
    def is_primary(self) -> bool:
        return self._server is not None

    def try_become_primary(self, *, advertise: bool = True) -> bool:
        """`advertise=False` listens for later starts but leaves the command line's note
        (core/app_link.py) to `advertise()`: the app writes it once its index is open, so
        an app that then fails to start (`watch` holds the index) does not take the note
        of the process that does answer."""
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        # We hold the lock, so no live process serves this name: whatever socket file is
        # there was left by a crash and would make listen() fail.
        QLocalServer.removeServer(self.name)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # Still the only instance (the lock says so); later starts just cannot reach it.
            log.warning("single instance: cannot listen on %s: %s", self.name, server.errorString())
        server.newConnection.connect(self._accept)
        self._server = server
        if advertise:
            self.advertise()
        return True

    def advertise(self) -> None:
        """Tell the command line where this app listens (core/app_link.py)."""
        if self._server is None or not self._server.isListening():
            return
        self._where = self._server.fullServerName()
        try:
            write_note(self._note.parent, self._where)
        except OSError as exc:
            log.warning("single instance: the command line cannot find this app: %s", exc)

    def send_to_primary(self, message: dict[str, Any]) -> bool:
        """Deliver `message` to the primary and wait for its acknowledgement."""
        socket = QLocalSocket()
        deadline = time.monotonic() + CONNECT_WAIT_MS / 1000
        while True:
            socket.connectToServer(self.name)
            if socket.waitForConnected(500):
                break
            if time.monotonic() > deadline:
                log.warning("single instance: no answer on %s", self.name)
                return False
            time.sleep(0.1)
        socket.write(json.dumps(message).encode("utf-8") + b"\n")
        if not socket.waitForBytesWritten(REPLY_WAIT_MS):
            return False
        reply = b""
        while not reply.endswith(b"\n") and socket.waitForReadyRead(REPLY_WAIT_MS):
            reply += bytes(socket.readAll().data())
        socket.disconnectFromServer()
        return reply.strip() == b"ok"

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
            if self._where and note_is(self._note.parent, self._where):
                self._note.unlink(missing_ok=True)
        if self._lock.is_locked:
            self._lock.release(force=True)

    # -- the primary's side ---------------------------------------------------------

    def _accept(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            buffer = bytearray()

            def read(socket: QLocalSocket = socket, buffer: bytearray = buffer) -> None:
                buffer += bytes(socket.readAll().data())
                if len(buffer) > MAX_MESSAGE_BYTES:
                    socket.abort()
                elif buffer.endswith(b"\n"):
                    self._handle(socket, bytes(buffer))

            socket.readyRead.connect(read)
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                read()

    def _handle(self, socket: QLocalSocket, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if isinstance(message, dict) and isinstance(message.get("request"), str):
            self.request_received.emit(message, lambda reply: self._answer(socket, reply))
            return
        if not isinstance(message, dict):
            log.warning("single instance: ignored a message that is not a JSON object")
            socket.write(b"bad\n")
        else:
            socket.write(b"ok\n")
        socket.flush()
        socket.disconnectFromServer()
        if isinstance(message, dict):
            self.message_received.emit(message)

    @staticmethod
    def _answer(socket: QLocalSocket, reply: dict[str, Any]) -> None:
        try:
            connected = socket.state() == QLocalSocket.LocalSocketState.ConnectedState
        except RuntimeError:  # already deleted: the command line went away
            return
        if not connected:
            return  # the command line gave up waiting
        socket.write(json.dumps(reply, ensure_ascii=False).encode("utf-8") + b"\n")
        socket.flush()
        socket.disconnectFromServer()
