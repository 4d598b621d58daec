"""The alert router: a thin Kafka loop around ``routing.dispatch`` (FR-007…FR-010, FR-021).

It reads the alert topic with its own consumer group and commits an alert's offset only once
every channel it routes to has delivered it, dead-lettered it or held it, and the delivery-log
records of that are durable, so a crash re-delivers rather than loses. A hold (silence, mute
window) is a record in the delivery log, written before the offset is committed: nothing held
pins an offset (NFR-008).

Delivery (NFR-002, FR-010): each channel has a bounded queue (``routing.queue_size``) and up to
``max_in_flight`` deliveries under way, in order per fingerprint (``routing.lanes``); a
delivery's delivery-log records are sent without waiting for the broker's answer, which is
awaited before its offset may be committed. A channel whose queue is full falls behind instead
of dropping anything: the others go on, and it reads the alert topic itself from its own
position (``dispatch.Pending``) with a consumer of its own, as fast as it delivers, until it
caught up and reads with the others again. Falling behind is loud: a WARNING per episode,
``dq_channel_backlog`` and ``dq_delivery_age_seconds`` (``routing.backlog``). Nothing is
dead-lettered but what failed its retries or was refused for good.

Delivery state (dedup entries, episodes, reminder schedule, holds) is kept per alert partition,
in a compacted delivery log co-partitioned with the alert topic. A partition gained in a
rebalance is paused until its delivery state is restored; a partition lost is forgotten, and
jobs still queued for it are dropped (its new owner delivers them from the committed offset, and
releases its holds). So only the owner of a partition delivers or reminds for it, several
routers can share the alert topic, and "resolved goes where firing went" holds across failovers.

The parts, one module each: ``base`` (state, queueing, durable writes), ``partitions``
(rebalances and restore), ``loop`` (lifecycle and reading), ``delivery`` (workers and
delivering), ``holds`` (silences, mute windows, inhibition, reminders), ``groups`` (FR-027
group notifications) and ``catchup`` (a channel that fell behind).
"""

from __future__ import annotations

from dq_monitor.routing.router.job import Job
from dq_monitor.routing.router.loop import AlertRouter

__all__ = ["AlertRouter", "Job"]
