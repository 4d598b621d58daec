"""FR-022 / FR-023: how OpenLineage datasets become sources, and the checks pipeline metadata
feeds (``run``, ``assertions``, ``schema``: on for every source, each can be turned off)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from dq_monitor.config.base import _Model
from dq_monitor.config.checks import Damping


class OpenLineageConfig(_Model):
    """The top-level ``openlineage`` section."""

    #: ``name``: a dataset is the source of its ``name`` (``shop.main.orders``);
    #: ``namespace_name``: of ``namespace/name`` (``duckdb://shop/shop.main.orders``).
    source_name: Literal["name", "namespace_name"] = "name"


def _switch(data: Any) -> Any:
    """``run: false`` is short for ``run: {enabled: false}`` (and ``true`` for the default)."""
    if isinstance(data, bool):
        return {"enabled": data}
    return data


class RunCheckConfig(Damping):
    """``run``: a FAIL or ABORT run alerts on the datasets it names (FR-023)."""

    enabled: bool = True

    _switch = model_validator(mode="before")(_switch)


class AssertionCheckConfig(Damping):
    """``assertions``: each failed data-quality assertion alerts (FR-023)."""

    enabled: bool = True

    _switch = model_validator(mode="before")(_switch)


def _schema_switch(data: Any) -> Any:
    """``schema: false`` is short for ``schema: {on_change: ignore}``."""
    if isinstance(data, bool):
        return {} if data else {"on_change": "ignore"}
    return data


class SchemaCheckConfig(Damping):
    """``schema``: columns added, removed or re-typed alert at ``on_change`` (FR-023)."""

    on_change: Literal["WARN", "FAIL", "ignore"] = "WARN"

    _switch = model_validator(mode="before")(_schema_switch)

    @property
    def enabled(self) -> bool:
        return self.on_change != "ignore"
