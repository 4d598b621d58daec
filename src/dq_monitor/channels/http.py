"""Shared HTTP delivery for Slack, webhooks, PagerDuty and Alertmanager: one keep-alive pool
per channel, the status policy, no leaks.

Webhook URLs are secrets (Slack's token is its path). httpx names the URL in some exception
messages and logs every request URL at INFO on the ``httpx`` logger, so errors are rebuilt with
every secret string redacted, and a filter on that logger cuts URLs down to scheme and host.

Status policy (FR-010): 2xx delivered; 429 and 503 retryable after ``Retry-After`` (seconds or
an HTTP date), 429 marked rate-limited (the receiver's flow control: ``routing.retry``); other
5xx, timeouts and connection errors retryable; anything else final.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC

import httpx

from dq_monitor.errors import DeliveryError

#: Statuses whose ``Retry-After`` is honoured.
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: How much of an error response body goes into a reason (Slack answers e.g. ``invalid_token``).
BODY_CHARS = 200
REDACTED = "***"
#: Secrets are also redacted piecewise: split at these, pieces of at least ``_MIN_PIECE`` chars.
_SPLIT = re.compile(r"[\s/?&=:;,@#]+")
_MIN_PIECE = 6


def client(timeout: float, connections: int) -> httpx.AsyncClient:
    """One keep-alive pool per channel, a connection kept open for each of its
    ``connections`` deliveries under way (``max_in_flight``), so a storm reuses them instead of
    opening one per alert; ``timeout`` bounds connect, write, read and pool waits."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=connections,
                            max_keepalive_connections=connections),
        follow_redirects=False,
    )


def url_secrets(url: str) -> list[str]:
    """Every spelling of ``url``'s secret parts that could surface in a message."""
    out = [url]
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return out
    out += [str(parsed), parsed.path, parsed.raw_path.decode("ascii", "replace"),
            parsed.query.decode("ascii", "replace"), parsed.userinfo.decode("ascii", "replace")]
    return [s for s in out if s and s != "/"]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret and every telling piece of one (a path segment, a query value,
    the token after ``Bearer``) replaced, longest first so no fragment survives."""
    pieces = set()
    for secret in secrets:
        pieces.add(secret)
        pieces.update(p for p in _SPLIT.split(secret) if len(p) >= _MIN_PIECE)
    for piece in sorted(pieces - {""}, key=len, reverse=True):
        text = text.replace(piece, REDACTED)
    return text


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` in seconds: a number of seconds, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": an HTTP date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


async def post(
    channel: str,
    http: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    secrets: Sequence[str] = (),
) -> None:
    """POST ``content`` and map the outcome to success or a ``DeliveryError`` without secrets."""

    def hide(text: str) -> str:
        return redact(text, [*url_secrets(url), *secrets])

    try:
        response = await http.post(url, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise DeliveryError(channel, f"timed out ({type(exc).__name__})", retryable=True) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise DeliveryError(channel, "the configured URL is not a valid http(s) URL",
                            retryable=False) from None
    except httpx.HTTPError as exc:
        detail = hide(str(exc))[:BODY_CHARS]
        why = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        raise DeliveryError(channel, f"connection failed ({why})", retryable=True) from None
    status = response.status_code
    if 200 <= status < 300:
        return
    body = hide(" ".join(response.text[: BODY_CHARS * 2].split()))[:BODY_CHARS]
    reason = f"HTTP {status}: {body}" if body else f"HTTP {status}"
    if status in RETRY_AFTER_STATUSES:
        wait = retry_after(response.headers.get("retry-after"))
        raise DeliveryError(channel, reason, retryable=True, retry_after=wait,
                            rate_limited=status == 429)
    raise DeliveryError(channel, reason, retryable=500 <= status < 600)


class _UrlRedactingFilter(logging.Filter):
    """Rewrites httpx's ``HTTP Request: POST <url> ...`` lines to show scheme and host only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                f"{a.scheme}://{a.host}/{REDACTED}" if isinstance(a, httpx.URL) else a
                for a in record.args
            )
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _UrlRedactingFilter) for f in logger.filters):
        logger.addFilter(_UrlRedactingFilter())


_install_log_filter()
