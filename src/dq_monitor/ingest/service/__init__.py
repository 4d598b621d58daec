"""The monitor as a Kafka service: input topics → Monitor → alert topic, at least once (NFR-004).

One loop: fetch a batch, feed the core, run due timers and send its alerts and dead letters at
once. Every ``kafka.commit_interval``, or sooner once ``kafka.commit_records`` input records
have been read (a large fleet's checkpoint may wait longer: ``ingest.cadence``), a
checkpoint waits until those are acknowledged, sends the changed state, and commits the input
offsets only once that state is acknowledged too; the loop goes on judging while
acknowledgements and commits are under way (NFR-002). A crash at any point
re-does work on restart (the same alert may be written twice, with the same fingerprint), never
loses it. Broker outages are waited out with backoff; nothing is dropped.

The parts, one module each: ``base`` (state, record types), ``publish`` (writes at least
once), ``checkpoints`` (state, snapshot cycles, offsets), ``restore`` (partitions gained),
``process`` (decoding and judging batches) and ``loop`` (the lifecycle).
"""

from __future__ import annotations

from dq_monitor.ingest.service.base import Record, StateRestoreError, utc_now
from dq_monitor.ingest.service.loop import MonitorService

__all__ = ["MonitorService", "Record", "StateRestoreError", "utc_now"]
