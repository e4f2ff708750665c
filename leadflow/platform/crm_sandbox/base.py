"""The shared machinery of the CRM contract servers: the loopback HTTP server, the record store,
the request log, scripted failures and the sandbox clock."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, unquote, urlsplit

LOOPBACK = "127.0.0.1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: how long an idle keep-alive connection stays open
IDLE_TIMEOUT_S = 30


def utc_from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def ms_from_datetime(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def parse_iso_ms(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 date-time ("Z", "+00:00" and "+0000" offsets; a
    naive one is UTC). Raises ValueError."""
    return ms_from_datetime(datetime.fromisoformat(text.strip()))


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def returned_records(body: Any) -> int:
    """How many records a reply carries (HubSpot results, Salesforce records, Pipedrive data):
    what a test counts to tell a full read from an incremental one."""
    if isinstance(body, dict):
        for key in ("results", "records", "data"):
            if isinstance(body.get(key), list):
                return len(body[key])
    return 0


def _add_keys(body: Any, keys: Mapping[str, Any]) -> None:
    """Add `keys` to every record of a reply (Pipedrive's recents wrap each in `data`)."""
    if not isinstance(body, dict):
        return
    for name in ("results", "records", "data"):
        records = body.get(name)
        for record in records if isinstance(records, list) else []:
            if isinstance(record, dict):
                inner = record.get("data") if "item" in record else record
                if isinstance(inner, dict):
                    inner.update(keys)


