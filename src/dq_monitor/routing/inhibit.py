"""Inhibition (FR-027) as plain code: which firing alert keeps another from being delivered.

Two kinds, decided the same way for every alert the router is about to deliver:

* a rule of ``routing.inhibit``: while an alert matching the rule's ``source`` fires, an alert
  matching its ``target`` whose ``equal`` fields have the same values is inhibited (an alert
  never inhibits itself);
* lineage (``inhibit_downstream``): while a source has a firing ``freshness`` or ``run`` alert,
  the alerts of every source downstream of it are inhibited, transitively. Two sources each
  downstream of the other (a cycle in the lineage) do not inhibit each other, so a cycle never
  silences every alert of an incident.

An inhibited delivery is held like a silenced one (``routing.hold``): when the inhibiting alert
resolves, an inhibited alert still firing is delivered then. ``Inhibitor`` is fed every alert of
the deployment (the firing view every router follows), not only the router's own partitions,
since the inhibiting alert may sit on another partition.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson

from dq_monitor.config import InhibitRule
from dq_monitor.events import Alert
from dq_monitor.routing.group import field_value
from dq_monitor.routing.match import matches

#: The checks whose firing alert on a source inhibits the alerts of the sources downstream.
ROOT_CHECKS = frozenset({"freshness", "run"})
#: Names a blast radius lists before it says how many more there are.
BLAST_NAMES = 10


class Lineage:
    """The lineage graph: each source's direct upstream sources (from ``upstream`` in the config
    and from learned OpenLineage runs); immutable, closures computed once per source."""

    def __init__(self, upstream: Mapping[str, Iterable[str]] | None = None) -> None:
        self._up: dict[str, frozenset[str]] = {
            s: frozenset(u for u in ups if u != s) for s, ups in (upstream or {}).items()}
        down: dict[str, set[str]] = {}
        for source, ups in self._up.items():
            for u in ups:
                down.setdefault(u, set()).add(source)
        self._down = {s: frozenset(d) for s, d in down.items()}
        self._closures: dict[tuple[str, bool], frozenset[str]] = {}

    @classmethod
    def merged(cls, *graphs: Mapping[str, Iterable[str]]) -> Lineage:
        """One graph of several (the config's ``upstream`` and the learned edges)."""
        out: dict[str, set[str]] = {}
        for graph in graphs:
            for source, ups in graph.items():
                out.setdefault(source, set()).update(ups)
        return cls(out)

    def upstream(self, source: str) -> frozenset[str]:
        """Every source ``source`` is built from, transitively (``source`` itself excluded)."""
        return self._closure(source, up=True)

    def downstream(self, source: str) -> frozenset[str]:
        """Every source built from ``source``, transitively (its blast radius)."""
        return self._closure(source, up=False)

    def _closure(self, source: str, *, up: bool) -> frozenset[str]:
        cached = self._closures.get((source, up))
        if cached is not None:
            return cached
        edges = self._up if up else self._down
        seen: set[str] = set()
        todo = deque(edges.get(source, ()))
        while todo:
            s = todo.popleft()
            if s in seen or s == source:
                continue
            seen.add(s)
            todo.extend(edges.get(s, ()))
        out = self._closures[source, up] = frozenset(seen)
        return out


def blast_radius(lineage: Lineage, source: str) -> str | None:
    """``"3 downstream: a, b, c"``: what an upstream alert's notification names; ``None`` when
    nothing is downstream of ``source``."""
    names = sorted(lineage.downstream(source))
    if not names:
        return None
    shown = ", ".join(names[:BLAST_NAMES])
    more = len(names) - BLAST_NAMES
    return f"{len(names)} downstream: {shown}" + (f" and {more} more" if more > 0 else "")


#: Key prefix of a source's own record in the monitor's changelog (its state, ``upstream``
#: included: ``[[source, job, last_seen], ...]``).
_SOURCE_KEY = b"src\x1f"


class LearnedLineage:
    """Lineage learned from OpenLineage runs, as the monitor checkpoints it: the router follows
    the changelog's source records (each output source's ``upstream``), so what one instance
    learned is known to every router, and survives restarts with the changelog."""

    def __init__(self) -> None:
        self._up: dict[str, frozenset[str]] = {}
        self.version = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One changelog record; anything but a readable source record is ignored (NFR-006)."""
        if key is None or not key.startswith(_SOURCE_KEY):
            return
        try:
            source = key[len(_SOURCE_KEY):].decode()
        except UnicodeDecodeError:
            return
        ups: frozenset[str] = frozenset()
        if value is not None:
            try:
                raw = orjson.loads(value).get("upstream", [])
                ups = frozenset(e[0] for e in raw if isinstance(e, list) and e
                                and isinstance(e[0], str))
            except (orjson.JSONDecodeError, AttributeError, TypeError):
                return
        if self._up.get(source, frozenset()) == ups:
            return
        if ups:
            self._up[source] = ups
        else:
            self._up.pop(source, None)
        self.version += 1

    def graph(self) -> dict[str, frozenset[str]]:
        return dict(self._up)


@dataclass(frozen=True, slots=True)
class Inhibition:
    """Why an alert is inhibited: the firing alert that inhibits it, and by what."""

    fingerprint: str
    source: str
    check: str
    #: ``"lineage"`` or ``"rule N"`` (its index in ``routing.inhibit``).
    by: str

    def wire(self) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "source": self.source, "check": self.check,
                "by": self.by}


class Inhibitor:
    """The firing alerts of the deployment and the inhibition they cause."""

    def __init__(self, rules: Sequence[InhibitRule] = (), lineage: Lineage | None = None, *,
                 downstream: bool = True) -> None:
        self.rules = list(rules)
        self.lineage = lineage if lineage is not None else Lineage()
        self.downstream = downstream
        self._firing: dict[str, Alert] = {}
        #: source → fingerprints of its firing freshness/run alerts.
        self._roots: dict[str, set[str]] = {}

    def configure(self, rules: Sequence[InhibitRule], *, downstream: bool) -> None:
        """A reload (FR-025) changed the rules."""
        self.rules, self.downstream = list(rules), downstream

    def set_lineage(self, lineage: Lineage) -> None:
        self.lineage = lineage

    def observe(self, alert: Alert) -> None:
        """Follow the firing state of ``alert``'s fingerprint."""
        fp = alert.fingerprint
        old = self._firing.pop(fp, None)
        if old is not None and old.check in ROOT_CHECKS:
            roots = self._roots.get(old.source)
            if roots is not None:
                roots.discard(fp)
                if not roots:
                    del self._roots[old.source]
        if alert.status == "firing":
            self._firing[fp] = alert
            if alert.check in ROOT_CHECKS:
                self._roots.setdefault(alert.source, set()).add(fp)

    def firing(self) -> list[Alert]:
        return list(self._firing.values())

    def inhibited_by(self, alert: Alert) -> Inhibition | None:
        """The firing alert that inhibits ``alert`` now, if any (lineage first, then the rules
        in order; among several, the smallest fingerprint, so every router names the same)."""
        if self.downstream:
            ups = self.lineage.upstream(alert.source) & self._roots.keys()
            candidates = [
                fp for up in ups if alert.source not in self.lineage.upstream(up)
                for fp in self._roots[up] if fp != alert.fingerprint]
            if candidates:
                root = self._firing[min(candidates)]
                return Inhibition(root.fingerprint, root.source, root.check, "lineage")
        for i, rule in enumerate(self.rules):
            if not matches(rule.target, alert):
                continue
            wanted = [field_value(alert, f) for f in rule.equal]
            hits = [fp for fp, src in self._firing.items()
                    if fp != alert.fingerprint and matches(rule.source, src)
                    and [field_value(src, f) for f in rule.equal] == wanted]
            if hits:
                src = self._firing[min(hits)]
                return Inhibition(src.fingerprint, src.source, src.check, f"rule {i}")
        return None
