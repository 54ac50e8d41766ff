"""A TCP proxy to a local endpoint that drops a connection once it has carried too much.

``direction="up"`` counts what the client sends (large uploads die mid-body);
``direction="down"`` counts what the endpoint answers (large downloads die mid-object).
Small requests and answers pass, so a run gets as far as the big transfer.
``OutageProxy`` instead drops everything for a few seconds once a given request comes.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time


class CuttingProxy:
    """Listens on 127.0.0.1:``port`` and forwards to 127.0.0.1:``target_port``."""

    def __init__(self, target_port: int, limit: int, direction: str = "up") -> None:
        if direction not in ("up", "down"):
            raise ValueError(f"direction is up or down, not {direction!r}")
        self.target_port = target_port
        self.limit = limit
        self.direction = direction
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
            if self.direction == "up":
                counted, other = (client, upstream), (upstream, client)
            else:
                counted, other = (upstream, client), (client, upstream)
            threading.Thread(target=self._forward, args=other, daemon=True).start()
            self._forward_until_limit(*counted, shutdown=client)

    def _forward_until_limit(
        self, source: socket.socket, sink: socket.socket, shutdown: socket.socket
    ) -> None:
        carried = 0
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if carried + len(chunk) > self.limit:
                    sink.sendall(chunk[: self.limit - carried])
                    self.cut += 1
                    shutdown.shutdown(socket.SHUT_RDWR)
                    return
                carried += len(chunk)
                sink.sendall(chunk)

    @staticmethod
    def _forward(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)

    def close(self) -> None:
        """Stop accepting connections."""
        self.listener.close()


class OutageProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``; goes dark for ``seconds`` the
    first time a client sends ``trigger`` (a request line such as ``b"PUT /bucket/key"``).

    The request carrying the trigger is lost, every open connection is cut, and every
    connection made while dark is reset after its request line is read (an endpoint that
    drops everything). ``requests`` holds every request line seen, ``dropped`` those lost;
    ``sdk_headers`` the ``amz-sdk-request`` header values clients sent.
    """

    def __init__(self, target_port: int, trigger: bytes, seconds: float) -> None:
        self.target_port = target_port
        self.trigger = trigger
        self.seconds = seconds
        self.requests: list[str] = []
        self.dropped: list[str] = []
        self.sdk_headers: list[str] = []
        self.dark_from: float | None = None  # time.monotonic() when the outage began
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def dark(self) -> bool:
        """Whether the outage is under way."""
        return self.dark_from is not None and time.monotonic() < self.dark_from + self.seconds

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            if self.dark:
                client.settimeout(2)
                with contextlib.suppress(OSError):
                    self._note(client.recv(65536), dropped=True)
                _reset(client)
                return
            with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
                with self._lock:
                    self._open.add(client)
                threading.Thread(
                    target=self._forward_back, args=(upstream, client), daemon=True
                ).start()
                with contextlib.suppress(OSError):
                    while chunk := client.recv(65536):
                        if self.dark or (self.dark_from is None and self.trigger in chunk):
                            self._note(chunk, dropped=True)
                            self._go_dark()
                            return
                        self._note(chunk, dropped=False)
                        upstream.sendall(chunk)
                with self._lock:
                    self._open.discard(client)

    def _note(self, chunk: bytes, *, dropped: bool) -> None:
        text = chunk.decode("latin-1")
        line = text.split("\r\n", 1)[0]
        with self._lock:
            if line.split(" ", 1)[0] in ("GET", "PUT", "POST", "DELETE", "HEAD"):
                self.requests.append(line)
                if dropped:
                    self.dropped.append(line)
            self.sdk_headers += re.findall(r"(?im)^amz-sdk-request:\s*([^\r\n]*)", text)

    def _go_dark(self) -> None:
        with self._lock:
            if self.dark_from is None:
                self.dark_from = time.monotonic()
            cut, self._open = self._open, set()
        for sock in cut:
            _reset(sock)

    @staticmethod
    def _forward_back(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop accepting connections."""
        self.listener.close()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a vanished endpoint would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
