"""The HTTP channels' client under load (NFR-002): connections kept alive and reused, up to
``max_in_flight`` at once, and no per-request work that grows with the environment."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from functools import partial
from types import ModuleType

import anyio
import pytest
from pydantic import TypeAdapter

from dq_monitor.channels import build_channel
from dq_monitor.config import ChannelConfig
from dq_monitor.testing import HttpReceiver, Reply, make_alert


class ImportLookups(importlib.abc.MetaPathFinder):
    """Counts modules looked for on ``sys.path`` (each one a search of every entry)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        self.names.append(fullname)
        return None


@pytest.mark.req("NFR-002", "FR-008")
async def test_a_storm_reuses_a_few_kept_alive_connections_and_imports_nothing() -> None:
    async with HttpReceiver(default=Reply(200, delay=0.02)) as hook:
        cfg = TypeAdapter(ChannelConfig).validate_python(
            {"type": "webhook", "url": f"{hook.url}/x", "max_in_flight": 4})
        ch = build_channel("hook", cfg)
        alerts = [make_alert(fp=f"{i:032x}") for i in range(40)]
        try:
            await ch.send(alerts[0], repeat=False)  # the first request sets the client up
            lookups = ImportLookups()
            sys.meta_path.insert(0, lookups)
            try:
                for start in range(1, 40, 4):  # four at a time, as max_in_flight allows
                    async with anyio.create_task_group() as tg:
                        for a in alerts[start:start + 4]:
                            tg.start_soon(partial(ch.send, a, repeat=False))
            finally:
                sys.meta_path.remove(lookups)
        finally:
            await ch.aclose()
    assert len(hook.requests) == 40 and set(hook.answered) == {200}
    assert hook.connections <= 4  # kept alive, never one per alert
    assert lookups.names == []  # e.g. httpcore's per-request sniffio import, when missing