@dataclass
class Reply:
    """One HTTP answer: `body` is sent as JSON (none when it is None)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: the encoded body, made under the sandbox's lock
    payload: bytes = b""


class Rejected(Exception):
    """Raised by a route to answer an error reply."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class Request:
    """A parsed request as the routes see it."""

    method: str
    path: str
    query: dict[str, str]
    query_lists: dict[str, list[str]]
    headers: Message
    json: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    #: headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
    #: client's delayed ACK hold each answer back ~40 ms
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the sandbox writes nothing to stderr."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        reply = self.server.contract._dispatch(method, self.path, self.headers, raw)
        payload = reply.payload
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    """Tracks its open connections, so that stopping can close idle keep-alive ones."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], contract: ContractServer) -> None:
        self.contract = contract
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent: a client that went away is no error of the sandbox."""

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class ContractServer:
    """An in-process HTTP server answering one CRM vendor's documented API contract.

    Subclasses give the vendor's record shape, routes, auth and error bodies. Every request is
    handled under one lock, which also guards the store and the logs.
    """

    vendor: ClassVar[str] = ""
    #: the clock's resolution: each write is at least this much later than the previous one
    clock_step_ms: ClassVar[int] = 1

    def __init__(
        self,
        token: str = "sandbox-token",
        *,
        page_size: int | None = None,
        host: str = LOOPBACK,
        port: int = 0,
    ) -> None:
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.token = token
        self.page_size = page_size
        self.host = host
        self.port = port
        self.requests: list[dict] = []
        self.updates: list[dict] = []
        self._lock = threading.RLock()
        self._store: dict[str, dict] = {}
        self._last_ms = 0
        self._failures: list[tuple[int, int | None]] = []
        self._redirects: list[str] = []
        self._extra_keys: dict[str, Any] = {}
        self._hold_after: int | None = None
        #: set when a request is being held (see hold_after); clear `release` to keep holding
        self.holding = threading.Event()
        self.release = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # -- lifetime ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError(f"the {self.vendor} sandbox was never started")
        return self._base_url

    def start(self) -> str:
        """Serve in a daemon thread; returns the base URL (a no-op when already serving)."""
        if self._httpd is not None:
            return self.base_url
        httpd = _Server((self.host, self.port), self)
        host, port = httpd.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server's address (bytes only for AF_UNIX)
        self._base_url = f"http://{host}:{port}"
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"crm-sandbox-{self.vendor}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        return self._base_url

    def stop(self) -> None:
        """Stop serving and close every connection; stopping a stopped server does nothing."""
        self.release.set()  # a held request must not keep the server from stopping
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._httpd = self._thread = None
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the store --------------------------------------------------------------------------

    def add(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Store vendor-shaped records; ids are assigned when missing, each record gets its
        own modified time."""
        with self._lock:
            for given in records:
                record = copy.deepcopy(dict(given))
                record_id = self._id_of(record)
                if record_id is None:
                    record_id = self._new_id()
                else:
                    self._reserve_id(record_id)
                stored = self._stamp_new(record, record_id, self._tick())
                self._store[record_id] = stored

    def update(self, record_id: str | int, **fields: Any) -> None:
        """Change fields as the CRM's own users would (not logged in `updates`); bumps the
        modified time. Raises KeyError for an unknown id."""
        with self._lock:
            stored = self._store[self._key(record_id)]
            self._apply_local(stored, fields, self._tick())

    def records(self) -> list[dict]:
        """The store, vendor-shaped, ordered by id (copies)."""
        with self._lock:
            return [copy.deepcopy(self._store[key]) for key in self._ordered_keys()]

    def record(self, record_id: str | int) -> dict:
        """One stored record (a copy). Raises KeyError for an unknown id."""
        with self._lock:
            return copy.deepcopy(self._store[self._key(record_id)])

    def fail_next(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `count` authenticated requests with `status` and the vendor's
        error body; a 429 carries Retry-After (`retry_after`, default 1)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def redirect_next(self, location: str, count: int = 1) -> None:
        """Answer the next `count` authenticated requests with a 302 to `location` (a CRM, or
        something in front of it, sending the client elsewhere)."""
        with self._lock:
            self._redirects.extend([location] * count)

    def inject_keys(self, keys: Mapping[str, Any]) -> None:
        """Every record the server answers with from now on carries these extra top-level keys
        besides its own (a hostile or heavily customised CRM account); empty: none again."""
        with self._lock:
            self._extra_keys = dict(keys)

    def hold_after(self, served: int) -> None:
        """Let `served` more requests through, then hold the next one until `release` is set
        (`holding` says when it is held): a client can be killed in the middle of a pull."""
        with self._lock:
            self._hold_after = served
            self.holding.clear()
            self.release.clear()

    def _maybe_hold(self) -> None:
        with self._lock:
            if self._hold_after is None:
                return
            if self._hold_after > 0:
                self._hold_after -= 1
                return
            self._hold_after = None
        self.holding.set()
        self.release.wait(timeout=120)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.updates.clear()

    # -- helpers for the vendors ------------------------------------------------------------

    def _tick(self) -> int:
        """The sandbox clock in epoch ms: now, but always a step later than the last write
        (so it may run ahead of real time when writes come faster than the resolution)."""
        step = self.clock_step_ms
        now = time.time_ns() // 1_000_000 // step * step
        self._last_ms = max(now, self._last_ms + step)
        return self._last_ms

    def _now_ms(self) -> int:
        """The sandbox clock's present, without a write."""
        return max(time.time_ns() // 1_000_000, self._last_ms)

    def _ordered_keys(self) -> list[str]:
        return sorted(self._store, key=self._sort_key)

    def _cap(self, limit: int) -> int:
        """A vendor's page maximum, lowered to `page_size` when one is set."""
        return limit if self.page_size is None else min(limit, self.page_size)

    def _key(self, record_id: str | int) -> str:
        return str(record_id)

    def _log_update(self, record_id: str, fields: Mapping[str, Any]) -> None:
        self.updates.append({"id": record_id, "fields": copy.deepcopy(dict(fields))})

    def _dispatch(self, method: str, target: str, headers: Message, raw: bytes) -> Reply:
        self._maybe_hold()
        split = urlsplit(target)
        path = unquote(split.path)
        query_lists = parse_qs(split.query, keep_blank_values=True)
        query = {name: values[0] for name, values in query_lists.items()}
        body: Any = None
        body_error = False
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                body_error = True
        with self._lock:
            request = Request(method, path, query, query_lists, headers, body)
            if not self._authorized(request):
                reply = self._unauthorized()
            elif self._redirects:
                reply = Reply(302, headers={"Location": self._redirects.pop(0)})
            elif self._failures:
                status, retry_after = self._failures.pop(0)
                reply = Reply(status, self._error_body(status, status_phrase(status)))
                if status == 429 or retry_after is not None:
                    reply.headers["Retry-After"] = str(1 if retry_after is None else retry_after)
            elif body_error:
                reply = self._bad_json()
            else:
                try:
                    reply = self._route(request)
                except Rejected as rejected:
                    reply = rejected.reply
                except Exception as error:  # a sandbox bug answers 500, as a server would
                    reply = Reply(500, self._error_body(500, f"sandbox error: {error!r}"))
                if self._extra_keys:
                    _add_keys(reply.body, self._extra_keys)
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "json": copy.deepcopy(body),
                    "status": reply.status,
                    "returned": returned_records(reply.body),
                    "headers": {name.lower(): value for name, value in headers.items()},
                }
            )
            if reply.body is not None:
                reply.payload = json.dumps(reply.body).encode()
            return reply

    def _bad_json(self) -> Reply:
        return Reply(400, self._error_body(400, "the request body is not valid JSON"))

    def _reject(self, status: int, message: str) -> Rejected:
        return Rejected(Reply(status, self._error_body(status, message)))

    # -- what each vendor defines -----------------------------------------------------------

    def _sort_key(self, key: str) -> Any:
        return key

    def _id_of(self, record: dict) -> str | None:
        raise NotImplementedError

    def _new_id(self) -> str:
        raise NotImplementedError

    def _reserve_id(self, record_id: str) -> None:
        """Keep generated ids clear of one given by the caller."""

    def _stamp_new(self, record: dict, record_id: str, ms: int) -> dict:
        raise NotImplementedError

    def _apply_local(self, stored: dict, fields: dict[str, Any], ms: int) -> None:
        raise NotImplementedError

    def _authorized(self, request: Request) -> bool:
        raise NotImplementedError

    def _unauthorized(self) -> Reply:
        raise NotImplementedError

    def _error_body(self, status: int, message: str) -> Any:
        raise NotImplementedError

    def _route(self, request: Request) -> Reply:
        raise NotImplementedError


def bearer_token(headers: Message) -> str | None:
    value = headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def int_param(value: Any, default: int, *, name: str, minimum: int = 0) -> int:
    """A non-negative integer parameter; ValueError names it when malformed."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number
