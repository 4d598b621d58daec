"""The cyclic garbage collector's settings for a long-running dq-monitor process (NFR-003).

Each fetched batch brings up to a thousand records, each a tracked object that lives until the
batch is judged; with CPython's default young-generation threshold (700) that alone starts a
collection every few hundred records, and the older generations then scan every object alive
since start-up (modules, models, config) again and again. ``tuned_collector`` moves what exists
at start-up out of the collector's view (``gc.freeze``) and collects the young generation every
``young`` net allocations instead. Memory is still reclaimed: nearly everything per event is
freed by reference counting, and cycles are still collected, only in larger rounds. Measured by
``benchmarks/bench_service.py``: about a tenth less CPU per event.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Net allocations of tracked objects between young-generation collections (CPython: 700).
YOUNG_THRESHOLD = 10_000


@contextmanager
def tuned_collector(young: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Collector settings for the service's lifetime; the previous ones are restored on exit."""
    before = gc.get_threshold()
    # Only the young generations: start-up's garbage that is not promoted yet. A full
    # collection would walk everything alive (at 10,000 configured sources about 0.2 s of
    # start-up, NFR-001) to find next to nothing; a cycle that did reach the old generation
    # stays frozen, a one-time few bytes.
    gc.collect(1)
    gc.freeze()
    gc.set_threshold(young, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


@contextmanager
def paused_collector() -> Iterator[None]:
    """No cyclic collection inside (NFR-001): a restore builds a few tracked objects per
    series, hundreds of thousands that all stay alive, and every collection of the older
    generations would scan them all again while they are being built. Cycles made meanwhile are
    collected after. Re-entrant: only the outermost pause enables the collector again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the system (NFR-005); False where it cannot.

    A large checkpoint encodes and holds a state record per changed series until the broker
    acknowledges it, all at once; freed, those megabytes stay in the C heap between live
    blocks, and the process's resident size keeps the high-water mark of every burst. glibc's
    ``malloc_trim`` returns every whole free page, wherever it is, in milliseconds.
    """
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
