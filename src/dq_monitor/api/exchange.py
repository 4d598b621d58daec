"""What the operator API's handlers take and give: plain values, no HTTP library in sight.

The server adapter (``api.server``) turns a parsed HTTP request into a ``Request`` and writes a
``Response`` back; the endpoints (``api.operator``) and the write guard (``api.guard``) only see
these, so they are tested without sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    #: The server's own address and port this request reached (the connection's local end).
    local: tuple[str, int] | None = None

    def flag(self, name: str) -> bool:
        """A boolean query parameter: ``?expired`` or ``?expired=true|1``."""
        values = self.query.get(name)
        return values is not None and values[-1].lower() in ("", "1", "true", "yes")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, value: object) -> Response:
    return Response(status, orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")


def error(status: int, reason: str, *headers: tuple[str, str]) -> Response:
    """A 4xx/5xx with ``{"error": reason}`` (the shape of ``schemas/api-error.schema.json``)."""
    return Response(status, orjson.dumps({"error": reason}) + b"\n", headers=headers)
