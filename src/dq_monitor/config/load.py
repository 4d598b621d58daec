"""Loading the configuration file (FR-011): YAML (keys given once) → ``${VAR}`` expansion →
schema validation → cross-checks, every error collected by path and raised together."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dq_monitor.config.base import path_str
from dq_monitor.config.channels import CHANNEL_TYPES, channel_checks
from dq_monitor.config.document import read_document
from dq_monitor.config.expand import expand_env
from dq_monitor.config.kafka import kafka_checks
from dq_monitor.config.observe import observe_checks
from dq_monitor.config.raw import _dict, _list
from dq_monitor.config.root import Config
from dq_monitor.config.routing import routing_checks
from dq_monitor.config.sources import source_checks
from dq_monitor.errors import ConfigError


def _pydantic_errors(exc: ValidationError, raw: Any) -> list[str]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        if len(loc) >= 3 and loc[0] == "channels" and loc[2] in CHANNEL_TYPES:
            del loc[2]  # the discriminator tag pydantic inserts is not a path in the file
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "union_tag_invalid":
            msg = f"unknown channel type (expected one of {', '.join(CHANNEL_TYPES)})"
        elif err["type"] == "union_tag_not_found":
            msg = f"'type' is required (one of {', '.join(CHANNEL_TYPES)})"
        out.append(f"{path_str(loc)}: {msg}")
    return out


def _cross_checks(raw: dict[str, Any]) -> Iterator[str]:
    """Relations between fields, checked on the raw document wherever the fields are readable:
    each section's own in file order, given the other sections a check relates to."""
    kafka = _dict(raw.get("kafka"))
    yield from kafka_checks(kafka)
    yield from source_checks(_list(raw.get("sources")), kafka)
    yield from observe_checks(_list(raw.get("observe")), kafka)
    channels = _dict(raw.get("channels"))
    routing = _dict(raw.get("routing"))
    yield from routing_checks(routing, channels)
    yield from channel_checks(channels, routing)


def parse_config(
    text: str, *, env: Mapping[str, str] | None = None, file: str | None = None
) -> Config:
    """Validate a YAML document; raise ``ConfigError`` listing every problem by path."""
    env = os.environ if env is None else env
    try:
        raw, duplicates = read_document(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<root>"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{where}: {problem}"], file=file) from None
    if not isinstance(raw, dict):
        raise ConfigError(["<root>: the file must be a YAML mapping"], file=file)
    errors: list[str] = list(duplicates)
    expanded = expand_env(raw, env, errors) if "$" in text else raw
    config: Config | None = None
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc, expanded))
    errors.extend(_cross_checks(expanded))
    if errors:
        raise ConfigError(list(dict.fromkeys(errors)), file=file)
    assert config is not None
    return config


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    return read_config(path, env=env)[0]


def read_config(path: str | Path, *,
                env: Mapping[str, str] | None = None) -> tuple[Config, str]:
    """``load_config``, and the SHA-256 of the file's bytes as read (FR-025: which file a
    running process judges by, shown on the status page)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise ConfigError([f"<file>: cannot read ({exc.strerror})"], file=str(p)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"<file>: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                           f"offset {exc.start}); save the file as UTF-8"], file=str(p)) from None
    return parse_config(text, env=env, file=str(p)), hashlib.sha256(raw).hexdigest()
