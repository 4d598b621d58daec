"""Static group membership (NFR-001): a restarted instance takes its old place in the group at
once instead of waiting for the old member's session to time out, so a restart is blind for
less than a session timeout and the series restored from the changelog stay warm."""

from __future__ import annotations

import time

import anyio
import pytest

from tests.integration.conftest import ORDERS_REVENUE, Kafka, config_for, orders_revenue, running

pytestmark = pytest.mark.integration

#: Long enough that a join waiting out the old member's session is unmistakable.
SESSION_S = 20


@pytest.mark.req("NFR-001", "NFR-004")
async def test_a_restarted_static_member_is_ready_before_its_old_session_expires(
    kafka: Kafka,
) -> None:
    await kafka.create(kafka.topic("metrics"), partitions=2)
    cfg = config_for(kafka, ORDERS_REVENUE, inputs=("metrics",))
    cfg = cfg.model_copy(update={"kafka": cfg.kafka.model_copy(update={
        "group_instance_id": "dq-0", "session_timeout": float(SESSION_S),
        "heartbeat_interval": 2.0})})
    async with running(cfg) as first:
        for i in range(25):  # warm the series up: min_samples is 20
            await kafka.send(kafka.topic("metrics"), orders_revenue(100 + i % 3), key="orders")
        with anyio.fail_after(20):
            while first.monitor.stats["events.metric"] < 25:
                await anyio.sleep(0.05)
    began = time.monotonic()
    with anyio.fail_after(3 * SESSION_S):
        async with running(cfg) as again:
            ready_after = time.monotonic() - began
            await kafka.send(kafka.topic("metrics"), orders_revenue(10_000), key="orders")
            alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= 1)
    # Dynamic membership waits out the old member's session first (about 1.5 sessions on the
    # embedded broker): the restarted instance would be blind for longer than SESSION_S.
    assert ready_after < SESSION_S
    assert [(a["check"], a["severity"], a["status"]) for a in alerts] == [
        ("anomaly", "FAIL", "firing")]
    assert again.stats["restore.replayed"] > 0
