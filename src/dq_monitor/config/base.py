"""What every section shares: the model base (unknown keys are errors, models are frozen), list
coercion, and how a location in the file is written in an error (``sources[2].anomaly.window``)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Self

from pydantic import BaseModel, ConfigDict


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Self:
        """A copy whose derived views (every ``cached_property``) follow its own fields:
        pydantic copies them as they were computed on the original."""
        copied = super().model_copy(update=update, deep=deep)
        for cls in type(self).__mro__:
            for name, attr in vars(cls).items():
                if isinstance(attr, cached_property):
                    copied.__dict__.pop(name, None)
        return copied


def path_str(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """``('sources', 2, 'anomaly', 'window')`` → ``sources[2].anomaly.window``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"
