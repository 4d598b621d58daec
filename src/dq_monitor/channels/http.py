"""Shared HTTP delivery: one pooled client, the status policy, and errors without secrets.

httpx puts the request URL in its exception messages; webhook URLs are secrets, so errors are
rebuilt from the exception type and status alone.
"""

from __future__ import annotations

import email.utils
import time

import httpx

from dq_monitor.errors import DeliveryError

#: Statuses whose ``Retry-After`` is honoured.
RETRY_AFTER_STATUSES = (429, 503)


def client(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        follow_redirects=False,
    )


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def post(channel: str, http: httpx.AsyncClient, url: str, *, content: bytes,
               headers: dict[str, str]) -> None:
    """POST and map the outcome: 2xx ok; 429/503/5xx/network retryable; other 4xx final."""
    try:
        response = await http.post(url, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise DeliveryError(channel, f"timed out ({type(exc).__name__})", retryable=True) from None
    except httpx.HTTPError as exc:
        raise DeliveryError(channel, f"connection failed ({type(exc).__name__})",
                            retryable=True) from None
    status = response.status_code
    if 200 <= status < 300:
        return
    body = response.text[:200].replace("\n", " ")
    reason = f"HTTP {status}: {body}" if body else f"HTTP {status}"
    if status in RETRY_AFTER_STATUSES:
        raise DeliveryError(channel, reason, retryable=True,
                            retry_after=retry_after(response.headers.get("retry-after")))
    raise DeliveryError(channel, reason, retryable=status >= 500)
