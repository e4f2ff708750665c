"""The HTTP session of one CRM connection: its token goes to the connection's API and nowhere else.

`connection_session` gives dlt's REST client (the pull) and the push the same session:
- every request's URL (the configured pages, a pagination link such as Salesforce's
  nextRecordsUrl, each hop of a redirect) must be on the connection's origin (scheme, host, port),
  else it is refused before anything is sent;
- the token is added as a header (`Authorization: Bearer …`, Pipedrive's `x-api-token`) by the
  session itself, after that check, so no URL ever carries it;
- each new TCP connection resolves the host and connects to a checked address: a host that is
  not listed in LEADFLOW_CRM_ALLOWED_HOSTS must resolve to public addresses only (no loopback,
  private, link-local such as 169.254.169.254), and the socket goes to the very address checked,
  so a DNS answer changing in between (rebinding) cannot slip past;
- dlt's retries as everywhere (429 waits for Retry-After, 5xx and connection errors back off),
  read from RUNTIME__REQUEST_* like dlt's own client.

A request through a proxy (HTTPS_PROXY) connects to the proxy, which the deployment chose: the
URL checks above still hold, the address check is the proxy's to make.
"""

from __future__ import annotations

import socket
from typing import Any

from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.sources.helpers.requests.retry import Client, _make_retry
from dlt.sources.helpers.requests.session import Session
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from leadflow.crmsync.policy import (
    AllowedHosts,
    Origin,
    check_request_url,
    public_addresses,
)
from leadflow.redaction import register_secret


class _CheckedConnectionMixin:
    """Connects to an address `public_addresses` accepted (never a second lookup)."""

    allowed: AllowedHosts = AllowedHosts()
    host: str
    port: int
    _dns_host: str

    def _new_conn(self) -> Any:
        try:
            addresses = public_addresses(self.host, self.port, self.allowed)
        except socket.gaierror as exc:
            # urllib3 types the connection as HTTPConnection; the mixin is only ever one
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        named, last = self._dns_host, None
        try:
            for address in addresses:
                self._dns_host = address
                try:
                    # the mixin's super() is HTTP(S)Connection, which mypy cannot see
                    return super()._new_conn()  # type: ignore[misc]
                except (NewConnectionError, ConnectTimeoutError) as exc:
                    last = exc
            if last is None:  # public_addresses never returns an empty list; say so if it did
                raise NewConnectionError(self, f"no address to connect to for {self.host}")  # type: ignore[arg-type]
            raise last
        finally:
            self._dns_host = named


def _checked_pools(allowed: AllowedHosts) -> dict[str, type[HTTPConnectionPool]]:
    attrs = {"allowed": allowed}
    http = type("CheckedHTTPConnection", (_CheckedConnectionMixin, HTTPConnection), attrs)
    https = type("CheckedHTTPSConnection", (_CheckedConnectionMixin, HTTPSConnection), attrs)
    return {
        "http": type("CheckedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type(
            "CheckedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}
        ),
    }


class CheckedAdapter(HTTPAdapter):
    """An adapter whose connections go to checked addresses only (see _CheckedConnectionMixin)."""

    __attrs__ = [*HTTPAdapter.__attrs__, "allowed"]

    def __init__(self, allowed: AllowedHosts, **kwargs: Any) -> None:
        self.allowed = allowed
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _checked_pools(self.allowed)


class ConnectionSession(Session):
    """A dlt session bound to one origin, adding the connection's token header itself."""

    def __init__(self, origin: Origin, auth_header: tuple[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.origin = origin
        self._auth_header = auth_header

    def send(self, request: Any, **kwargs: Any) -> Any:
        check_request_url(self.origin, request.url)
        name, value = self._auth_header
        request.headers[name] = value
        return super().send(request, **kwargs)


class _ConnectionClient(Client):
    """dlt's retrying client, making ConnectionSessions on checked adapters."""

    def __init__(
        self, origin: Origin, auth_header: tuple[str, str], allowed: AllowedHosts, **kwargs: Any
    ) -> None:
        self._origin, self._auth, self._allowed = origin, auth_header, allowed
        super().__init__(**kwargs)

    def _make_session(self) -> Session:
        session = ConnectionSession(self._origin, self._auth, **self._session_kwargs)
        adapter = CheckedAdapter(self._allowed)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        retry = _make_retry(**self._retry_kwargs)
        # tenacity wraps the bound method: the session retries every request it sends
        session.send = retry.wraps(session.send)  # type: ignore[method-assign]
        return session


def auth_header(vendor: str, token: str) -> tuple[str, str]:
    """The header a vendor takes its token in: Pipedrive's x-api-token, else a bearer token."""
    return ("x-api-token", token) if vendor == "pipedrive" else ("Authorization", f"Bearer {token}")


def connection_session(
    vendor: str, origin: Origin, token: str, allowed: AllowedHosts
) -> ConnectionSession:
    """The session of one connection's pull or push (errors answered, never raised: callers
    read the status; RUNTIME__REQUEST_* set timeout and retries)."""
    register_secret(token)
    client = _ConnectionClient(origin, auth_header(vendor, token), allowed, raise_for_status=False)
    client.update_from_config(resolve_configuration(RuntimeConfiguration()))
    session = client.session
    assert isinstance(session, ConnectionSession)  # what _ConnectionClient._make_session makes
    return session
