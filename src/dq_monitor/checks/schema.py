"""FR-023 ``schema``: a source's column set and types against the last schema seen.

The first schema seen is the baseline and never alerts. A schema that differs (columns added,
removed or re-typed; types compared without regard to case) gives a verdict at
``schema.on_change`` naming each change, and becomes the new baseline; the next observation
with that same schema gives OK, which resolves the alert.
"""

from __future__ import annotations

from dq_monitor.checks.verdict import FAIL, OK, WARN, Verdict
from dq_monitor.config import SchemaCheckConfig
from dq_monitor.formats.observation import Schema

#: Changes named one by one in an alert's detail; the rest are counted.
MAX_NAMED_CHANGES = 20


def schema_changes(baseline: Schema, schema: Schema) -> list[str]:
    """Each difference as a phrase: ``added discount (DOUBLE)``, ``removed email``,
    ``amount re-typed INTEGER → BIGINT``; in the new schema's column order, removals last."""
    old = {name: kind for name, kind in baseline}
    new = {name: kind for name, kind in schema}
    changes: list[str] = []
    for name, kind in schema:
        before = old.get(name)
        if before is None and name not in old:
            changes.append(f"added {name} ({kind or 'no type'})")
        elif (before or "").lower() != (kind or "").lower():
            changes.append(f"{name} re-typed {before or 'no type'} → {kind or 'no type'}")
    changes += [f"removed {name}" for name, _ in baseline if name not in new]
    return changes


def evaluate_schema(source: str, cfg: SchemaCheckConfig, baseline: Schema | None,
                    schema: Schema) -> Verdict | None:
    """The verdict on ``schema`` against ``baseline``; None for the first schema seen (or with
    ``on_change: ignore``)."""
    if baseline is None or not cfg.enabled:
        return None
    changes = schema_changes(baseline, schema)
    if not changes:
        return Verdict("schema", source, None, OK, 0.0, 0.0,
                       f"{source} schema unchanged ({len(schema)} columns)")
    named = "; ".join(changes[:MAX_NAMED_CHANGES])
    if len(changes) > MAX_NAMED_CHANGES:
        named += f"; and {len(changes) - MAX_NAMED_CHANGES} more"
    severity = FAIL if cfg.on_change == "FAIL" else WARN
    return Verdict("schema", source, None, severity, float(len(changes)), 0.0,
                   f"{source} schema changed: {named}")
