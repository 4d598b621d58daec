"""Equal values built once and shared (NFR-005): a fleet of series holds one object per
distinct value, not one each. Bounded: past ``limit`` the table starts afresh, which costs
later holders an object of their own, never a wrong value."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Shared(Generic[K, V]):
    """``shared(key)``: ``make(key)``, built once per key while the table holds it."""

    __slots__ = ("_limit", "_made", "_make")

    def __init__(self, make: Callable[[K], V], limit: int = 4096) -> None:
        self._make = make
        self._limit = limit
        self._made: dict[K, V] = {}

    def __call__(self, key: K) -> V:
        made = self._made
        value = made.get(key)
        if value is None:
            value = self._make(key)  # may raise: nothing is kept then
            if len(made) >= self._limit:
                made.clear()  # the holders keep theirs; later ones share anew
            made[key] = value
        return value


__all__ = ["Shared"]
