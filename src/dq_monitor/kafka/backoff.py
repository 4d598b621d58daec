"""The one reconnect/rewrite backoff: 0.5 s doubling to 30 s, and a stop-aware wait.

Every loop that waits out broker trouble (connecting, writing outputs, restoring state) uses
this, so they all back off alike and all end promptly when the service is asked to stop.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Protocol

import anyio

INITIAL_S = 0.5
FACTOR = 2.0
CAP_S = 30.0


@dataclass(slots=True)
class Backoff:
    """Successive delays ``initial, initial*factor, ...`` capped at ``cap``; ``reset`` after a
    success. Plain state: callers decide when to wait, so it is testable without a loop."""

    initial: float = INITIAL_S
    factor: float = FACTOR
    cap: float = CAP_S
    current: float = field(init=False)

    def __post_init__(self) -> None:
        self.current = self.initial

    def next(self) -> float:
        """The delay to wait now; the following one grows."""
        delay = self.current
        self.current = min(self.current * self.factor, self.cap)
        return delay

    def reset(self) -> None:
        self.current = self.initial


async def pause(seconds: float, stop: anyio.Event | None = None) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    if stop is None:
        await anyio.sleep(seconds)
        return
    with anyio.move_on_after(seconds):
        await stop.wait()


class _Stoppable(Protocol):
    async def stop(self) -> None: ...


async def quiet_stop(*clients: _Stoppable | None) -> None:
    """Stop each client, ignoring its errors: used while giving up or shutting down."""
    for client in clients:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.stop()
