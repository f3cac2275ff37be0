"""The hijacked attach connection of one running ingester container: stdin (the ingester's lifeline) and the
demultiplexed stdout / stderr frames, each whole line handed to the ``IngesterOutput`` (used by ``DockerRunner``)."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any, Callable

from jackfruit.ports.runner import RunnerEvent

from .ingester_output import IngesterOutput

_STDOUT, _STDERR = 1, 2


class Attached:
    """One running container's hijacked attach connection: stdin (the lifeline) and the demultiplexed output."""

    def __init__(self, sockio: Any, secret: list[str], on_event: Callable[[RunnerEvent], None] | None) -> None:
        self._sockio = sockio  # keeps the HTTP response (and so the connection) referenced
        self.sock: socket.socket = getattr(sockio, "_sock", sockio)
        self.sock.settimeout(None)  # the client's HTTP time-out must not cut a long poll
        self.output = IngesterOutput(secret, on_event, cancel=self.close_stdin)
        self.stream_error: BaseException | None = None
        self._stdin = threading.Lock()
        self._stdin_open = True
        self._buffers = {_STDOUT: bytearray(), _STDERR: bytearray()}
        self._handlers = {_STDOUT: self.output.stdout_line, _STDERR: self.output.stderr_line}
        self.reader = threading.Thread(target=self._read, daemon=True, name="ingest-attach")
        self.reader.start()

    # -- output ---------------------------------------------------------------------------------------------------
    def _recv_exactly(self, n: int) -> bytes | None:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def _read(self) -> None:
        """Frames ``[stream, 0, 0, 0, size (big-endian u32)] + data`` until the container's streams end; each whole
        line goes to the ``IngesterOutput`` (one reader thread: in order)."""
        try:
            while (header := self._recv_exactly(8)) is not None:
                stream, size = struct.unpack(">BxxxL", header)
                data = self._recv_exactly(size) if size else b""
                if data is None:
                    break
                if stream in self._buffers:
                    self._feed(stream, data)
        except OSError as err:  # the connection was cut under us (daemon gone, or closed by stop())
            self.stream_error = err
        finally:
            for stream, rest in self._buffers.items():
                if rest.strip():
                    self._handlers[stream](bytes(rest))
                rest.clear()

    def _feed(self, stream: int, data: bytes) -> None:
        buf = self._buffers[stream]
        buf += data
        while (end := buf.find(b"\n")) >= 0:
            line = bytes(buf[:end])
            del buf[:end + 1]
            self._handlers[stream](line)

    # -- stdin ----------------------------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        with self._stdin:
            if not self._stdin_open:
                return
            try:
                self.sock.sendall(data)
            except OSError:  # the ingester already exited (e.g. a usage error); its result line says why
                pass

    def close_stdin(self) -> None:
        """Cut the lifeline (half-close): the daemon closes the container's stdin, the ingester cancels itself
        and commits nothing; its output still arrives on this connection."""
        with self._stdin:
            if self._stdin_open:
                self._stdin_open = False
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def close(self) -> None:
        self.close_stdin()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.reader.join(timeout=5)
        for closing in (self._sockio, self.sock):
            try:
                closing.close()
            except OSError:
                pass
