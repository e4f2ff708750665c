"""Which secret a CRM connection may read and where its requests may go: pure rules.

A `crm_connections` row is tenant data: it never picks a secret, a host or a URL by itself.

- **Secrets**: a connection names the environment variable of its token. The name must look like
  a CRM token of the connection's vendor (`HUBSPOT_…`; `SALESFORCE_…` or `SF_…`; `PIPEDRIVE_…`) or
  `LEADFLOW_CRM_…`, and never be one of leadflow's own settings; so no row can make a sync read
  POSTGRES_URL or NEO4J_PASSWORD. One variable belongs to one connection in the whole database
  (a unique index, and a check when the token is read: connections.py).
- **Hosts**: a base URL is https on the vendor's own API hosts (HubSpot `api.hubapi.com`,
  Salesforce `*.my.salesforce.com` / `*.salesforce.com`, Pipedrive `*.pipedrive.com`), on the
  default port, without userinfo, query or fragment. Other hosts (the local contract servers of
  the demo and the tests, a proxy) only when the deployment lists them in
  LEADFLOW_CRM_ALLOWED_HOSTS (`host` or `host:port`, comma-separated); they may use http. Every
  request of a sync then goes to the base URL's origin (scheme, host, port) only, and an address
  a vendor host resolves to must be public (not loopback, private, link-local, …) unless the host
  is listed: http.py enforces both on each request and connection.
- **Options that reach URLs**: `api_version` is `vNN.N`; `page_size` a positive integer; the
  push field names plain identifiers.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from leadflow.crmsync.errors import CrmPolicyError
from leadflow.settings import CRM_SETTINGS, Settings

ALLOWED_HOSTS_VARIABLE = "LEADFLOW_CRM_ALLOWED_HOSTS"

#: each vendor's API hosts: an exact name, or "*.suffix" for any host name below the suffix
VENDOR_HOSTS: dict[str, tuple[str, ...]] = {
    "hubspot": ("api.hubapi.com",),
    "salesforce": ("*.my.salesforce.com", "*.salesforce.com"),
    "pipedrive": ("*.pipedrive.com",),
}
#: how each vendor's token variables begin (besides GENERIC_SECRET_PREFIX)
SECRET_PREFIXES: dict[str, tuple[str, ...]] = {
    "hubspot": ("HUBSPOT_",),
    "salesforce": ("SALESFORCE_", "SF_"),
    "pipedrive": ("PIPEDRIVE_",),
}
GENERIC_SECRET_PREFIX = "LEADFLOW_CRM_"
DEFAULT_PORTS = {"http": 80, "https": 443}

_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]{0,99}$")
_API_VERSION = re.compile(r"^v\d+\.\d$")
_FIELD = re.compile(r"^[A-Za-z0-9_]{1,100}$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_PAGE_SIZE = 10_000


# -- secrets -----------------------------------------------------------------------------------
def secret_env_problem(vendor: str, name: str) -> str | None:
    """Why `name` cannot hold the token of a `vendor` connection (None: it can)."""
    if not isinstance(name, str) or not _VARIABLE.match(name):
        return (
            "it must be an environment variable NAME such as HUBSPOT_TOKEN_ACME (capitals,"
            " digits, _); the token itself is never stored"
        )
    if name in CRM_SETTINGS:
        return "it is one of leadflow's own settings"
    prefixes = (*SECRET_PREFIXES.get(vendor, ()), GENERIC_SECRET_PREFIX)
    if not any(name.startswith(prefix) and len(name) > len(prefix) for prefix in prefixes):
        named = " or ".join(f"{prefix}…" for prefix in prefixes)
        return (
            f"the token variable of a {vendor} connection is named {named}; a sync never reads"
            " other variables (they hold the deployment's own secrets)"
        )
    return None


def check_secret_env(vendor: str, name: str) -> None:
    problem = secret_env_problem(vendor, name)
    if problem:
        raise CrmPolicyError(f"secret variable {name!r} refused: {problem}")


# -- hosts ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Origin:
    """Where a connection's requests go: scheme, host (lower case) and port."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class AllowedHosts:
    """The hosts of LEADFLOW_CRM_ALLOWED_HOSTS: (host, port), port None for any."""

    entries: frozenset[tuple[str, int | None]] = frozenset()

    def allows(self, host: str, port: int) -> bool:
        host = host.lower()
        return (host, port) in self.entries or (host, None) in self.entries

    def __str__(self) -> str:
        return ",".join(sorted(h if p is None else f"{h}:{p}" for h, p in self.entries))


