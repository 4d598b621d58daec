"""Waiting on something observable instead of sleeping a guessed time."""

from __future__ import annotations

from collections.abc import Callable

import anyio


async def eventually(predicate: Callable[[], object], timeout: float = 20.0,
                     interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true; False on timeout, for runs that report anyway."""
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(interval)
        return True
    return False


async def run_until(predicate: Callable[[], object], timeout: float = 20.0,
                    interval: float = 0.05, what: str = "the condition") -> None:
    """Poll ``predicate`` until it is true; ``TimeoutError`` naming ``what`` otherwise."""
    if not await eventually(predicate, timeout, interval):
        raise TimeoutError(f"{what} did not hold within {timeout:g}s")
