"""What every section shares: the model base (unknown keys are errors, models are frozen), list
coercion, and how a location in the file is written in an error (``sources[2].anomaly.window``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )


def path_str(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """``('sources', 2, 'anomaly', 'window')`` → ``sources[2].anomaly.window``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"