def parse_allowed_hosts(value: str | None) -> AllowedHosts:
    """`host` or `host:port` entries (IPv6 in brackets), comma-separated; a malformed one is an
    error naming the variable."""
    entries: set[tuple[str, int | None]] = set()
    for raw in (value or "").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            parsed = urlsplit(f"//{entry}")
            host, port = parsed.hostname, parsed.port
        except ValueError:
            host = port = None
        if not host or parsed.path or parsed.query or parsed.fragment or "@" in entry:
            raise CrmPolicyError(
                f"{ALLOWED_HOSTS_VARIABLE}: {raw.strip()!r} is not a host or host:port"
            )
        entries.add((host, port))
    return AllowedHosts(frozenset(entries))


def allowed_hosts(environ: Mapping[str, str] | None = None) -> AllowedHosts:
    return parse_allowed_hosts(Settings(environ).crm_allowed_hosts)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_public_address(address: str) -> bool:
    """Whether a resolved address is on the public internet: not loopback, private, link-local
    (the cloud metadata service), shared, reserved, multicast or unspecified."""
    ip = _ip(address)
    return ip is not None and ip.is_global and not ip.is_multicast


def vendor_host(vendor: str, host: str) -> bool:
    """Whether `host` (lower case) is one of the vendor's API hosts."""
    for pattern in VENDOR_HOSTS.get(vendor, ()):
        if not pattern.startswith("*."):
            if host == pattern:
                return True
            continue
        suffix = pattern[1:]
        labels = host.removesuffix(suffix).split(".") if host.endswith(suffix) else []
        if labels and all(_LABEL.match(label) for label in labels):
            return True
    return False


def _url_problem(url: str) -> str | None:
    if not isinstance(url, str) or not url:
        return "it is empty"
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        return "it holds whitespace, control characters or a backslash"
    return None


def check_base_url(vendor: str, url: str, allowed: AllowedHosts) -> Origin:
    """The origin of a connection's base URL, or CrmPolicyError saying why it is refused."""

    def refuse(reason: str) -> CrmPolicyError:
        return CrmPolicyError(f"base URL {url!r} refused: {reason}")

    problem = _url_problem(url)
    if problem:
        raise refuse(problem)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not url.lower().startswith(f"{scheme}://"):
        raise refuse("it must start with https:// (or http:// for a listed local server)")
    if "@" in parts.netloc:
        raise refuse("userinfo (user:password@) is never sent in a URL")
    if "#" in url:
        raise refuse("a fragment (#…) has no place in an API base URL")
    if "?" in url:
        raise refuse("a query string (?…) has no place in an API base URL")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise refuse("its port is not a number between 0 and 65535") from None
    if not host or not (_ip(host) or re.fullmatch(r"[a-z0-9.-]+", host)) or host.endswith("."):
        raise refuse("it names no valid host")
    port = port or DEFAULT_PORTS[scheme]
    origin = Origin(scheme, host, port)
    if allowed.allows(host, port):
        return origin
    listed = f"list other servers (e.g. local contract servers) in {ALLOWED_HOSTS_VARIABLE}"
    if _ip(host) is not None:
        kind = "a public" if is_public_address(host) else "a loopback, private or link-local"
        raise refuse(f"{host} is {kind} IP address, not a {vendor} API host; {listed}")
    if not vendor_host(vendor, host):
        hosts = ", ".join(VENDOR_HOSTS.get(vendor, ()))
        raise refuse(f"{host} is not a {vendor} API host ({hosts}); {listed}")
    if scheme != "https":
        raise refuse(f"plain http to {host}: tokens travel over https only")
    if port != DEFAULT_PORTS["https"]:
        raise refuse(f"port {port}: the {vendor} API answers on 443")
    return origin


