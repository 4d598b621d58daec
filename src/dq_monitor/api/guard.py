"""NFR-008/FR-019: who may write through the operator API; plain code, no sockets.

A browser is the dangerous client: any page the operator visits can send a form-encoded or
``text/plain`` POST to ``http://127.0.0.1:9464`` (no preflight), or resolve its own name to
127.0.0.1 (DNS rebinding) and send anything with a foreign ``Host``. So a write must

- name this server in ``Host``: its bind address, ``localhost``/loopback when bound to loopback,
  or the address the connection reached, each with the port; or an entry of
  ``telemetry.allowed_hosts`` (``name`` for any port, ``name:port`` for one);
- carry no ``Origin`` but one naming such a host (browsers send it on every cross-site write);
- carry the bearer token when one is configured (else the port must be bound to loopback);
- send its body as ``application/json`` (which a page can only send after a CORS preflight
  that this server never approves); a ``DELETE`` without a body needs no type.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("", "0.0.0.0", "::")
_DEFAULT_PORT = {"http": 80, "https": 443}
_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="dq-monitor"')


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _name(host: str) -> str:
    """A host name or address in one spelling: lower case, no brackets, no trailing dot."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def split_host(value: str) -> tuple[str, int | None] | None:
    """``name``, ``name:port``, ``[v6]`` or ``[v6]:port`` → (name, port); None if malformed."""
    value = value.strip()
    if not value or any(c in value for c in "/@?#\\ \t"):
        return None
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_or_empty = value.rpartition(":")
        if not sep:
            host, port_text = value, None
        elif ":" in host:  # a bare IPv6 address is not a valid Host
            return None
        else:
            port_text = port_text_or_empty
    if not host:
        return None
    port: int | None = None
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
            return None
        port = int(port_text)
    return _name(host), port


class WriteGuard:
    """Decides whether one write request is allowed; ``check`` returns why not, or None."""

    def __init__(self, *, token: str | None, bind_host: str, port: int,
                 allowed_hosts: Iterable[str] = ()) -> None:
        self._token = None if token is None else token.encode()
        self._open_without_token = is_loopback(bind_host)
        self.port = port
        own = [] if _name(bind_host) in WILDCARDS else [_name(bind_host)]
        if self._open_without_token:
            own += LOOPBACK_NAMES
        self._own = {(h, port) for h in own}
        self._listed: set[tuple[str, int | None]] = set()
        for entry in allowed_hosts:
            parsed = split_host(entry)
            if parsed is not None:
                self._listed.add(parsed)

    def host_allowed(self, host: str, port: int, local: tuple[str, int] | None) -> bool:
        if (host, port) in self._own or (host, None) in self._listed or \
                (host, port) in self._listed:
            return True
        return local is not None and (_name(local[0]), local[1]) == (host, port)

    def check(self, method: str, headers: Mapping[str, str],
              local: tuple[str, int] | None = None) -> Refusal | None:
        """``headers`` with lower-case names; ``local`` is the address the connection reached."""
        host_header = headers.get("host", "")
        parsed = split_host(host_header)
        if parsed is None or not self.host_allowed(parsed[0], parsed[1] or 80, local):
            return Refusal(403, f"Host {host_header[:100]!r} does not name this server: writes "
                                "must be addressed to its own address (or a name listed in "
                                "telemetry.allowed_hosts)")
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, local):
            return Refusal(403, f"cross-site write refused: Origin {origin[:100]!r} is not this "
                                "server (or a name listed in telemetry.allowed_hosts)")
        if self._token is None:
            if not self._open_without_token:
                return Refusal(403, "writes are disabled: the API is not bound to loopback and "
                                    "telemetry.api_token is not set")
        else:
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                     self._token):
                return Refusal(401, "a valid bearer token is required (Authorization: "
                                    "Bearer ...)", (_CHALLENGE,))
        return self._content_type(method, headers)

    def _origin_allowed(self, origin: str, local: tuple[str, int] | None) -> bool:
        url = urlsplit(origin.strip())
        default = _DEFAULT_PORT.get(url.scheme)
        if default is None or url.path or url.query or url.fragment or url.username:
            return False
        parsed = split_host(url.netloc)
        return parsed is not None and self.host_allowed(parsed[0], parsed[1] or default, local)

    @staticmethod
    def _content_type(method: str, headers: Mapping[str, str]) -> Refusal | None:
        given = headers.get("content-type")
        if given is None and method == "DELETE" and headers.get("content-length", "0") == "0":
            return None
        media, *params = (given or "").split(";")
        charsets = [p.partition("=")[2].strip().strip('"').lower() for p in params
                    if p.partition("=")[0].strip().lower() == "charset"]
        if media.strip().lower() != "application/json" or any(c != "utf-8" for c in charsets):
            return Refusal(415, f"send the body as Content-Type: application/json (got "
                                f"{(given or 'none')[:100]!r})")
        return None
