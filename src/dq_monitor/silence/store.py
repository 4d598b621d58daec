"""The silences an instance knows, folded from the silences topic; plain code, ``now`` passed in.

Records are keyed by silence id and the topic's order decides (NFR-008): of the records of one
id, the one at the highest offset is current, whoever wrote it and whatever their clocks said.
Every instance folds the same records in the same order, so all agree; compaction keeps that same
record. An instance's own acknowledged write is applied at once with its offset, and a record the
tail already went past (or an older one read after it) never replaces a newer one.

Seven days after a silence ended, whichever instance notices writes its tombstone
(``due_tombstones``); folding the tombstone forgets it, so memory and the scan per delivery stay
bounded. Several instances writing the same tombstone is harmless. A record that cannot be read is
reported, not fatal: one broken silence must not stop the others from holding (NFR-006).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from pydantic import ValidationError

from dq_monitor.events import Alert
from dq_monitor.silence.model import Silence

#: Expired silences stay listed this long (``silence list --expired``), then are tombstoned.
KEEP_EXPIRED = timedelta(days=7)

#: Where a record sits in the silences topic: (partition, offset).
Position = tuple[int, int]


class SilenceSet:
    def __init__(self) -> None:
        self._by_id: dict[str, Silence] = {}
        #: The position of the record each held silence came from (absent: put without one).
        self._at: dict[str, Position] = {}
        #: Per partition, the offset after the last record folded in topic order.
        self._read: dict[int, int] = {}
        #: Bumped on every change: waiters compare it to see whether anything moved.
        self.version = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Silence]:
        return iter(sorted(self._by_id.values(), key=lambda s: (s.starts_at, s.id)))

    def get(self, silence_id: str) -> Silence | None:
        return self._by_id.get(silence_id)

    def apply(self, key: bytes | None, value: bytes | None,
              on_unreadable: Callable[[str], None], at: Position | None = None) -> None:
        """Fold the record at ``at``, read in topic order (a tombstone forgets its id)."""
        if at is not None:
            partition, offset = at
            self._read[partition] = max(self._read.get(partition, 0), offset + 1)
        if key is None:
            on_unreadable("record without a key")
            return
        silence_id = key.decode("utf-8", "replace")
        if value is None:
            self._forget(silence_id, at)
            return
        try:
            silence = Silence.model_validate_json(value)
        except (ValidationError, ValueError) as exc:
            on_unreadable(str(exc).splitlines()[0])
            return
        if silence.id != silence_id:
            on_unreadable(f"key {silence_id[:64]!r} is not the silence's id {silence.id!r}")
            return
        self._hold(silence, at)

    def put(self, silence: Silence, at: Position | None = None) -> None:
        """Hold ``silence``: this instance's own write, acknowledged at ``at`` (without ``at``:
        held as given, as a seed). A write the tail already went past changes nothing: the set
        holds it or what came after it."""
        if at is None or not self._passed(at):
            self._hold(silence, at)

    def forget(self, silence_id: str, at: Position | None = None) -> None:
        """This instance's own tombstone for ``silence_id``, acknowledged at ``at``."""
        if at is None or not self._passed(at):
            self._forget(silence_id, at)

    def _passed(self, at: Position) -> bool:
        return at[1] < self._read.get(at[0], 0)

    def _older(self, silence_id: str, at: Position | None) -> bool:
        """Whether a record at ``at`` is older than the one the held silence came from."""
        held = self._at.get(silence_id)
        return at is not None and held is not None and held[0] == at[0] and at[1] < held[1]

    def _hold(self, silence: Silence, at: Position | None) -> None:
        if self._older(silence.id, at):
            return
        self._by_id[silence.id] = silence
        if at is None:
            self._at.pop(silence.id, None)
        else:
            self._at[silence.id] = at
        self.version += 1

    def _forget(self, silence_id: str, at: Position | None) -> None:
        if self._older(silence_id, at):
            return
        self._at.pop(silence_id, None)
        if self._by_id.pop(silence_id, None) is not None:
            self.version += 1

    def silencing(self, alert: Alert, now: datetime) -> list[Silence]:
        """The silences holding ``alert`` at ``now``."""
        return [s for s in self._by_id.values() if s.silences(alert, now)]

    def listing(self, now: datetime, *, expired: bool = False) -> list[Silence]:
        """Pending and active silences, and (``expired``) those ended in the last week."""
        return [s for s in self if s.state_at(now) != "expired"
                or (expired and now - s.ended_at <= KEEP_EXPIRED)]

    def due_tombstones(self, now: datetime) -> list[str]:
        """Ids of the silences that ended more than ``KEEP_EXPIRED`` before ``now``: their
        tombstones are due."""
        return sorted(s.id for s in self._by_id.values() if now - s.ended_at > KEEP_EXPIRED)