def check_request_url(origin: Origin, url: str) -> None:
    """Refuse a request of a connection whose URL leaves the connection's origin (a pagination
    link, a redirect, a path an option or a payload made up)."""
    problem = _url_problem(url)
    parts = urlsplit(url) if problem is None else None
    try:
        target = (parts.scheme.lower(), parts.hostname or "", parts.port) if parts else None
    except ValueError:
        target = None
    if target is not None and parts is not None:
        scheme, host, port = target
        port = port or DEFAULT_PORTS.get(scheme)
        if (scheme, host, port) == (origin.scheme, origin.host, origin.port) and (
            "@" not in parts.netloc
        ):
            return
    shown = url if len(url) < 200 else url[:200] + "…"
    raise CrmPolicyError(
        f"refused a request to {shown.split('?')[0]}: a connection's requests go to its API"
        f" ({origin}) only"
    )


Resolver = Callable[[str, int], Iterable[str]]


def getaddrinfo_addresses(host: str, port: int) -> list[str]:
    # the address is a str for AF_INET / AF_INET6 (an int only for families not asked here)
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def public_addresses(
    host: str, port: int, allowed: AllowedHosts, resolve: Resolver | None = None
) -> list[str]:
    """The addresses to connect to for `host`: every one must be public unless the host is
    listed (a vendor name pointed at an internal address is refused, however it got there)."""
    addresses = list(dict.fromkeys((resolve or getaddrinfo_addresses)(host, port)))
    if allowed.allows(host, port):
        return addresses
    inside = [address for address in addresses if not is_public_address(address)]
    if inside or not addresses:
        raise CrmPolicyError(
            f"refused to connect to {host}: it resolves to {', '.join(inside) or 'nothing'},"
            f" not a public address; list it in {ALLOWED_HOSTS_VARIABLE} if it is yours"
        )
    return addresses


# -- options ---------------------------------------------------------------------------------------
def check_options(options: Mapping[str, Any]) -> None:
    """The options that reach URLs or request bodies have the shapes the vendors use."""
    version = options.get("api_version")
    if version is not None and not (isinstance(version, str) and _API_VERSION.match(version)):
        raise CrmPolicyError(f"option api_version {version!r} refused: a version like v60.0")
    size = options.get("page_size")
    if isinstance(size, str) and size.isdigit():
        size = int(size)
    if size is not None and not (
        isinstance(size, int) and not isinstance(size, bool) and 0 < size <= MAX_PAGE_SIZE
    ):
        raise CrmPolicyError(f"option page_size {size!r} refused: a number from 1 to 10000")
    for key in ("status_field", "score_field", "dnc_field"):
        value = options.get(key)
        if value is not None and not (isinstance(value, str) and _FIELD.match(value)):
            raise CrmPolicyError(
                f"option {key} {value!r} refused: a field name (letters, digits, _)"
            )
    owners = options.get("owners")
    if owners is not None and not isinstance(owners, Mapping):
        raise CrmPolicyError("option owners refused: a JSON object of owner id -> user id")
    notes = options.get("notes_property")
    if notes is not None and not (
        isinstance(notes, str) and _FIELD.match(notes) and len(notes) <= 64
    ):
        raise CrmPolicyError(
            f"option notes_property {notes!r} refused: a property name (letters, digits, _)"
        )
    keep = options.get("keep_properties")
    names = keep.split(",") if isinstance(keep, str) else keep
    if keep is not None and not (
        isinstance(names, list)
        and len(names) <= 50
        and all(
            isinstance(n, str) and _FIELD.match(n.strip()) and len(n.strip()) <= 64 for n in names
        )
    ):
        raise CrmPolicyError(
            "option keep_properties refused: at most 50 property names (letters, digits, _;"
            " at most 64 characters), as a list or separated by commas"
        )
