"""A TCP proxy on 127.0.0.1 in front of an HTTP server, injecting network faults into chosen requests.

Point a client at `proxy.url` instead of the server. Each request (also the second and later
ones on a kept-alive connection) is matched by a regular expression searched in its request
line, e.g. ``PUT /bucket/m/v1/\\.claim``; the first rule that matches applies:

- `hold(pattern)`: the request waits, unsent, until `release()` (or the proxy closes);
  `wait_arrived()` tells the test it got there;
- `delay(pattern, seconds)`: the request is sent after a pause;
- `cut(pattern, after)`: `after` bytes of the request (request line, headers, body) reach the
  server, then both connections are closed;
- `answer(pattern, status, body)`: the proxy answers itself; the server never sees the request.

Each rule counts its `hits` and sets `done` once a matching request was sent on, answered or
cut. `close()` (or leaving the `with` block) stops accepting, closes every connection (a held
request's too) and releases held requests. `requests` lists the request lines seen, in order.
"""

import contextlib
import itertools
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urlsplit

HOLD_LIMIT = 30.0  # seconds a request is held at most, so that a failing test cannot hang


@dataclass
class Rule:
    """One fault: which requests (pattern), what happens (kind and its parameter), and what it saw."""

    pattern: re.Pattern
    kind: str
    seconds: float = 0.0
    after: int = 0
    response: bytes = b""
    hits: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def wait_arrived(self, timeout: float = 10.0) -> bool:
        """Whether a matching request arrived within `timeout` seconds."""
        return self.arrived.wait(timeout)

    def release(self) -> None:
        """Let held requests go on to the server."""
        self.released.set()


class FaultProxy:
    """The proxy; a context manager."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.requests: list[str] = []
        self._rules: list[Rule] = []
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT of the proxy."""
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def hold(self, pattern: str) -> Rule:
        """Hold matching requests until the returned rule is released."""
        return self._add(Rule(re.compile(pattern), "hold"))

    def delay(self, pattern: str, seconds: float) -> Rule:
        """Send matching requests `seconds` late."""
        return self._add(Rule(re.compile(pattern), "delay", seconds=seconds))

    def cut(self, pattern: str, after: int) -> Rule:
        """Close the connections of matching requests after `after` of their bytes."""
        return self._add(Rule(re.compile(pattern), "cut", after=after))

    def answer(self, pattern: str, status: int, body: bytes = b"", reason: str = "Error") -> Rule:
        """Answer matching requests with `status` and an XML `body`, without the server."""
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        return self._add(Rule(re.compile(pattern), "answer", response=head + body))

    def close(self) -> None:
        """Stop accepting, release held requests and close every connection."""
        self._closed.set()
        for rule in self._rules:
            rule.release()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)
        self._listener.close()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add(self, rule: Rule) -> Rule:
        self._rules.append(rule)
        return rule

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _serve(self, client: socket.socket) -> None:
        """Forward the requests of one client connection one by one, applying the rules."""
        self._track(client)
        try:
            upstream = self._track(socket.create_connection(self.upstream))
        except OSError:
            _shut(client)
            return
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        reader = client.makefile("rb")
        graceful = True
        try:
            while not self._closed.is_set():
                head = _read_head(reader)
                if not head:
                    break
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                self.requests.append(line)
                rule = next((r for r in self._rules if r.pattern.search(line)), None)
                if not self._forward(rule, head, reader, client, upstream):
                    graceful = False
                    break
        except OSError:
            graceful = False
        finally:
            _shut(client)
            if graceful:  # the client is done: let the server finish what it was sent (the pump closes it)
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_WR)
            else:
                _shut(upstream)

    def _forward(self, rule: Rule | None, head: bytes, reader: BinaryIO, client: socket.socket,
                 upstream: socket.socket) -> bool:
        """Send one request on (or not, as `rule` says); False when the connection must end."""
        if rule is not None:
            rule.hits += 1
            rule.arrived.set()
            if rule.kind == "hold":
                rule.released.wait(HOLD_LIMIT)
            elif rule.kind == "delay":
                time.sleep(rule.seconds)
            elif rule.kind == "answer":
                if b"100-continue" not in head.lower():  # else the client waits for an answer before its body
                    for _ in _body(head, reader):
                        pass  # read the body first: closing with unread bytes would reset the answer away
                client.sendall(rule.response)
                rule.done.set()
                return False
            if self._closed.is_set():
                return False
        chunks = itertools.chain([head], _body(head, reader))
        if rule is not None and rule.kind == "cut":
            budget = rule.after
            for chunk in chunks:
                upstream.sendall(chunk[:budget])
                budget -= min(len(chunk), budget)
                if budget == 0:
                    break
            rule.done.set()
            return False
        for chunk in chunks:
            upstream.sendall(chunk)
        if rule is not None:
            rule.done.set()
        return True


def _read_head(reader: BinaryIO) -> bytes:
    """The request line and headers, up to and with the blank line; b"" at the end of the connection."""
    lines = []
    while True:
        line = reader.readline(65537)
        if not line:
            return b""
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _body(head: bytes, reader: BinaryIO) -> Iterator[bytes]:
    """The raw bytes of the request body, as they arrive (Content-Length or chunked)."""
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while True:
            size_line = reader.readline()
            yield size_line
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := reader.readline()) not in (b"\r\n", b"\n", b""):
                    yield trailer
                yield b"\r\n"
                return
            yield reader.read(size + 2)
    left = int(headers.get(b"content-length", b"0"))
    while left > 0:
        chunk = reader.read(min(left, 65536))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy bytes from `src` to `dst` until `src` ends, then close both. Once `dst` is gone, what
    `src` still sends is read and dropped: a server whose unread answer met a closed socket would
    get a reset, and lose the request it had not read yet."""
    try:
        while data := src.recv(65536):
            with contextlib.suppress(OSError):
                dst.sendall(data)
    except OSError:
        pass
    finally:
        _shut(dst)
        _shut(src)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
