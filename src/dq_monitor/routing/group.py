"""Alert groups (FR-027) as plain code: one notification per group and channel, ``now`` passed in.

A group is (route, channel, the values of the route's ``group_by`` fields) and is named by its
``group_key``, a stable digest of those (the PagerDuty ``dedup_key`` of its incident). The rules:

* a group's first notification waits ``group_wait`` from its first firing alert and lists every
  alert of the group firing then; with ``group_wait: 0s`` it is due at once, so the first alert
  of an incident still meets NFR-002;
* later changes (an alert joins, escalates or resolves) are batched into one update, at most one
  per ``group_interval`` after the last notification;
* when the last alert of a notified group resolves, one resolved notification, then the group
  is gone; a group whose alerts all resolved before its first notification sends nothing;
* reminders are per group: every ``dedup_window`` after the last notification while an alert
  fires, unless the group was acknowledged; an escalation (an alert of the group reaching a
  higher severity than it had when acknowledged) clears the acknowledgement and pages again.

Nothing held pins an offset (NFR-008): every change of a group returns its record for the
router's compacted delivery log, written before the alert's offset is committed, and ``apply``
rebuilds the groups from those records after a restart or on the next owner. A notification is
marked sent (``delivered``) only after its channel accepted it, so a crash in between sends it
again (at least once), never loses it.

Bounded: a group keeps the alerts firing in it plus those resolved since its last notification.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from dq_monitor.channels.grouped import Kind, Notification
from dq_monitor.config import valid_field as valid_field
from dq_monitor.events import Alert
from dq_monitor.routing.hold import SEP, Record

#: Key prefix of a group on the delivery log (a dedup key starts with a fingerprint).
PREFIX = f"{SEP}group{SEP}"
_RANK = {"WARN": 1, "FAIL": 2}


def field_value(alert: Alert, name: str) -> str:
    """The value of ``group_by`` field ``name`` for ``alert`` (``""`` when it has none)."""
    if name.startswith("labels."):
        return (alert.labels or {}).get(name.removeprefix("labels."), "")
    value = getattr(alert, name)
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """How one route groups on one channel (the route's overrides of ``routing`` applied)."""

    route: int
    channel: str
    group_by: tuple[str, ...]
    wait: float
    interval: float


def group_key(spec: GroupSpec, alert: Alert) -> tuple[str, dict[str, str]]:
    """The key of the group ``alert`` belongs to under ``spec``, and the values that name it."""
    values = {name: field_value(alert, name) for name in spec.group_by}
    raw = orjson.dumps([spec.route, spec.channel, sorted(values.items())])
    return hashlib.sha256(raw).hexdigest()[:32], values


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledgement: reminders stop until the group resolves or escalates."""

    by: str
    comment: str
    at: float
    #: The group's highest severity when acknowledged: a higher one is an escalation.
    severity: str


@dataclass(slots=True)
class Group:
    key: str
    channel: str
    values: dict[str, str]
    #: fingerprint → the latest alert (firing, or resolved and not yet notified).
    alerts: dict[str, Alert] = field(default_factory=dict)
    #: When the next notification is due; ``None`` when nothing changed since the last one.
    due: float | None = None
    #: When the last notification was accepted; ``None`` before the first.
    last_sent: float | None = None
    #: Fingerprints already carried by a notification.
    carried: set[str] = field(default_factory=set)
    ack: Ack | None = None
    interval: float = 0.0
    #: When the monitor detected each alert not yet carried (NFR-002 is measured to its first
    #: notification).
    triggered: dict[str, float] = field(default_factory=dict)
    #: When the group began (an acknowledgement older than that is of an earlier incident).
    since: float = 0.0

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.status == "firing"]

    def severity(self) -> str:
        return max((a.severity for a in self.firing()), key=_RANK.__getitem__, default="WARN")


class Groups:
    """The groups of one router's share of alerts (see the module docstring)."""

    def __init__(self, dedup_window: float) -> None:
        self.dedup_window = dedup_window
        self._groups: dict[str, Group] = {}
        #: (fingerprint, channel) → the group key it is in, so a moved alert leaves its old group.
        self._member: dict[tuple[str, str], str] = {}
        #: Notifications handed out and not yet delivered or failed: not handed out again.
        self._sending: set[str] = set()

    def __len__(self) -> int:
        return len(self._groups)

    def get(self, key: str) -> Group | None:
        return self._groups.get(key)

    def group_of(self, fingerprint: str, channel: str) -> Group | None:
        key = self._member.get((fingerprint, channel))
        return None if key is None else self._groups.get(key)

    # ------------------------------------------------------------------ changes

    def observe(self, spec: GroupSpec, alert: Alert, now: float,
                triggered_at: float | None = None) -> list[Record]:
        """``alert`` reached ``spec``'s channel; returns the records to persist."""
        key, values = group_key(spec, alert)
        member = alert.fingerprint, spec.channel
        records: list[Record] = []
        old = self._member.get(member)
        if old is not None and old != key:  # its group_by values changed: it leaves the old one
            records += self._leave(old, alert.fingerprint, now)
        group = self._groups.get(key)
        if group is None:
            if alert.status != "firing":
                return records  # the recovery of an alert no group holds: nothing to tell
            group = self._groups[key] = Group(key, spec.channel, values, interval=spec.interval,
                                              since=now)
        group.interval = spec.interval
        prior = group.alerts.get(alert.fingerprint)
        if alert.status == "resolved" and (prior is None or alert.fingerprint not in group.carried):
            # resolved before any notification carried it: nobody was told, nobody needs to be
            group.alerts.pop(alert.fingerprint, None)
            group.triggered.pop(alert.fingerprint, None)
            self._member.pop(member, None)
            if not group.alerts:
                return records + self._drop(group)
            return [*records, self._record(group)]
        group.alerts[alert.fingerprint] = alert
        self._member[member] = key
        if triggered_at is not None and alert.status == "firing" \
                and alert.fingerprint not in group.carried:
            group.triggered.setdefault(alert.fingerprint, triggered_at)
        if prior is not None and prior.status == alert.status \
                and prior.severity == alert.severity:
            return [*records, self._record(group)]  # nothing new to tell
        if group.ack is not None and alert.status == "firing" \
                and _RANK[alert.severity] > _RANK[group.ack.severity]:
            group.ack = None  # an escalation pages again
        if group.due is None:
            group.due = now + spec.wait if group.last_sent is None else max(
                now, group.last_sent + spec.interval)
        return [*records, self._record(group)]

    def _leave(self, key: str, fingerprint: str, now: float) -> list[Record]:
        group = self._groups.get(key)
        if group is None or fingerprint not in group.alerts:
            return []
        alert = group.alerts[fingerprint]
        if fingerprint in group.carried and alert.status == "firing":
            # it is no longer in this group: the group's next update shows it gone as resolved
            group.alerts[fingerprint] = alert.model_copy(update={"status": "resolved"})
            if group.due is None:
                group.due = now if group.last_sent is None else max(
                    now, group.last_sent + group.interval)
        else:
            del group.alerts[fingerprint]
        if not group.alerts:
            return self._drop(group)
        return [self._record(group)]

    def acknowledge(self, fingerprint: str, by: str, comment: str, now: float,
                    ) -> tuple[list[Group], list[Record]]:
        """Acknowledge every group ``fingerprint`` fires in; the groups and their records. An
        acknowledgement made (``now``) before a group began is of an earlier incident."""
        groups = [g for (fp, _), k in self._member.items()
                  if fp == fingerprint and (g := self._groups.get(k)) is not None
                  and fingerprint in g.alerts and g.alerts[fingerprint].status == "firing"
                  and g.since <= now
                  and (g.ack is None or g.ack.at < now)]
        for group in groups:
            group.ack = Ack(by, comment, now, group.severity())
        return groups, [self._record(g) for g in groups]

    # ------------------------------------------------------------------ notifications

    def due(self, now: float) -> list[Notification]:
        """Notifications due at ``now`` (each group at most once until it is delivered or
        failed): first notifications, batched updates, resolutions and reminders."""
        out = []
        for group in self._groups.values():
            if group.key in self._sending:
                continue
            kind: Kind | None = None
            firing = group.firing()
            if group.due is not None and group.due <= now:
                kind = (Kind.FIRST if group.last_sent is None
                        else Kind.UPDATE if firing else Kind.RESOLVED)
            elif (firing and group.ack is None and group.last_sent is not None
                  and now >= group.last_sent + self.dedup_window):
                kind = Kind.REMINDER
            if kind is None:
                continue
            alerts = ([*firing, *(a for a in group.alerts.values() if a.status != "firing")]
                      if kind is not Kind.REMINDER else firing)
            news = tuple(a.fingerprint for a in firing if a.fingerprint not in group.carried)
            self._sending.add(group.key)
            out.append(Notification(group.key, group.channel, kind,
                                    "firing" if firing else "resolved", tuple(alerts),
                                    dict(group.values), news))
        return out

    def triggered_at(self, note: Notification) -> dict[str, float]:
        """When each alert ``note`` carries for the first time was detected (if known)."""
        group = self._groups.get(note.group_key)
        if group is None:
            return {}
        return {fp: group.triggered[fp] for fp in note.news if fp in group.triggered}

    def delivered(self, note: Notification, now: float) -> list[Record]:
        """``note``'s channel accepted it (or gave it up for good): the group moves on."""
        self._sending.discard(note.group_key)
        group = self._groups.get(note.group_key)
        if group is None:
            return []
        for fp in note.news:
            group.triggered.pop(fp, None)
        sent = {a.fingerprint: a for a in note.alerts}
        changed = any(sent.get(fp) != a for fp, a in group.alerts.items())
        for alert in note.alerts:
            current = group.alerts.get(alert.fingerprint)
            if alert.status == "firing":
                group.carried.add(alert.fingerprint)
            elif current is not None and current.status == "resolved":
                del group.alerts[alert.fingerprint]
                group.carried.discard(alert.fingerprint)
                if self._member.get((alert.fingerprint, group.channel)) == group.key:
                    del self._member[alert.fingerprint, group.channel]
        group.last_sent = now
        if note.kind is not Kind.REMINDER:
            group.due = now + group.interval if changed else None
        if not group.alerts:
            return self._drop(group)
        return [self._record(group)]

    def failed(self, note: Notification) -> None:
        """``note`` could not be handed to its channel now: it is due again at the next look."""
        self._sending.discard(note.group_key)

    def next_due(self) -> float | None:
        """When ``due`` next has something (for the router's timer)."""
        times = []
        for g in self._groups.values():
            if g.due is not None:
                times.append(g.due)
            elif g.firing() and g.ack is None and g.last_sent is not None:
                times.append(g.last_sent + self.dedup_window)
        return min(times, default=None)

    def _drop(self, group: Group) -> list[Record]:
        self._groups.pop(group.key, None)
        self._sending.discard(group.key)
        for fp in list(group.alerts) + list(group.carried):
            if self._member.get((fp, group.channel)) == group.key:
                del self._member[fp, group.channel]
        return [(encode_key(group.key), None)]

    # ------------------------------------------------------------------ durability

    def _record(self, group: Group) -> Record:
        return encode(group)

    def records(self) -> list[Record]:
        return [encode(g) for g in self._groups.values()]

    def apply(self, raw_key: bytes, raw_value: bytes | None) -> None:
        """Apply one delivery-log record (the latest per key wins); ``ValueError`` if
        unreadable. A notification handed out but not delivered before a restart is due again."""
        key, group = decode(raw_key, raw_value)
        old = self._groups.pop(key, None)
        if old is not None:
            for fp in old.alerts:
                if self._member.get((fp, old.channel)) == key:
                    del self._member[fp, old.channel]
        if group is not None:
            self._groups[key] = group
            for fp, alert in group.alerts.items():
                if alert.status == "firing" or (fp, group.channel) not in self._member:
                    self._member[fp, group.channel] = key

    def load(self, records: Iterable[Record]) -> None:
        for raw_key, raw_value in records:
            self.apply(raw_key, raw_value)


def encode_key(key: str) -> bytes:
    return f"{PREFIX}{key}".encode()


def is_group_key(raw_key: bytes) -> bool:
    return raw_key.startswith(PREFIX.encode())


def encode(group: Group) -> Record:
    ack = None if group.ack is None else {
        "by": group.ack.by, "comment": group.ack.comment, "at": group.ack.at,
        "severity": group.ack.severity}
    value = {
        "channel": group.channel, "values": group.values, "due": group.due,
        "last_sent": group.last_sent, "carried": sorted(group.carried), "ack": ack,
        "interval": group.interval, "since": group.since, "triggered": group.triggered,
        "alerts": [a.model_dump(mode="json") for a in group.alerts.values()],
    }
    return encode_key(group.key), orjson.dumps(value)


def decode(raw_key: bytes, raw_value: bytes | None) -> tuple[str, Group | None]:
    """Inverse of ``encode``; raises ``ValueError`` for a record it cannot read (NFR-006)."""
    try:
        key = raw_key.decode().removeprefix(PREFIX)
    except UnicodeDecodeError:
        raise ValueError(f"bad group key {raw_key[:200]!r}") from None
    if raw_value is None:
        return key, None
    try:
        v = orjson.loads(raw_value)
        alerts = [Alert.model_validate(a) for a in v["alerts"]]
        ack = v["ack"]
        group = Group(
            key=key, channel=_str(v["channel"]),
            values={_str(k): _str(x) for k, x in v["values"].items()},
            alerts={a.fingerprint: a for a in alerts},
            due=_num(v["due"]), last_sent=_num(v["last_sent"]),
            carried={_str(fp) for fp in v["carried"]},
            ack=None if ack is None else Ack(_str(ack["by"]), _str(ack["comment"]),
                                             float(ack["at"]), _severity(ack["severity"])),
            interval=float(v["interval"]), since=float(v.get("since", 0.0)),
            triggered={_str(fp): float(t) for fp, t in v.get("triggered", {}).items()},
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError,
            ValidationError) as exc:
        raise ValueError(f"bad group value for {key!r}: {type(exc).__name__}") from None
    return key, group


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _num(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected a number")
    return float(value)


def _severity(value: object) -> str:
    if value not in _RANK:
        raise ValueError("unknown severity")
    return str(value)


def encode_member(spec: GroupSpec, alert: Alert, triggered_at: float | None) -> Record:
    """The record that re-keys ``alert`` onto the groups topic: key = its group key, so every
    alert of a group reaches the one router that owns the group key's partition."""
    key, _ = group_key(spec, alert)
    value = {"route": spec.route, "channel": spec.channel, "group_by": list(spec.group_by),
             "wait": spec.wait, "interval": spec.interval, "alert": alert.wire(),
             "triggered_at": triggered_at}
    return key.encode(), orjson.dumps(value)


def decode_member(raw: bytes | None) -> tuple[GroupSpec, Alert, float | None]:
    """Inverse of ``encode_member``; ``ValueError`` for a record it cannot read (NFR-006)."""
    try:
        v = orjson.loads(raw or b"")
        by = tuple(_str(f) for f in v["group_by"])
        if not all(valid_field(f) for f in by):
            raise ValueError("unknown group_by field")
        route = v["route"]
        if isinstance(route, bool) or not isinstance(route, int):
            raise TypeError("route must be an integer")
        wait, interval = _num(v["wait"]), _num(v["interval"])
        if wait is None or interval is None or wait < 0 or interval <= 0:
            raise ValueError("bad group timing")
        spec = GroupSpec(route, _str(v["channel"]), by, wait, interval)
        return spec, Alert.model_validate(v["alert"]), _num(v.get("triggered_at"))
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError,
            ValidationError) as exc:
        raise ValueError(f"bad group member record: {type(exc).__name__}") from None
