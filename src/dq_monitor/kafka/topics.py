"""Topic administration: create the monitor's own topics when missing, read partition counts."""

from __future__ import annotations

import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from dq_monitor.config import KafkaConfig
from dq_monitor.kafka.clients import common_kwargs

log = logging.getLogger(__name__)

COMPACT = {"cleanup.policy": "compact"}


async def partition_counts(cfg: KafkaConfig, topics: list[str]) -> dict[str, int]:
    """Partition count of each topic that exists; absent topics are left out (never created)."""
    admin = AIOKafkaAdminClient(**common_kwargs(cfg))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        present = [t for t in topics if t in existing]
        described = await admin.describe_topics(present) if present else []
        return {d["topic"]: len(d["partitions"]) for d in described if not d["error_code"]}
    finally:
        await admin.close()


async def ensure_topics(
    cfg: KafkaConfig,
    topics: dict[str, tuple[int, dict[str, str]]],
) -> None:
    """Create each ``name → (partitions, configs)`` that does not exist yet; keep existing ones."""
    admin = AIOKafkaAdminClient(**common_kwargs(cfg))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=parts, replication_factor=1, topic_configs=configs)
            for name, (parts, configs) in topics.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another instance won the race
                await admin.create_topics(missing)
            log.info("created topics: %s", ", ".join(t.name for t in missing))
    finally:
        await admin.close()
