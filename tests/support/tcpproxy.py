"""A TCP proxy a test starts in front of a server, and can make hang.

``pause()`` keeps every connection open and accepts new ones but forwards no
byte in either direction: to the client, the server behind it looks hung (a
stuck database, a blackholed network), which stopping the real server would
not show (a stopped server refuses at once). ``resume()`` forwards what was
held back. The server behind it is never touched.
"""

from __future__ import annotations

import socket
import threading

from tests.support.live import free_port


class PausableProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.flowing = threading.Event()
        self.flowing.set()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._closed = False

    def __enter__(self) -> PausableProxy:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed = True
        self.flowing.set()
        for sock in [self._listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def pause(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                self.flowing.wait()
                data = source.recv(65536)
                if not data:
                    break
                self.flowing.wait()  # bytes read just before a pause are held back too
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
