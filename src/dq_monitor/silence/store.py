"""The silences an instance knows, folded from the silences topic; plain code, ``now`` passed in.

Records are keyed by silence id and the newest record of an id wins (the topic is compacted, so
that is also what survives). A record that cannot be read is reported, not fatal: one broken
silence must not stop the others from holding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from pydantic import ValidationError

from dq_monitor.events import Alert
from dq_monitor.silence.model import Silence

#: Expired silences stay listed this long (``silence list --expired``), then are forgotten.
KEEP_EXPIRED = timedelta(days=7)


class SilenceSet:
    def __init__(self) -> None:
        self._by_id: dict[str, Silence] = {}
        #: Bumped on every change: waiters compare it to see whether anything moved.
        self.version = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Silence]:
        return iter(sorted(self._by_id.values(), key=lambda s: (s.starts_at, s.id)))

    def get(self, silence_id: str) -> Silence | None:
        return self._by_id.get(silence_id)

    def put(self, silence: Silence) -> None:
        old = self._by_id.get(silence.id)
        if old is not None and old.updated_at > silence.updated_at:
            return  # an older write read after a newer one (two writers): keep the newer
        self._by_id[silence.id] = silence
        self.version += 1

    def apply(self, key: bytes | None, value: bytes | None,
              on_unreadable: Callable[[str], None]) -> None:
        """Fold one record of the silences topic (a tombstone forgets its id)."""
        if key is None:
            on_unreadable("record without a key")
            return
        if value is None:
            if self._by_id.pop(key.decode("utf-8", "replace"), None) is not None:
                self.version += 1
            return
        try:
            silence = Silence.model_validate_json(value)
        except (ValidationError, ValueError) as exc:
            on_unreadable(str(exc).splitlines()[0])
            return
        self.put(silence)

    def silencing(self, alert: Alert, now: datetime) -> list[Silence]:
        """The silences holding ``alert`` at ``now``."""
        return [s for s in self._by_id.values() if s.silences(alert, now)]

    def listing(self, now: datetime, *, expired: bool = False) -> list[Silence]:
        """Pending and active silences, and (``expired``) those ended in the last week."""
        return [s for s in self if s.state_at(now) != "expired"
                or (expired and now - s.ends_at <= KEEP_EXPIRED)]
