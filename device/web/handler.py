"""The HTTP side of the live view (`web.WebView`): a server that one client cannot starve, and
the request handler.

Each limit answers a probe that starved the view (issue 25, item 12):

- at most `max_connections` connection threads, `per_client` of them for one address; more are
  answered 503 at once, from the accepting thread, without ever waiting on the client: 300
  stalled connections used to hold 300 threads;
- a request (line, headers and body) must arrive within `request_timeout` in all, not per read,
  because a byte every few seconds passes any per-read timeout; an idle keep-alive connection
  is closed after the same time. A TLS hello or an HTTP/0.9 line is answered at once;
- the Host header must name this machine (an IP address, localhost, its host name or the name
  `--web` was given): a page elsewhere whose name is rebound to this address would otherwise
  read the view without a token (DNS rebinding);
- the token never reaches a log line.

The per-client stream cap lives with the viewer count, in `WebView.enter_viewer`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("edgesign.device.web.server")

BOUNDARY = "edgesign-frame"
#: bytes the kernel may hold for one viewer's stream (a few JPEGs)
SEND_BUFFER = 128 * 1024
_TOKEN_RE = re.compile(r"(token=)[^&\s]*", re.I)
_TLS_HANDSHAKE = b"\x16"
_PATHS = ("/", "/index.html", "/state.json", "/info.json", "/frame.jpg", "/stream.mjpg")


def redact(text: str) -> str:
    """`text` with every `token=...` value hidden, for log lines."""
    return _TOKEN_RE.sub(r"\1<hidden>", str(text))


def own_host_names(extra=()) -> frozenset:
    """The names a browser may use for this machine: localhost, its host name (also .local)."""
    names = {"localhost", *(str(n) for n in extra)}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names |= {name, name.split(".")[0] + ".local"}
    return frozenset(n.lower().rstrip(".") for n in names if n)


def host_allowed(header: str | None, names: frozenset) -> bool:
    """Whether a request's Host header names this machine (an IP address, or one of `names`)."""
    if header is None:
        return True  # HTTP/1.0 tools; every browser sends Host, and rebinding needs a browser
    host = header.strip().lower()
    if host.startswith("["):  # [IPv6] or [IPv6]:port, nothing else after the bracket
        end = host.find("]")
        rest = host[end + 1 :] if end > 0 else "x"
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return False
        host = host[1:end]
    elif host.count(":") == 1:
        host = host.split(":")[0]
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host in names


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a bounded number of connection threads and request deadlines."""

    daemon_threads = True
    allow_reuse_address = True
    #: the listen backlog (socketserver's default is 5): a burst of connections beyond it has its
    #: SYNs dropped and retried a second or more later, so 60 stalled ones at once kept a viewer
    #: waiting 9 s for the 503 or the page; the accepting thread answers each at once anyway
    request_queue_size = 128

    def __init__(self, address, handler, *, max_connections, per_client, request_timeout):
        self.max_connections = max_connections
        self.per_client = per_client
        self.request_timeout = request_timeout
        self._clients: Counter = Counter()  # address -> connections it holds
        self._deadlines: dict = {}  # socket -> time its request must be in by
        self._lock = threading.Lock()
        self._closed = threading.Event()
        super().__init__(address, handler)
        self._reaper = threading.Thread(target=self._reap, name="edgesign-web-reaper", daemon=True)
        self._reaper.start()

    def process_request(self, request, client_address):
        client = client_address[0]
        with self._lock:
            busy = sum(self._clients.values()) >= self.max_connections
            greedy = self._clients[client] >= self.per_client
            if not (busy or greedy):
                self._clients[client] += 1
        if busy or greedy:
            self._refuse(request, "too many connections from your address" if greedy else "busy")
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(client)
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.unwatch(request)
            self._release(client_address[0])

    def _release(self, client) -> None:
        with self._lock:
            self._clients[client] -= 1
            if self._clients[client] <= 0:
                del self._clients[client]

    def _refuse(self, request, why: str) -> None:
        body = f"{why}; try again in a few seconds\n".encode()
        try:
            request.setblocking(False)  # the accepting thread never waits for a client
            request.send(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Retry-After: 5\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            request.recv(65536)  # what already came: closing on unread data would reset the 503
        except OSError:
            pass
        self.shutdown_request(request)

    def watch(self, sock) -> None:
        """The request on `sock` must be read and answered within `request_timeout`."""
        with self._lock:
            self._deadlines[sock] = time.monotonic() + self.request_timeout

    def unwatch(self, sock) -> None:
        with self._lock:
            self._deadlines.pop(sock, None)

    def _reap(self) -> None:
        while not self._closed.wait(0.1):
            now = time.monotonic()
            with self._lock:
                late = [sock for sock, deadline in self._deadlines.items() if deadline <= now]
                for sock in late:
                    del self._deadlines[sock]
            for sock in late:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading it
                except OSError:
                    pass

    def server_close(self) -> None:
        self._closed.set()
        super().server_close()

    def handle_error(self, request, client_address):
        # a browser that goes away mid-answer is normal; never print a traceback for it
        log.debug("web view: request from %s failed", client_address, exc_info=True)


def make_handler(view):
    """The request handler class for `view` (a `web.WebView`)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "edgesign"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        # answer even a malformed request line with a status line (never HTTP/0.9's bare body)
        default_request_version = "HTTP/1.0"
        error_message_format = "%(code)d %(message)s\n"
        error_content_type = "text/plain; charset=utf-8"
        timeout = view.send_timeout  # each read and write; the server's deadline bounds the sum

        def log_message(self, fmt, *args):
            log.debug("web view: %s %s", self.address_string(), redact(fmt % args))

        # --- plumbing ---
        def handle_one_request(self):
            self.server.watch(self.connection)
            try:
                try:
                    first = self.rfile.peek(1)[:1]
                except OSError:
                    first = b""
                if first in (b"", _TLS_HANDSHAKE):
                    # gone, or https:// to this plain port: a TLS hello has no line end to wait for
                    self.close_connection = True
                    return
                super().handle_one_request()
            finally:
                self.server.unwatch(self.connection)

        def parse_request(self):
            if len(self.raw_requestline.split()) != 3:
                # HTTP/0.9 (`GET /` alone) sends no headers: the base class would wait for them
                self.command, self.request_version = None, self.default_request_version
                self.requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")
                self.close_connection = True
                self.send_error(HTTPStatus.BAD_REQUEST, "bad request line")
                return False
            return super().parse_request()

        def _route(self):
            """The request's path after the Host and token checks (which answer 4xx themselves)."""
            try:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, strict_parsing=False, max_num_fields=8)
            except ValueError:
                self._plain(HTTPStatus.BAD_REQUEST, "bad request")
                return None
            hosts = self.headers.get_all("Host") or []
            # RFC 9112: exactly one Host in HTTP/1.1, and a path (an absolute URI would name a
            # host of its own beside the checked one)
            one_host = len(hosts) == 1 or (not hosts and self.request_version == "HTTP/1.0")
            if not parts.path.startswith("/") or parts.scheme or parts.netloc or not one_host:
                self.close_connection = True
                self._plain(HTTPStatus.BAD_REQUEST, "bad request")
                return None
            if not host_allowed(self.headers.get("Host"), view.host_names):
                self._plain(
                    HTTPStatus.MISDIRECTED_REQUEST,
                    "unknown Host: open this view by its IP address or this machine's name",
                )
                return None
            if view.token is not None:
                given = (query.get("token") or [""])[0]
                if not hmac.compare_digest(given.encode("utf-8", "replace"), view.token.encode()):
                    self._plain(HTTPStatus.FORBIDDEN, "this view needs ?token=...")
                    return None
            return parts.path

        def _send(self, status, body: bytes, content_type: str, extra=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for key, value in extra:
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _plain(self, status, text: str):
            self._send(status, (text + "\n").encode(), "text/plain; charset=utf-8")

        def _safely(self, handle):
            try:
                handle()
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True
            except Exception:  # noqa: BLE001 - a bug here must not show the browser a traceback
                log.debug("web view: error answering %s", redact(self.path), exc_info=True)
                self.close_connection = True
                try:
                    self._plain(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
                except OSError:
                    pass

        # --- methods ---
        def do_GET(self):
            self._safely(self._get)

        def do_HEAD(self):
            self._safely(self._get)

        def do_POST(self):
            self._safely(self._post)

        def _not_allowed(self):
            self._send(
                HTTPStatus.METHOD_NOT_ALLOWED,
                b"method not allowed\n",
                "text/plain; charset=utf-8",
                [("Allow", "GET, HEAD, POST")],
            )

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

        def _get(self):
            path = self._route()
            if path is None:
                return
            if path in ("/", "/index.html"):
                self._send(
                    HTTPStatus.OK,
                    view.page,
                    "text/html; charset=utf-8",
                    [
                        (
                            "Content-Security-Policy",
                            "default-src 'self'; img-src 'self'; "
                            "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'",
                        )
                    ],
                )
            elif path == "/state.json":
                view.want()
                self._send(HTTPStatus.OK, json.dumps(view.state()).encode(), "application/json")
            elif path == "/info.json":
                self._send(HTTPStatus.OK, json.dumps(view.facts).encode(), "application/json")
            elif path == "/frame.jpg":
                jpeg, _ = view.next_jpeg(-1, 2.0)
                if jpeg is None:
                    self._plain(HTTPStatus.SERVICE_UNAVAILABLE, "no frame yet")
                else:
                    self._send(HTTPStatus.OK, jpeg, "image/jpeg")
            elif path == "/stream.mjpg":
                self._stream()
            elif path == "/clear":
                self._not_allowed()
            else:
                self._plain(HTTPStatus.NOT_FOUND, "not found")

        def _post(self):
            path = self._route()
            if path is None:
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= 1024:
                self.close_connection = True
                self._plain(HTTPStatus.BAD_REQUEST, "bad request")
                return
            if length:
                self.rfile.read(length)
            if path != "/clear":
                if path in _PATHS:
                    self._not_allowed()
                else:
                    self._plain(HTTPStatus.NOT_FOUND, "not found")
                return
            # a header no cross-site form can set: other pages cannot clear the text
            if self.headers.get("X-Edgesign") != "clear":
                self._plain(HTTPStatus.BAD_REQUEST, "clearing needs the header X-Edgesign: clear")
                return
            view.request_clear()
            self._send(HTTPStatus.OK, b'{"cleared": true}', "application/json")

        def _stream(self):
            if self.command == "HEAD":
                self._plain(HTTPStatus.OK, "")
                return
            refused = view.enter_viewer(self.client_address[0])
            if refused:
                self.close_connection = True
                self._plain(HTTPStatus.SERVICE_UNAVAILABLE, refused)
                return
            try:
                self.close_connection = True
                # a stream lasts as long as it is watched; each write still has send_timeout
                self.server.unwatch(self.connection)
                # a small send buffer: a slow viewer gets the newest frames, not seconds of backlog
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                seq = 0
                while not view._stop.is_set():
                    jpeg, newer = view.next_jpeg(seq, 1.0)
                    if jpeg is None:
                        continue
                    seq = newer
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                        f"{len(jpeg)}\r\n\r\n".encode()
                        + jpeg
                        + b"\r\n"
                    )
            finally:
                view.leave_viewer(self.client_address[0])

    return Handler
