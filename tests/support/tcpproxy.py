"""A TCP proxy a test starts in front of a server, and can make hang.

``pause()`` keeps every connection open and accepts new ones but forwards no
byte in either direction: to the client, the server behind it looks hung (a
stuck database, a blackholed network), which stopping the real server would
not show (a stopped server refuses at once). ``resume()`` forwards what was
held back. The server behind it is never touched.
"""

from __future__ import annotations

import socket
import struct
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


class CuttableProxy:
    """A TCP proxy a browser test loads its pages through, and can cut three ways.

    ``cut()`` drops every connection and refuses new ones (each is reset at once): to
    the browser the network is gone. ``mute_replies()`` forwards what the client sends
    but throws away everything the server sends back, on every connection old and new:
    a request reaches the server and its answer is lost (a silent, half-open connection
    to the client). ``lose_requests()`` is the other way round: what the client sends
    is thrown away, so a request never reaches the server. ``block_websockets()`` resets
    every connection that opens with the websocket upgrade (``GET /ws/``) and drops the
    open ones, while pages and HTTP requests still pass. ``restore()`` ends them all.
    The server is never touched.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.cut_off = False
        self.muted = False
        self.deaf = False
        self.websockets_blocked = False
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket, list[bool]]] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CuttableProxy:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed = True
        self._drop(lambda _is_ws: True)
        self._listener.close()

    def cut(self) -> None:
        self.cut_off = True
        self._drop(lambda _is_ws: True)

    def mute_replies(self) -> None:
        self.muted = True

    def lose_requests(self) -> None:
        self.deaf = True

    def block_websockets(self) -> None:
        self.websockets_blocked = True
        self._drop(lambda is_ws: is_ws)

    def restore(self) -> None:
        self.cut_off = self.muted = self.deaf = self.websockets_blocked = False

    def _drop(self, which) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        keep = []
        for client, upstream, is_ws in pairs:
            if which(is_ws[0]):
                _reset(client)
                _close(upstream)
            else:
                keep.append((client, upstream, is_ws))
        with self._lock:
            self._pairs += keep

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.cut_off:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            is_ws = [False]
            with self._lock:
                self._pairs.append((client, upstream, is_ws))
            threading.Thread(target=self._up, args=(client, upstream, is_ws), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket, is_ws: list[bool]) -> None:
        try:
            while data := client.recv(65536):
                if data.startswith(b"GET /ws/"):
                    is_ws[0] = True
                    if self.websockets_blocked:
                        break
                if not self.deaf:
                    upstream.sendall(data)
        except OSError:
            pass
        _reset(client)
        _close(upstream)

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(65536):
                if not self.muted:
                    client.sendall(data)
        except OSError:
            pass
        _close(client)
        _close(upstream)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _reset(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0): the peer sees the connection fail at once."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)  # wakes the thread blocked reading it, sends nothing
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
