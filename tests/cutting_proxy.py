"""A TCP proxy to a local endpoint that drops a connection once it has carried too much.

``direction="up"`` counts what the client sends (large uploads die mid-body);
``direction="down"`` counts what the endpoint answers (large downloads die mid-object).
Small requests and answers pass, so a run gets as far as the big transfer.
"""

from __future__ import annotations

import contextlib
import socket
import threading


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
