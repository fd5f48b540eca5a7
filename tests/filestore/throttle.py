"""A TCP proxy that forwards client → server slowly, in small writes (a slow uplink).

Tests put it between a real client and a live server so that an upload is
still running when the test interrupts or inspects the server.
"""

from __future__ import annotations

import socket
import threading
import time


class ThrottlingProxy:
    def __init__(self, upstream_port: int, bytes_per_second: int, write_size: int = 4096):
        self.upstream_port = upstream_port
        self.rate = bytes_per_second
        self.write_size = write_size
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.sent_upstream = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(self.write_size)
                if not data:
                    break
                dst.sendall(data)
                with self._lock:
                    self.sent_upstream += len(data)
                time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            self._hang_up(src, dst)

    @staticmethod
    def _hang_up(*socks: socket.socket) -> None:
        """Close both sides, so the peer still sending gets a reset instead of blocking."""
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _down(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._hang_up(src, dst)
