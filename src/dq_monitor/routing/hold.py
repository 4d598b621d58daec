"""Held deliveries (FR-018, NFR-008) as plain code: what is held, its delivery-log records, and
what is decided when nothing holds it any more.

A delivery is held while something holds it: a silence, a mute window or (FR-027) an inhibiting
alert (``HoldReason``). Nothing held pins a consumer offset: every change of a hold is a
record on the router's compacted delivery log, written before the alert's offset is committed,
so after a restart, or on the partition's next owner (FR-021), the holds come back with the rest
of the delivery state and are decided as they would have been. A silence may outlast the alert
topic's retention; the delivery log keeps the hold for as long as it holds.

Bounded: one hold per (fingerprint, channel), keeping only what the release rules read — the
last held alert, and whether a firing alert was held since the hold began:

* the last held alert is firing: it is delivered then, once;
* a recovery held after a firing that was itself held: neither is sent (the incident began and
  ended while held);
* a recovery held after a firing delivered before the hold (a reminder of it held meanwhile
  included): the recovery is sent.

A hold that is dropped on release is tombstoned at once. One that is sent stays on the log until
its delivery ended (``settled``): a crash in between releases it again (at least once; the dedup
entry of the first delivery makes the copy a duplicate), and a settled hold is tombstoned, so it
is never released twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import orjson
from pydantic import ValidationError

from dq_monitor.events import Alert

SEP = "\x1f"  # cannot occur in a fingerprint or a channel name
#: A compacted-topic record: key, value (``None`` is a tombstone that deletes the key).
Record = tuple[bytes, bytes | None]
#: FR-018: per route that chose a channel, the names of its mute windows.
Mutes = tuple[tuple[str, ...], ...]
#: Key prefix of a hold on the delivery log; a dedup key starts with a fingerprint and a
#: severity, so it never starts like this.
PREFIX = f"{SEP}held{SEP}"
#: (fingerprint, channel)
HoldKey = tuple[str, str]


class HoldReason(StrEnum):
    """Why a delivery was held (the first reason that held it, kept while it stays held)."""

    SILENCE = "silence"
    MUTE = "mute"
    #: FR-027: a firing alert inhibits it (a rule of ``routing.inhibit``, or lineage).
    INHIBIT = "inhibited"


@dataclass(frozen=True, slots=True)
class Held:
    """The held state of one (fingerprint, channel): the last held delivery and its history."""

    alert: Alert
    channel: str
    reason: HoldReason
    #: When the hold began (wall-clock epoch seconds).
    since: float
    #: A firing alert was held since the hold began (a reminder does not count: its alert was
    #: delivered before the hold).
    firing_held: bool = False
    #: The mute-window lists of the routes that chose the channel for the last held delivery.
    mutes: Mutes = ()
    #: The last held delivery was a reminder.
    repeat: bool = False
    #: When the monitor detected the last held alert (for the alert-latency histogram).
    triggered_at: float | None = None

    @property
    def key(self) -> HoldKey:
        return self.alert.fingerprint, self.channel

    def sends(self) -> bool:
        """The release rules (module docstring): whether releasing delivers ``alert``."""
        return self.alert.status == "firing" or not self.firing_held


def encode_key(key: HoldKey) -> bytes:
    return f"{PREFIX}{key[0]}{SEP}{key[1]}".encode()


def is_hold_key(raw_key: bytes) -> bool:
    return raw_key.startswith(PREFIX.encode())


def encode(key: HoldKey, held: Held | None) -> Record:
    """The compacted-topic record of ``key``; ``None`` gives a tombstone."""
    if held is None:
        return encode_key(key), None
    value: dict[str, Any] = {
        "reason": held.reason.value, "since": held.since, "firing_held": held.firing_held,
        "alert": held.alert.model_dump(mode="json"), "mutes": [list(m) for m in held.mutes],
        "repeat": held.repeat, "triggered_at": held.triggered_at,
    }
    return encode_key(key), orjson.dumps(value)


def decode(raw_key: bytes, raw_value: bytes | None) -> tuple[HoldKey, Held | None]:
    """Inverse of ``encode``; raises ``ValueError`` for a record it cannot read."""
    try:
        fp, channel = raw_key.decode().removeprefix(PREFIX).split(SEP)
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"bad hold key {raw_key[:200]!r}") from None
    key = fp, channel
    if raw_value is None:
        return key, None
    try:
        value = orjson.loads(raw_value)
        alert = Alert.model_validate(value["alert"])
        mutes = tuple(tuple(_str(n) for n in names) for names in value.get("mutes", ()))
        triggered = value.get("triggered_at")
        held = Held(
            alert=alert, channel=channel, reason=HoldReason(value["reason"]),
            since=float(value["since"]), firing_held=_bool(value.get("firing_held", False)),
            mutes=mutes, repeat=_bool(value.get("repeat", False)),
            triggered_at=None if triggered is None else float(triggered),
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError,
            ValidationError) as exc:
        raise ValueError(f"bad hold value for {key}: {type(exc).__name__}") from None
    if alert.fingerprint != fp:
        raise ValueError(f"bad hold value for {key}: the alert has fingerprint "
                         f"{alert.fingerprint!r}")
    return key, held


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a mute window name must be a string")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("a flag must be true or false")
    return value


@dataclass(frozen=True, slots=True)
class Released:
    """What a release decided: holds to deliver now, holds dropped, and records to persist."""

    send: list[Held] = field(default_factory=list)
    dropped: list[Held] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)


class Holds:
    """The held deliveries of one alert partition (see the module docstring)."""

    def __init__(self) -> None:
        self._held: dict[HoldKey, Held] = {}
        self._by_fp: dict[str, set[str]] = {}
        #: Released to be sent, delivery not ended yet: still on the log, no longer held.
        self._releasing: set[HoldKey] = set()

    def __len__(self) -> int:
        return len(self._held)

    def get(self, fingerprint: str, channel: str) -> Held | None:
        return self._held.get((fingerprint, channel))

    def holds(self, alert: Alert, channel: str) -> bool:
        """Something of ``alert``'s fingerprint is held on ``channel``: what follows waits too."""
        return (alert.fingerprint, channel) in self._held

    def knows(self, fingerprint: str) -> bool:
        return fingerprint in self._by_fp

    def firing_channels(self, fingerprint: str) -> set[str]:
        """Channels holding a firing alert of ``fingerprint``: its recovery must reach them."""
        return {ch for ch in self._by_fp.get(fingerprint, ())
                if (h := self._held[fingerprint, ch]).firing_held
                or h.alert.status == "firing"}

    # ------------------------------------------------------------------ changes

    def hold(self, alert: Alert, channel: str, now: float, reason: HoldReason | None = None,
             *, mutes: Mutes = (), repeat: bool = False, triggered_at: float | None = None,
             ) -> list[Record]:
        """Hold ``alert`` on ``channel`` at ``now``; returns the records to persist.

        ``reason`` says what holds it; ``None`` when it is held only because the same
        fingerprint is already held on the channel (it queues behind, keeping that reason).
        """
        key = alert.fingerprint, channel
        prior = self._held.get(key)
        news = alert.status == "firing" and not repeat
        if prior is None:
            if reason is None:
                raise ValueError(f"a new hold of {key} needs a reason")
            held = Held(alert, channel, reason, float(now), news, mutes, repeat, triggered_at)
        else:
            held = replace(prior, alert=alert, mutes=mutes, repeat=repeat,
                           triggered_at=triggered_at, firing_held=prior.firing_held or news)
        self._put(key, held)
        self._releasing.discard(key)
        return [encode(key, held)]

    def release(self, still_held: Callable[[Held], bool]) -> Released:
        """Decide every hold that ``still_held`` no longer holds, by the release rules."""
        out = Released()
        for key, held in list(self._held.items()):
            if still_held(held):
                continue
            self._put(key, None)
            if held.sends():
                self._releasing.add(key)  # tombstoned once its delivery ended
                out.send.append(held)
            else:
                out.dropped.append(held)
                out.records.append(encode(key, None))
        return out

    def unrelease(self, held: Held) -> None:
        """A release decided to send ``held`` but its channel's queue is full: it is held
        again as it was (its record never left the log) and released at a later check, unless
        the fingerprint was held on the channel again meanwhile."""
        if held.key in self._releasing and held.key not in self._held:
            self._releasing.discard(held.key)
            self._put(held.key, held)

    def settled(self, fingerprint: str, channel: str) -> list[Record]:
        """The delivery of a released hold ended (sent, skipped or dead-lettered): its
        tombstone, unless the fingerprint was held on the channel again meanwhile."""
        key = fingerprint, channel
        if key not in self._releasing:
            return []
        self._releasing.discard(key)
        return [] if key in self._held else [encode(key, None)]

    def _put(self, key: HoldKey, held: Held | None) -> None:
        fp, channel = key
        if held is None:
            self._held.pop(key, None)
            channels = self._by_fp.get(fp)
            if channels is not None:
                channels.discard(channel)
                if not channels:
                    del self._by_fp[fp]
            return
        self._held[key] = held
        self._by_fp.setdefault(fp, set()).add(channel)

    # ------------------------------------------------------------------ durability

    def records(self) -> list[Record]:
        """Every hold as a record, released ones still unsettled included."""
        return [encode(k, h) for k, h in self._held.items()]

    def apply(self, raw_key: bytes, raw_value: bytes | None) -> None:
        """Apply one delivery-log record (the latest per key wins); ``ValueError`` if unreadable.

        A hold restored this way is held again, whatever it was before: a release whose delivery
        had not ended is released once more (at least once)."""
        key, held = decode(raw_key, raw_value)
        self._put(key, held)
