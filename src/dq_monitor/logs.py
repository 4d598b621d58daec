"""Log set-up: one format, and the Kafka client's repeated complaints throttled.

While a broker is down, aiokafka logs the same connection error for every reconnect attempt
(every 50 ms or so, per client): an outage would bury the one line that matters. ``Throttle``
lets each distinct message template of a logger through once per ``interval`` seconds and
says how many like it it held back, so the log stays one line per problem per interval.
"""

from __future__ import annotations

import logging
import sys

THROTTLED = ("aiokafka",)


class Throttle(logging.Filter):
    """At most one record per (logger, message template) every ``interval`` seconds, for the
    loggers under ``prefixes``; records of other loggers pass untouched."""

    def __init__(self, interval: float = 30.0, prefixes: tuple[str, ...] = THROTTLED) -> None:
        super().__init__()
        self.interval = interval
        self.prefixes = prefixes
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".", 1)[0] not in self.prefixes:
            return True
        key = (record.name, str(record.msg))
        last = self._last.get(key)
        if last is not None and record.created - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = record.created
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self.interval:g}s)"
        return True


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    throttle = Throttle()
    for handler in logging.getLogger().handlers:
        handler.addFilter(throttle)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
